import { blockHash } from '../codec/chain.js'
import type { CommitMsg, PrePrepareMsg, PreparedCert, PrepareMsg, RejectMsg } from '../codec/consensus.js'
import type { Block, CommitCertificate } from '../codec/types.js'
import { toHex } from '../crypto/hash.js'
import { VoteTable } from './vote-table.js'

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

  pruneViewsBelow(minView: number): void {
    this.prepares.pruneViewsBelow(minView)
    this.commits.pruneViewsBelow(minView)
    this.rejects.pruneViewsBelow(minView)
    for (const v of this.prePrepares.keys()) if (v < minView) this.prePrepares.delete(v)
    const keep = new Set<string>()
    for (const pp of this.prePrepares.values()) keep.add(toHex(blockHash(pp.block.header)))
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
