import { blockHash } from '../codec/chain.js'
import type {
  CommitMsg,
  PrePrepareMsg,
  PreparedCert,
  PrepareMsg,
  RejectMsg,
  WalRecord,
} from '../codec/consensus.js'
import type { Block, CommitCertificate } from '../codec/types.js'
import { toHex } from '../crypto/hash.js'
import { type AddResult, VoteTable } from './vote-table.js'

/** The hex block hash: the key of `HeightSlot.blocks` and of every digest the slot records. */
export function hashHex(block: Block): string {
  return toHex(blockHash(block.header))
}

/**
 * The message log for one height inside the watermarks (last final + 1 .. last final + K). Everything
 * here is dropped when that height becomes final: the final block and its certificate are the stable
 * checkpoint (§4.3).
 */
export class HeightSlot {
  /** blocks seen in valid PRE-PREPAREs for this height, by hash hex */
  readonly blocks = new Map<string, Block>()
  /** the first valid PRE-PREPARE per view (a second one is the primary's equivocation) */
  readonly prePrepares = new Map<number, PrePrepareMsg>()
  /** view -> digest this replica accepted (validated) in that view: §4.2 "no other digest for (v, n)" */
  readonly accepted = new Map<number, string>()
  /** views whose proposal this replica found invalid and rejected */
  readonly rejectedByMe = new Set<number>()
  readonly prepares = new VoteTable<PrepareMsg>()
  readonly commits = new VoteTable<CommitMsg>()
  readonly rejects = new VoteTable<RejectMsg>()
  /** the highest-view prepared certificate of this replica (goes into its VIEW-CHANGE, §4.4) */
  prepared: PreparedCert | null = null
  /** what this replica signed here, per view (never sign a conflicting one, also after a restart) */
  readonly sentPrePrepare = new Map<number, PrePrepareMsg>()
  readonly myPrepare = new Map<number, string>()
  readonly myCommit = new Map<number, string>()
  /** a commit certificate completed while a lower height is not final yet (finalized in order) */
  certified: { readonly block: Block; readonly certificate: CommitCertificate } | null = null

  constructor(readonly height: number) {}

  /**
   * §4.2: logs the first valid PRE-PREPARE of its view (`hash`: its block's); a second one with
   * another block is the primary's equivocation and is reported, not stored.
   */
  addPrePrepare(pp: PrePrepareMsg, hash: string): AddResult<PrePrepareMsg> {
    const existing = this.prePrepares.get(pp.view)
    if (existing !== undefined) {
      return hashHex(existing.block) === hash ? { status: 'duplicate' } : { status: 'conflict', existing }
    }
    this.logPrePrepare(pp, hash)
    return { status: 'new' }
  }

  /** Logs a PRE-PREPARE and its block (replacing an earlier one of its view: a NEW-VIEW's O). */
  logPrePrepare(pp: PrePrepareMsg, hash: string): void {
    this.prePrepares.set(pp.view, pp)
    this.blocks.set(hash, pp.block)
  }

  /** This replica's own PRE-PREPARE as primary: logged, and accepted without validating its own block. */
  recordOwnPrePrepare(pp: PrePrepareMsg, hash: string): void {
    this.sentPrePrepare.set(pp.view, pp)
    this.logPrePrepare(pp, hash)
    this.accepted.set(pp.view, hash)
  }

  /** This replica's own PREPARE for digest `hash` (§4.2): never a second one in its view. */
  recordOwnPrepare(prepare: PrepareMsg, hash: string): void {
    this.myPrepare.set(prepare.view, hash)
    this.prepares.add(prepare)
  }

  /** This replica's own COMMIT for digest `hash`, sent once `prepared` held (§4.2). */
  recordOwnCommit(commit: CommitMsg, hash: string, prepared: PreparedCert): void {
    this.notePrepared(prepared)
    this.myCommit.set(commit.view, hash)
    this.commits.add(commit)
  }

  /** Keeps the highest-view prepared certificate: the one a VIEW-CHANGE carries (§4.4 P). */
  notePrepared(prepared: PreparedCert): void {
    if (this.prepared === null || this.prepared.view < prepared.view) this.prepared = prepared
  }

  /**
   * The digest this replica holds here in `view`: the block it prepared (sent COMMIT for), or the one
   * it accepted (for its own proposals as primary). The pipelining chain rule links these per view.
   */
  heldIn(view: number, by: 'prepared' | 'accepted'): string | undefined {
    return by === 'prepared' ? this.myCommit.get(view) : this.accepted.get(view)
  }

  /** Re-logs a vote this replica signed here before a restart, from its WAL record. */
  restoreOwnVote(rec: WalRecord): void {
    if (rec.kind === 'preprepare') {
      this.recordOwnPrePrepare(rec.msg, hashHex(rec.msg.block))
    } else if (rec.kind === 'prepare') {
      const h = toHex(rec.msg.blockHash)
      this.prePrepares.set(rec.msg.view, rec.prePrepare)
      this.blocks.set(h, rec.prePrepare.block)
      this.accepted.set(rec.msg.view, h)
      this.recordOwnPrepare(rec.msg, h)
    } else if (rec.kind === 'reject') {
      this.rejectedByMe.add(rec.msg.view)
      this.rejects.add(rec.msg)
    } else if (rec.kind === 'commit' && rec.prepared.block !== null) {
      const h = toHex(rec.msg.blockHash)
      this.blocks.set(h, rec.prepared.block)
      this.accepted.set(rec.msg.view, h)
      this.recordOwnCommit(rec.msg, h, rec.prepared)
    }
  }

  pruneViewsBelow(minView: number): void {
    this.prepares.pruneViewsBelow(minView)
    this.commits.pruneViewsBelow(minView)
    this.rejects.pruneViewsBelow(minView)
    for (const v of this.prePrepares.keys()) if (v < minView) this.prePrepares.delete(v)
    const keep = new Set<string>()
    for (const pp of this.prePrepares.values()) keep.add(hashHex(pp.block))
    for (const h of this.accepted.values()) keep.add(h)
    if (this.prepared !== null) keep.add(toHex(this.prepared.blockHash))
    if (this.certified !== null) keep.add(toHex(this.certified.certificate.blockHash))
    for (const h of this.blocks.keys()) if (!keep.has(h)) this.blocks.delete(h)
  }

  get size(): number {
    return (
      this.prePrepares.size + this.prepares.size + this.commits.size + this.rejects.size + this.blocks.size
    )
  }
}
