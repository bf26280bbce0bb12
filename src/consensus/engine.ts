import { verifyCertificate } from '../chain/certificate.js'
import type { Validator } from '../chain/validators.js'
import { blockHash, commitVoteSignBytes } from '../codec/chain.js'
import {
  type CommitMsg,
  type ConsensusMessage,
  type NewViewMsg,
  newViewSignBytes,
  type PrePrepareMsg,
  type PreparedCert,
  type PrepareMsg,
  prePrepareSignBytes,
  prepareSignBytes,
  type RejectMsg,
  rejectSignBytes,
  stripViewChange,
  type ViewChangeMsg,
  viewChangeSignBytes,
  type WalRecord,
} from '../codec/consensus.js'
import { MAX_PIPELINE_DEPTH, MAX_REASON_BYTES, truncateUtf8 } from '../codec/limits.js'
import type { Block, BlockHeader, CommitCertificate } from '../codec/types.js'
import { bytesEqual, toHex } from '../crypto/hash.js'
import { HeightSlot } from './height-slot.js'
import { computeNewViewProposal, linkedPrefix, type NewViewProposal } from './new-view.js'
import type {
  EngineAction,
  EngineConfig,
  EngineDeps,
  EngineEvent,
  EngineInit,
  EnginePhase,
  EngineStatus,
  Evidence,
} from './types.js'
import { verifyConsensusMessage } from './verify.js'

/** Votes of views this far below the current one are dropped (sync covers what they could finish). */
const VIEWS_KEPT_BEHIND = 3
/** Messages for views this far ahead are dropped; VIEW-CHANGE/NEW-VIEW bring a replica forward. */
const VIEWS_KEPT_AHEAD = 8
const MAX_EVIDENCE = 64

interface TimerState {
  /** 'resume' is a 0 ms timer: validation deferred until the driver has applied a commit */
  readonly kind: 'progress' | 'viewchange' | 'resume'
  readonly view: number
  readonly height: number
}

/**
 * The constraint a NEW-VIEW puts on its view (§4.4): the re-proposals O at their heights, nothing
 * accepted below its start, and fresh proposals only from `freeFrom` on.
 */
interface NewViewState {
  readonly view: number
  /** heights below this are closed in `view` (they are final: the NEW-VIEW's checkpoint) */
  readonly start: number
  /** O: the re-proposed PRE-PREPARE per height (start .. freeFrom - 1 when known) */
  readonly fixed: ReadonlyMap<number, PrePrepareMsg>
  /** the first height where the primary of `view` may propose a fresh block */
  readonly freeFrom: number
}

function hashHex(block: Block): string {
  return toHex(blockHash(block.header))
}

function recordHeight(rec: WalRecord): number {
  switch (rec.kind) {
    case 'preprepare':
    case 'prepare':
    case 'commit':
      return rec.msg.height
    case 'viewchange':
      return rec.msg.checkpointHeight
    case 'newview':
      return 0
  }
}

/**
 * PBFT (Castro & Liskov, OSDI'99 / TOCS'02) for a chain, as a pure state machine: `step(event)`
 * returns the actions the driver must carry out, in order. Sequence number = block height; the heights
 * inside the watermarks [final + 1, final + K] are agreed at once (pipelining), blocks are final in
 * height order. No I/O, no clock, no randomness.
 *
 * The pipelining rule (docs/CONSENSUS.md, "Pipelining"): a replica accepts a PRE-PREPARE for h in view
 * v only when h - 1 is final or prepared by itself in v with the block's parent, and is prepared at h
 * in v only then too. So every honest replica's prepared blocks form a hash-linked chain per view,
 * which is what lets a NEW-VIEW re-propose a chain (new-view.ts).
 */
export class PbftEngine {
  private viewNo: number
  private phaseNow: EnginePhase = 'normal'
  private finalHeight: number
  private lastHash: Uint8Array
  private lastHeader: BlockHeader | null
  private lastCert: CommitCertificate | null
  private nv: NewViewState = { view: 0, start: 0, fixed: new Map(), freeFrom: 0 }
  /** K: heights last-final + 1 .. last-final + K are agreed at once */
  private readonly depth: number
  /** one slot per height inside the watermarks */
  private readonly slots = new Map<number, HeightSlot>()
  /** valid messages for height last-final + K + 1, replayed when last-final + 1 commits */
  private ahead = new Map<string, ConsensusMessage>()
  /** the latest VIEW-CHANGE of each validator for a view above ours (or ours while changing) */
  private viewChanges = new Map<number, ViewChangeMsg>()
  private myViewChange: ViewChangeMsg | null = null
  private myNewView: NewViewMsg | null = null
  private lastNewView: NewViewMsg | null = null
  private newViewResent = new Set<string>()
  private timer: TimerState | null = null
  /** consecutive view changes without a commit: the timeout doubles with each, up to the cap */
  private attempts = 0
  private pendingTxs = false
  private proposalRequested: { readonly view: number; readonly height: number } | null = null
  private readonly evidenceList: Evidence[] = []
  private readonly evidenceKeys = new Set<string>()
  private syncRequested: { from: number; target: number; view: number } | null = null
  /** the highest height others proved final (certificates, NEW-VIEW, f+1 replicas ahead) */
  private knownFinal = 0
  /** sender -> highest height above last-final + 1 it sent a message for (proof we lag, with f+1) */
  private aheadHeights = new Map<number, number>()
  /** this replica's own signed votes for heights above the last final one, by height (WAL mirror) */
  private walVotes = new Map<number, WalRecord[]>()
  private needViewChangeOnStart = false
  /**
   * false after joining a view from a commit certificate (adoptCertifiedView) without its NEW-VIEW:
   * until that NEW-VIEW arrives, heights O may have fixed stay closed here (`nv.freeFrom`).
   */
  private nvKnown = true
  /** ask the others to re-send the current view's NEW-VIEW (at the next chance to send) */
  private askNewView = false
  /** a commit action was emitted in this step: the driver has not applied it yet */
  private committedInStep = false
  private out: EngineAction[] = []

  constructor(
    private readonly config: EngineConfig,
    private readonly deps: EngineDeps,
    init: EngineInit,
  ) {
    const { validators, selfIndex, signer } = config
    if (selfIndex !== null) {
      const me = validators.at(selfIndex)
      if (me === undefined || signer === null || !bytesEqual(me.publicKey, signer.publicKey)) {
        throw new RangeError('selfIndex must name a validator whose key is the signer')
      }
    }
    const depth = config.pipelineDepth ?? 1
    if (!Number.isInteger(depth) || depth < 1 || depth > MAX_PIPELINE_DEPTH)
      throw new RangeError(`pipelineDepth must be an integer in 1..${MAX_PIPELINE_DEPTH}`)
    this.depth = depth
    this.finalHeight = init.height
    this.lastHash = init.lastBlockHash
    this.lastHeader = init.lastHeader ?? null
    this.lastCert = init.lastCertificate ?? null
    this.viewNo = init.view
    this.restoreWal(init)
    if (this.lastCert !== null) this.adoptCertifiedView(this.lastCert)
    this.fillWindow()
    this.installNewViewProposal()
  }

  // ---------- getters for the node's RPC ----------

  get view(): number {
    return this.viewNo
  }

  /** last final height */
  get height(): number {
    return this.finalHeight
  }

  get phase(): EnginePhase {
    return this.phaseNow
  }

  get primary(): Validator {
    return this.config.validators.primary(this.viewNo)
  }

  get isPrimary(): boolean {
    return this.config.selfIndex !== null && this.primary.index === this.config.selfIndex
  }

  get evidence(): readonly Evidence[] {
    return this.evidenceList
  }

  status(): EngineStatus {
    return {
      view: this.viewNo,
      height: this.finalHeight,
      phase: this.phaseNow,
      primary: this.primary.index,
      isPrimary: this.isPrimary,
      loggedMessages:
        this.windowSlots().reduce((n, s) => n + s.size, 0) + this.ahead.size + this.viewChanges.size,
    }
  }

  // ---------- the one entry point ----------

  step(event: EngineEvent): EngineAction[] {
    const out: EngineAction[] = []
    this.out = out
    this.committedInStep = false
    switch (event.type) {
      case 'start':
        this.onStart()
        break
      case 'message':
        this.onMessage(event.msg, false)
        break
      case 'txs_available':
        this.pendingTxs = true
        this.maybeRequestProposal()
        this.ensureProgressTimer()
        break
      case 'proposal':
        this.onProposal(event.view, event.height, event.block)
        break
      case 'timeout':
        this.onTimeout(event.view, event.height)
        break
      case 'block_synced':
        this.onBlockSynced(event.block, event.certificate)
        break
    }
    return out
  }

  // ---------- restart ----------

  private restoreWal(init: EngineInit): void {
    let lastNv: NewViewMsg | null = null
    for (const rec of init.wal) {
      if (rec.kind === 'viewchange') {
        if (this.myViewChange === null || rec.msg.newView > this.myViewChange.newView)
          this.myViewChange = rec.msg
      } else if (rec.kind === 'newview') {
        if (lastNv === null || rec.msg.view > lastNv.view) lastNv = rec.msg
        if (rec.msg.sender === this.config.selfIndex) {
          if (this.myNewView === null || rec.msg.view > this.myNewView.view) this.myNewView = rec.msg
        }
      } else if (recordHeight(rec) > this.finalHeight) {
        this.rememberVote(rec)
      }
    }
    if (lastNv !== null && lastNv.view >= this.viewNo)
      this.adoptNewView(lastNv, computeNewViewProposal(lastNv.viewChanges))
    const vcView = this.myViewChange?.newView ?? -1
    if (vcView > (lastNv?.view ?? -1) && vcView >= this.viewNo && this.myViewChange !== null) {
      this.viewNo = vcView
      this.phaseNow = 'viewchange'
      this.viewChanges.set(this.myViewChange.sender, this.myViewChange)
    } else if (this.viewNo > 0 && this.viewNo > (lastNv?.view ?? 0)) {
      // A view floor from the driver without a NEW-VIEW for it: we cannot act in it until one arrives.
      this.phaseNow = 'viewchange'
      this.needViewChangeOnStart = this.config.selfIndex !== null
    }
  }

  private rememberVote(rec: WalRecord): void {
    const h = recordHeight(rec)
    const list = this.walVotes.get(h) ?? []
    list.push(rec)
    this.walVotes.set(h, list)
  }

  /** The slots inside the watermarks, lowest height first. */
  private windowSlots(): HeightSlot[] {
    const out: HeightSlot[] = []
    for (let h = this.finalHeight + 1; h <= this.finalHeight + this.depth; h++) {
      const slot = this.slots.get(h)
      if (slot !== undefined) out.push(slot)
    }
    return out
  }

  /** Creates the slots of heights newly inside the watermarks. */
  private fillWindow(): void {
    for (let h = this.finalHeight + 1; h <= this.finalHeight + this.depth; h++) {
      if (!this.slots.has(h)) this.slots.set(h, this.newSlot(h))
    }
  }

  /** The slot of the lowest height not final yet. */
  private get low(): HeightSlot {
    return this.slots.get(this.finalHeight + 1) as HeightSlot
  }

  /** A fresh slot for `height`, with whatever this replica already signed there (from the WAL). */
  private newSlot(height: number): HeightSlot {
    const slot = new HeightSlot(height)
    for (const rec of this.walVotes.get(slot.height) ?? []) {
      if (rec.kind === 'preprepare') {
        const h = hashHex(rec.msg.block)
        slot.sentPrePrepare.set(rec.msg.view, rec.msg)
        slot.prePrepares.set(rec.msg.view, rec.msg)
        slot.blocks.set(h, rec.msg.block)
        slot.accepted.set(rec.msg.view, h)
      } else if (rec.kind === 'prepare') {
        const h = toHex(rec.msg.blockHash)
        slot.myPrepare.set(rec.msg.view, h)
        slot.prePrepares.set(rec.msg.view, rec.prePrepare)
        slot.blocks.set(h, rec.prePrepare.block)
        slot.accepted.set(rec.msg.view, h)
        slot.prepares.add(rec.msg)
      } else if (rec.kind === 'commit' && rec.prepared.block !== null) {
        const h = toHex(rec.msg.blockHash)
        slot.myCommit.set(rec.msg.view, h)
        slot.blocks.set(h, rec.prepared.block)
        slot.accepted.set(rec.msg.view, h)
        slot.commits.add(rec.msg)
        if (slot.prepared === null || slot.prepared.view < rec.prepared.view) slot.prepared = rec.prepared
      }
    }
    return slot
  }

  private onStart(): void {
    if (this.config.selfIndex === null) return
    this.requestNewView()
    if (this.phaseNow === 'viewchange') {
      if (this.needViewChangeOnStart) {
        this.needViewChangeOnStart = false
        this.sendViewChange()
      } else if (this.myViewChange !== null && this.myViewChange.newView === this.viewNo) {
        // Re-send (identical, so not a second vote): peers may have missed it while we were down.
        this.out.push({ type: 'broadcast', msg: this.myViewChange })
      }
      this.startTimer('viewchange')
      this.maybeSendNewView()
      return
    }
    for (const slot of this.windowSlots())
      for (const rec of this.walVotes.get(slot.height) ?? [])
        this.out.push({ type: 'broadcast', msg: rec.msg })
    this.ensureProgressTimer()
  }

  // ---------- messages ----------

  private onMessage(msg: ConsensusMessage, verified: boolean): void {
    const { validators, chainId } = this.config
    if (!Number.isInteger(msg.sender) || msg.sender < 0 || msg.sender >= validators.n) return
    if (this.isDuplicate(msg)) return
    if (!verified && !verifyConsensusMessage(msg, chainId, validators)) return
    switch (msg.kind) {
      case 'viewchange':
        this.onViewChange(msg)
        return
      case 'newview':
        this.onNewView(msg)
        return
      default: {
        const h = msg.height
        if (h <= this.finalHeight) return
        const slot = this.slots.get(h)
        if (slot === undefined) {
          this.noteAhead(msg.sender, h)
          if (h === this.finalHeight + this.depth + 1 && this.viewInWindow(msg.view)) {
            const key = `${msg.kind}/${msg.view}/${msg.sender}`
            if (!this.ahead.has(key)) this.ahead.set(key, msg)
          }
          return
        }
        if (!this.viewInWindow(msg.view)) return
        this.onSlotMessage(slot, msg)
        return
      }
    }
  }

  private viewInWindow(view: number): boolean {
    return view + VIEWS_KEPT_BEHIND >= this.viewNo && view <= this.viewNo + VIEWS_KEPT_AHEAD
  }

  /** A message already logged (same sender, slot and signature) is dropped before any crypto. */
  private isDuplicate(msg: ConsensusMessage): boolean {
    let known: { signature: Uint8Array } | undefined
    const slot = 'height' in msg ? this.slots.get(msg.height) : undefined
    switch (msg.kind) {
      case 'preprepare':
        known = slot?.prePrepares.get(msg.view)
        break
      case 'prepare':
        known = slot?.prepares.get(msg.view, msg.sender)
        break
      case 'commit':
        known = slot?.commits.get(msg.view, msg.sender)
        break
      case 'reject':
        known = slot?.rejects.get(msg.view, msg.sender)
        break
      case 'viewchange':
        known = this.viewChanges.get(msg.sender)
        break
      case 'newview':
        known = this.lastNewView ?? undefined
        break
    }
    if (known !== undefined && bytesEqual(known.signature, msg.signature)) return true
    return msg.kind === 'newview' && msg.view === this.viewNo && this.phaseNow === 'normal' && this.nvKnown
  }

  private onSlotMessage(slot: HeightSlot, msg: PrePrepareMsg | PrepareMsg | CommitMsg | RejectMsg): void {
    switch (msg.kind) {
      case 'preprepare':
        this.onPrePrepare(slot, msg)
        return
      case 'prepare': {
        const r = slot.prepares.add(msg)
        if (r.status === 'conflict') {
          this.reportEquivocation(r.existing, msg)
          return
        }
        if (r.status === 'new') this.checkPrepared(slot, msg.view)
        return
      }
      case 'commit': {
        const r = slot.commits.add(msg)
        if (r.status === 'conflict') {
          this.reportEquivocation(r.existing, msg)
          return
        }
        if (r.status === 'new') this.checkCommitted(slot, msg.view, toHex(msg.blockHash))
        return
      }
      case 'reject':
        // A second rejection of another digest in the same view is the primary's equivocation, not the sender's.
        if (slot.rejects.add(msg).status === 'new') this.checkRejects(slot, msg.view)
        return
    }
  }

  /** §4.2: a backup accepts a PRE-PREPARE only in its view, from the primary, once per (v, n). */
  private onPrePrepare(slot: HeightSlot, pp: PrePrepareMsg): void {
    const h = hashHex(pp.block)
    const existing = slot.prePrepares.get(pp.view)
    if (existing !== undefined) {
      if (hashHex(existing.block) === h) return
      this.reportEquivocation(existing, pp)
      // Two signed proposals for one (v, n) prove the primary faulty: change view now (§4.4).
      if (pp.view === this.viewNo && this.phaseNow === 'normal') this.startViewChange(this.viewNo + 1)
      return
    }
    slot.prePrepares.set(pp.view, pp)
    slot.blocks.set(h, pp.block)
    if (pp.view === this.viewNo) {
      this.tryAccept(slot, pp.view)
      this.ensureProgressTimer()
    }
    // Commits may have been waiting for this block (a certificate is proof whatever our view).
    for (const v of slot.commits.views()) this.checkCommitted(slot, v, h)
  }

  /**
   * The chain below `height` this replica holds in `view`: for each height from last-final + 1 up,
   * the block it prepared (or, for its own proposals, accepted) in `view`; null if some height has
   * none or the blocks do not link. Ascending; the last one is the parent of a block at `height`.
   */
  private chainBelow(height: number, view: number, by: 'prepared' | 'accepted'): Block[] | null {
    const out: Block[] = []
    let parent = this.lastHash
    for (let k = this.finalHeight + 1; k < height; k++) {
      const slot = this.slots.get(k)
      const hex = by === 'prepared' ? slot?.myCommit.get(view) : slot?.accepted.get(view)
      const block = hex === undefined ? undefined : slot?.blocks.get(hex)
      if (block === undefined || !bytesEqual(block.header.parentHash, parent)) return null
      out.push(block)
      parent = blockHash(block.header)
    }
    return out
  }

  /** The hash this replica requires as parent at `height` in `view`, or undefined when not known yet. */
  private parentFor(height: number, view: number, by: 'prepared' | 'accepted'): string | undefined {
    if (height === this.finalHeight + 1) return toHex(this.lastHash)
    const below = this.slots.get(height - 1)
    return by === 'prepared' ? below?.myCommit.get(view) : below?.accepted.get(view)
  }

  private tryAccept(slot: HeightSlot, view: number): void {
    if (this.phaseNow !== 'normal' || view !== this.viewNo) return
    const pp = slot.prePrepares.get(view)
    if (pp === undefined || slot.accepted.has(view) || slot.rejectedByMe.has(view)) return
    // An observer only needs the block (to finish a certificate), not a verdict.
    if (this.config.selfIndex === null) return
    // validateBlock sees the driver's committed state, which lags a commit emitted in this same step:
    // validate on the next step instead (a 0 ms timer guarantees there is one).
    if (this.committedInStep) {
      this.armResume()
      return
    }
    const h = hashHex(pp.block)
    // §4.4: in the view a NEW-VIEW started, heights below its start are closed, at the heights of O
    // only the re-proposed block may be accepted, and fresh proposals only from freeFrom on.
    let reproposed = false
    if (view === this.nv.view) {
      const fixed = this.nv.fixed.get(slot.height)
      if (fixed !== undefined) {
        if (h !== hashHex(fixed.block)) return
        reproposed = true
      } else if (slot.height < this.nv.freeFrom) return
    }
    if (pp.block.header.view !== view && !reproposed) {
      this.rejectProposal(slot, pp, 'block view differs from the view')
      return
    }
    // Pipelining: h - 1 must be final or prepared here in this view (the chain rule, class comment).
    const parent = this.parentFor(slot.height, view, 'prepared')
    if (parent === undefined) return // not yet: re-tried when h - 1 prepares or becomes final
    if (toHex(pp.block.header.parentHash) !== parent) {
      this.rejectProposal(slot, pp, 'wrong parent hash')
      return
    }
    const ancestors = this.chainBelow(slot.height, view, 'prepared')
    if (ancestors === null) return
    const verdict = this.deps.validateBlock(pp.block, ancestors)
    if (!verdict.ok) {
      this.rejectProposal(slot, pp, verdict.reason)
      return
    }
    slot.accepted.set(view, h)
    // The primary proposed a valid block: the timer now measures the PREPARE/COMMIT rounds, not the
    // proposal too (once per height and view, so a faulty primary gains one timeout at most). A big
    // block on a busy machine otherwise ran out the timer and forced needless view changes.
    if (this.timer?.kind === 'progress' && this.timer.view === view && this.timer.height === slot.height) {
      this.startTimer('progress')
    }
    // Only the lowest height's acceptance may restart it (above, timer.height is last-final + 1).
    const self = this.config.selfIndex
    if (self !== null && self !== pp.sender && !slot.myPrepare.has(view)) {
      const prepare = this.signPrepare(view, slot.height, pp.block)
      this.persistVote({ kind: 'prepare', prePrepare: pp, msg: prepare })
      this.out.push({ type: 'broadcast', msg: prepare })
      slot.myPrepare.set(view, h)
      slot.prepares.add(prepare)
    }
    this.checkPrepared(slot, view)
  }

  /** docs/CONSENSUS.md "Consensus rules": an invalid block gets no PREPARE but a signed rejection naming the reason. */
  private rejectProposal(slot: HeightSlot, pp: PrePrepareMsg, reason: string): void {
    slot.rejectedByMe.add(pp.view)
    const self = this.config.selfIndex
    const signer = this.config.signer
    if (self !== null && signer !== null) {
      const body = {
        view: pp.view,
        height: pp.height,
        blockHash: blockHash(pp.block.header),
        sender: self,
        reason: truncateUtf8(reason, MAX_REASON_BYTES),
      }
      const msg: RejectMsg = {
        kind: 'reject',
        ...body,
        signature: signer.sign(rejectSignBytes(this.config.chainId, body)),
      }
      slot.rejects.add(msg)
      this.out.push({ type: 'broadcast', msg })
    }
    this.checkRejects(slot, pp.view)
  }

  /** docs/CONSENSUS.md "Consensus rules": f+1 rejections include an honest one, so the primary is faulty: change view at once. */
  private checkRejects(slot: HeightSlot, view: number): void {
    if (this.phaseNow !== 'normal' || view !== this.viewNo) return
    if (slot.rejects.senderCount(view) >= this.config.validators.f + 1) this.startViewChange(this.viewNo + 1)
  }

  /** §4.2: prepared = the accepted PRE-PREPARE + quorum-1 (2f) matching PREPAREs from other replicas; then COMMIT. */
  private checkPrepared(slot: HeightSlot, view: number): void {
    const { selfIndex, validators } = this.config
    if (selfIndex === null || this.phaseNow !== 'normal' || view !== this.viewNo) return
    const h = slot.accepted.get(view)
    const pp = slot.prePrepares.get(view)
    if (h === undefined || pp === undefined || slot.myCommit.has(view)) return
    // The chain rule holds for the primary too (it accepts its own proposals unvalidated): prepared
    // at h in v only once h - 1 is final or prepared here in v, and with that block as parent.
    const parent = this.parentFor(slot.height, view, 'prepared')
    if (parent === undefined || toHex(pp.block.header.parentHash) !== parent) return
    const primary = validators.primary(view).index
    const votes = slot.prepares.matching(view, h).filter((m) => m.sender !== primary)
    // §4.2 prepared: the PRE-PREPARE plus quorum-1 PREPAREs from others (2f when n = 3f+1), so a
    // prepared certificate always spans a quorum and intersects every other quorum (ValidatorSet).
    if (votes.length < validators.quorum - 1) return
    const block = slot.blocks.get(h)
    if (block === undefined) return
    const prepared: PreparedCert = {
      view,
      height: slot.height,
      blockHash: blockHash(block.header),
      prePrepareSignature: pp.signature,
      prepares: votes
        .slice(0, validators.quorum - 1)
        .map((m) => ({ validator: m.sender, signature: m.signature })),
      block,
    }
    if (slot.prepared === null || slot.prepared.view < view) slot.prepared = prepared
    const commit = this.signCommit(view, slot.height, prepared.blockHash)
    this.persistVote({ kind: 'commit', prepared, msg: commit })
    this.out.push({ type: 'broadcast', msg: commit })
    slot.myCommit.set(view, h)
    slot.commits.add(commit)
    this.checkCommitted(slot, view, h)
    // A PRE-PREPARE (and PREPAREs) for the next height may have been waiting for this one.
    const next = this.slots.get(slot.height + 1)
    if (next !== undefined && this.slots.get(slot.height) === slot) {
      this.tryAccept(next, view)
      this.checkPrepared(next, view)
    }
  }

  /** §4.2: committed = 2f+1 matching COMMITs; the signatures are the block's certificate. */
  private checkCommitted(slot: HeightSlot, view: number, h: string): void {
    if (this.slots.get(slot.height) !== slot) return // finalized meanwhile
    const votes = slot.commits.matching(view, h)
    const quorum = this.config.validators.quorum
    if (votes.length < quorum) return
    const block = slot.blocks.get(h)
    if (block === undefined) {
      // Proof that this height is final with a block we do not have (e.g. an equivocating primary).
      this.requestSync(slot.height, false)
      return
    }
    const certificate: CommitCertificate = {
      height: slot.height,
      view,
      blockHash: blockHash(block.header),
      votes: votes.slice(0, quorum).map((m) => ({ validator: m.sender, signature: m.signature })),
    }
    // Final in height order: a certificate above a height not final yet waits in its slot.
    if (slot.height > this.finalHeight + 1) {
      if (slot.certified === null) slot.certified = { block, certificate }
      return
    }
    this.finalize(block, certificate)
  }

  private onBlockSynced(block: Block, certificate: CommitCertificate): void {
    if (block.header.height !== this.finalHeight + 1) return
    if (!bytesEqual(block.header.parentHash, this.lastHash)) return
    try {
      verifyCertificate(certificate, this.config.chainId, this.config.validators, {
        height: block.header.height,
        blockHash: blockHash(block.header),
      })
    } catch {
      return
    }
    this.finalize(block, certificate)
  }

  /** A block is final: hand it over, make it the stable checkpoint and drop the log below it (§4.3). */
  private finalize(block: Block, certificate: CommitCertificate): void {
    if (block.header.height !== this.finalHeight + 1 || !bytesEqual(block.header.parentHash, this.lastHash))
      return
    this.out.push({ type: 'commit', block, certificate })
    this.committedInStep = true
    this.finalHeight = block.header.height
    this.lastHash = certificate.blockHash
    this.lastHeader = block.header
    this.lastCert = certificate
    const viewAdopted = this.adoptCertifiedView(certificate)
    this.requestNewView()
    this.attempts = 0
    this.pendingTxs = false // the driver re-signals txs_available while its mempool still holds some
    if (this.proposalRequested !== null && this.proposalRequested.height <= this.finalHeight)
      this.proposalRequested = null
    for (const h of this.walVotes.keys()) if (h <= this.finalHeight) this.walVotes.delete(h)
    for (const [s, h] of this.aheadHeights)
      if (h <= this.finalHeight + this.depth) this.aheadHeights.delete(s)
    this.slots.delete(this.finalHeight)
    this.fillWindow()
    this.pruneWal()
    if (this.timer?.kind === 'progress' || (viewAdopted && this.timer !== null)) {
      this.timer = null
      this.out.push({ type: 'cancel_timer' })
    }
    this.installNewViewProposal()
    const buffered = [...this.ahead.values()]
    this.ahead.clear()
    for (const m of buffered) this.onMessage(m, true)
    if (block.header.height !== this.finalHeight) return // a replayed message finalized further
    // The next height may already hold its certificate (pipelining): final now, in order.
    const next = this.low.certified
    if (next !== null && bytesEqual(next.block.header.parentHash, this.lastHash)) {
      this.finalize(next.block, next.certificate)
      return
    }
    this.afterViewOrHeightChange()
  }

  /**
   * A commit certificate of view v is signed by a quorum that was in view v, so a quorum installed
   * v's NEW-VIEW. A replica still below v (restarted, wiped, partitioned through the view change)
   * joins v here instead of waiting for the next view change — otherwise it would sit in an old
   * view, not voting, and the network would run without its fault margin. Safe: v's NEW-VIEW only
   * constrains heights up to its checkpoint + 1, which is at most this final height, so every later
   * height of v is open to the primary's fresh proposal (see docs/CONSENSUS.md). Never moves back:
   * a replica already changing to a view above v stays on that path.
   */
  private adoptCertifiedView(cert: CommitCertificate): boolean {
    const v = cert.view
    if (v < this.viewNo || (v === this.viewNo && this.phaseNow === 'normal')) return false
    this.viewNo = v
    this.phaseNow = 'normal'
    this.needViewChangeOnStart = false
    // Without v's NEW-VIEW we do not know O: it re-proposes at most MAX_PIPELINE_DEPTH heights above
    // its checkpoint (verify.ts bounds every VIEW-CHANGE's certificates so, whatever K others run),
    // and that checkpoint is below cert.height: heights from cert.height + MAX_PIPELINE_DEPTH are free.
    this.nv = {
      view: v,
      start: cert.height + 1,
      fixed: new Map(),
      freeFrom: cert.height + MAX_PIPELINE_DEPTH,
    }
    this.nvKnown = false
    this.askNewView = this.config.selfIndex !== null
    this.proposalRequested = null
    this.newViewResent.clear()
    for (const [s, vc] of this.viewChanges) if (vc.newView <= v) this.viewChanges.delete(s)
    return true
  }

  /**
   * After joining a view from a certificate: a VIEW-CHANGE for the view we are in makes every replica
   * that installed its NEW-VIEW send it again (`resendNewView`), which opens the heights its O did not
   * fix. Harmless as a VIEW-CHANGE: we are in that view already and never vote below it.
   */
  private requestNewView(): void {
    if (!this.askNewView || this.config.selfIndex === null) return
    this.askNewView = false
    this.sendViewChange()
    this.viewChanges.delete(this.config.selfIndex)
  }

  private afterViewOrHeightChange(): void {
    const final = this.finalHeight
    for (const slot of this.windowSlots()) {
      if (this.finalHeight !== final) return // a commit from a replay moved the window
      this.tryAccept(slot, this.viewNo)
      this.checkPrepared(slot, this.viewNo)
    }
    this.ensureProgressTimer()
    this.maybeRequestProposal()
  }

  // ---------- proposing ----------

  /** May the primary of the current view propose a fresh block at `height`? (§4.4 NEW-VIEW's O) */
  private freshProposalAllowed(height: number): boolean {
    if (this.viewNo !== this.nv.view) return true
    return height >= this.nv.freeFrom
  }

  /**
   * docs/CONSENSUS.md "Consensus rules": a block only when txs wait. Pipelining: the next height is the lowest inside the
   * watermarks without a PRE-PREPARE of this view, built on this primary's own block below it.
   */
  private maybeRequestProposal(): void {
    if (!this.isPrimary || this.phaseNow !== 'normal' || !this.pendingTxs) return
    if (this.proposalRequested !== null) return // one at a time; the answer asks for the next
    let slot: HeightSlot | undefined
    for (const s of this.windowSlots()) {
      if (!s.prePrepares.has(this.viewNo)) {
        slot = s
        break
      }
    }
    if (slot === undefined || !this.freshProposalAllowed(slot.height)) return
    const ancestors = this.chainBelow(slot.height, this.viewNo, 'accepted')
    if (ancestors === null) return
    const parent = ancestors.at(-1)
    this.proposalRequested = { view: this.viewNo, height: slot.height }
    this.out.push({
      type: 'request_proposal',
      view: this.viewNo,
      height: slot.height,
      parentHash: parent === undefined ? this.lastHash : blockHash(parent.header),
      parentHeader: parent === undefined ? this.lastHeader : parent.header,
      ancestors,
    })
  }

  private onProposal(view: number, height: number, block: Block | null): void {
    const { signer, selfIndex, chainId } = this.config
    const r = this.proposalRequested
    if (r === null || r.view !== view || r.height !== height) return
    this.proposalRequested = null
    const slot = this.slots.get(height)
    if (!this.isPrimary || this.phaseNow !== 'normal' || view !== this.viewNo || slot === undefined) return
    if (signer === null || selfIndex === null) return
    if (block === null) {
      this.pendingTxs = false
      return
    }
    if (slot.prePrepares.has(view) || !this.freshProposalAllowed(height)) return
    const hd = block.header
    if (hd.height !== height || hd.view !== view || hd.chainId !== chainId) return
    const parent = this.parentFor(height, view, 'accepted')
    if (parent === undefined || toHex(hd.parentHash) !== parent || !bytesEqual(hd.proposer, signer.publicKey))
      return
    const pp = this.signPrePrepare(view, height, block)
    this.persistVote({ kind: 'preprepare', msg: pp })
    this.out.push({ type: 'broadcast', msg: pp })
    const h = hashHex(block)
    slot.sentPrePrepare.set(view, pp)
    slot.prePrepares.set(view, pp)
    slot.blocks.set(h, block)
    slot.accepted.set(view, h)
    this.checkPrepared(slot, view)
    this.ensureProgressTimer()
    this.maybeRequestProposal()
  }

  // ---------- view change ----------

  private timeoutMs(): number {
    const { viewChangeBaseMs, viewChangeMaxMs } = this.config.timeouts
    return Math.min(viewChangeMaxMs, viewChangeBaseMs * 2 ** Math.min(this.attempts, 30))
  }

  private startTimer(kind: TimerState['kind']): void {
    const height = this.finalHeight + 1
    this.timer = { kind, view: this.viewNo, height }
    this.out.push({ type: 'start_timer', view: this.viewNo, height, ms: this.timeoutMs() })
  }

  private armResume(): void {
    if (this.timer?.kind === 'resume') return
    const height = this.finalHeight + 1
    this.timer = { kind: 'resume', view: this.viewNo, height }
    this.out.push({ type: 'start_timer', view: this.viewNo, height, ms: 0 })
  }

  /** §4.4: a backup runs a timer while work is pending (txs waiting, a proposal not yet final). */
  private ensureProgressTimer(): void {
    if (this.config.selfIndex === null || this.phaseNow !== 'normal') return
    if (this.timer?.kind === 'resume') return // the resume re-arms it
    const pending = this.pendingTxs || this.windowSlots().some((s) => s.prePrepares.has(this.viewNo))
    if (!pending) return
    const t = this.timer
    if (t !== null && t.kind === 'progress' && t.view === this.viewNo && t.height === this.finalHeight + 1)
      return
    this.startTimer('progress')
  }

  private onTimeout(view: number, height: number): void {
    const t = this.timer
    if (t === null || t.view !== view || t.height !== height) return
    this.timer = null
    // A sync attempt may have failed (peer gone, partition): retry at each timeout while behind.
    if (t.kind === 'resume') {
      this.afterViewOrHeightChange()
      return
    }
    if (this.knownFinal > this.finalHeight) this.requestSync(this.knownFinal, true)
    if (t.kind === 'progress') {
      if (this.phaseNow === 'normal' && this.viewNo === view) this.startViewChange(view + 1)
      return
    }
    if (this.phaseNow !== 'viewchange' || this.viewNo !== view) return
    // §4.5.2: move on to v+1 only if 2f+1 replicas joined this view change and it still failed;
    // otherwise re-send our VIEW-CHANGE (it may have been lost) and look for blocks we miss.
    if (this.viewChangeCount(view) >= this.config.validators.quorum) {
      this.startViewChange(view + 1)
    } else {
      if (this.myViewChange !== null && this.myViewChange.newView === view) {
        this.out.push({ type: 'broadcast', msg: this.myViewChange })
      }
      this.requestSync(this.finalHeight + 1, true)
      this.startTimer('viewchange')
    }
  }

  private viewChangeCount(view: number): number {
    let n = 0
    // A replica already asking for a later view has given up on this one as well.
    for (const vc of this.viewChanges.values()) if (vc.newView >= view) n++
    return n
  }

  /** §4.4: stop accepting messages of the old view and multicast VIEW-CHANGE(v+1, checkpoint, P). */
  private startViewChange(newView: number): void {
    if (this.config.selfIndex === null || newView <= this.viewNo) return
    if (this.myViewChange !== null && this.myViewChange.newView >= newView) return
    this.viewNo = newView
    this.phaseNow = 'viewchange'
    this.attempts++
    this.proposalRequested = null
    this.newViewResent.clear()
    if (this.timer !== null) {
      this.timer = null
      this.out.push({ type: 'cancel_timer' })
    }
    this.sendViewChange()
    this.pruneOldViews()
    this.startTimer('viewchange')
    this.maybeSendNewView()
  }

  /**
   * P (§4.4): this replica's highest-view prepared certificate per height above the checkpoint, as
   * long as they form a chain on the last final block. A certificate that does not extend the one
   * below it cannot be for a committed block (new-view.ts linkedPrefix), nor can any above it.
   */
  private preparedChain(): PreparedCert[] {
    const out: PreparedCert[] = []
    let parent = this.lastHash
    for (const slot of this.windowSlots()) {
      const p = slot.prepared
      if (p === null || p.block === null || !bytesEqual(p.block.header.parentHash, parent)) break
      out.push(p)
      parent = p.blockHash
    }
    return out
  }

  private sendViewChange(): void {
    const { selfIndex, signer, chainId } = this.config
    if (selfIndex === null || signer === null) return
    const body = {
      newView: this.viewNo,
      sender: selfIndex,
      checkpointHeight: this.finalHeight,
      checkpoint: this.finalHeight === 0 ? null : this.lastCert,
      prepared: this.preparedChain(),
    }
    const vc: ViewChangeMsg = {
      kind: 'viewchange',
      ...body,
      signature: signer.sign(viewChangeSignBytes(chainId, body)),
    }
    this.myViewChange = vc
    this.out.push({ type: 'persist', record: { kind: 'viewchange', msg: vc } })
    this.out.push({ type: 'broadcast', msg: vc })
    this.viewChanges.set(selfIndex, vc)
  }

  private onViewChange(vc: ViewChangeMsg): void {
    const { selfIndex, validators } = this.config
    if (vc.sender === selfIndex) return
    // A certified checkpoint above ours proves we lag.
    if (vc.checkpointHeight > this.finalHeight) this.requestSync(vc.checkpointHeight, false)
    const existing = this.viewChanges.get(vc.sender)
    if (existing !== undefined) {
      if (existing.newView === vc.newView) {
        this.reportEquivocation(existing, vc)
        return
      }
      if (existing.newView > vc.newView) return
    }
    if (this.phaseNow === 'normal' && vc.newView === this.viewNo) this.resendNewView(vc.sender)
    if (vc.newView < this.viewNo || (vc.newView === this.viewNo && this.phaseNow === 'normal')) return
    this.viewChanges.set(vc.sender, vc)
    // TOCS §4.5.2: f+1 VIEW-CHANGEs for higher views include an honest replica: join the highest view
    // that f+1 of them reached (at least one honest replica is there), even before our timer fires.
    const higher: number[] = []
    for (const m of this.viewChanges.values())
      if (m.sender !== selfIndex && m.newView > this.viewNo) higher.push(m.newView)
    if (higher.length >= validators.f + 1) {
      higher.sort((a, b) => b - a)
      this.startViewChange(higher[validators.f] as number)
    }
    if (this.phaseNow === 'viewchange') this.maybeSendNewView()
  }

  /** A replica still changing to our view missed its NEW-VIEW: send it once more. */
  private resendNewView(to: number): void {
    const nv = this.lastNewView
    if (nv === null || nv.view !== this.viewNo || this.config.selfIndex === null) return
    const key = `${nv.view}/${to}`
    if (this.newViewResent.has(key)) return
    this.newViewResent.add(key)
    this.out.push({ type: 'broadcast', msg: nv })
  }

  /** §4.4: the new primary, with 2f+1 VIEW-CHANGEs for its view, multicasts NEW-VIEW(v, V, O). */
  private maybeSendNewView(): void {
    const { selfIndex, signer, chainId, validators } = this.config
    if (selfIndex === null || signer === null || this.phaseNow !== 'viewchange' || !this.isPrimary) return
    if (this.myNewView !== null && this.myNewView.view >= this.viewNo) return
    const vcs = [...this.viewChanges.values()]
      .filter((m) => m.newView === this.viewNo)
      .sort((a, b) => a.sender - b.sender)
    if (vcs.length < validators.quorum) return
    const proposal = computeNewViewProposal(vcs)
    // Standalone VIEW-CHANGEs carry their blocks (verify.ts), so linkedPrefix sees every candidate's.
    const n = linkedPrefix(proposal)
    const prePrepares: PrePrepareMsg[] = []
    for (const [i, c] of proposal.candidates.slice(0, n).entries()) {
      if (c.block === null) return
      prePrepares.push(this.signPrePrepare(this.viewNo, proposal.height + i, c.block))
    }
    const left = proposal.candidates[n]
    let stopHeader: BlockHeader | null = null
    if (left !== undefined) {
      if (left.block === null) return
      stopHeader = left.block.header
    }
    const body = {
      view: this.viewNo,
      sender: selfIndex,
      viewChanges: vcs.map(stripViewChange),
      prePrepares,
      stopHeader,
    }
    const nv: NewViewMsg = {
      kind: 'newview',
      ...body,
      signature: signer.sign(newViewSignBytes(chainId, body)),
    }
    this.myNewView = nv
    this.out.push({ type: 'persist', record: { kind: 'newview', msg: nv } })
    this.out.push({ type: 'broadcast', msg: nv })
    this.enterNewView(nv, proposal)
  }

  private onNewView(nv: NewViewMsg): void {
    if (nv.view < this.viewNo || (nv.view === this.viewNo && this.phaseNow === 'normal' && this.nvKnown))
      return
    if (this.config.selfIndex !== null)
      this.out.push({ type: 'persist', record: { kind: 'newview', msg: nv } })
    this.enterNewView(nv, computeNewViewProposal(nv.viewChanges))
  }

  private adoptNewView(nv: NewViewMsg, proposal: NewViewProposal): void {
    this.viewNo = nv.view
    this.phaseNow = 'normal'
    this.nvKnown = true
    this.askNewView = false
    this.lastNewView = nv
    const fixed = new Map<number, PrePrepareMsg>()
    for (const pp of nv.prePrepares) fixed.set(pp.height, pp)
    this.nv = {
      view: nv.view,
      start: proposal.height,
      fixed,
      freeFrom: proposal.height + nv.prePrepares.length,
    }
  }

  /** §4.4: enter view v; its O (the re-proposal) is processed like any PRE-PREPARE. */
  private enterNewView(nv: NewViewMsg, proposal: NewViewProposal): void {
    this.adoptNewView(nv, proposal)
    this.proposalRequested = null
    this.newViewResent.clear()
    if (this.timer !== null) {
      this.timer = null
      this.out.push({ type: 'cancel_timer' })
    }
    for (const [s, vc] of this.viewChanges) if (vc.newView <= nv.view) this.viewChanges.delete(s)
    this.pruneOldViews()
    if (proposal.height - 1 > this.finalHeight) this.requestSync(proposal.height - 1, false)
    this.installNewViewProposal()
    this.afterViewOrHeightChange()
  }

  /** Puts the NEW-VIEW's re-proposals into the log of the heights inside the watermarks. */
  private installNewViewProposal(): void {
    for (const pp of this.nv.fixed.values()) {
      const slot = this.slots.get(pp.height)
      if (slot !== undefined) this.installReproposal(slot, pp)
    }
  }

  private installReproposal(slot: HeightSlot, pp: PrePrepareMsg): void {
    const h = hashHex(pp.block)
    const existing = slot.prePrepares.get(pp.view)
    if (existing !== undefined && hashHex(existing.block) !== h && !slot.accepted.has(pp.view)) {
      this.reportEquivocation(existing, pp)
    }
    if (slot.accepted.has(pp.view) && slot.accepted.get(pp.view) !== h) return
    slot.prePrepares.set(pp.view, pp)
    slot.blocks.set(h, pp.block)
    if (pp.sender === this.config.selfIndex) {
      slot.sentPrePrepare.set(pp.view, pp)
      slot.accepted.set(pp.view, h)
    }
  }

  private pruneOldViews(): void {
    const min = this.viewNo - VIEWS_KEPT_BEHIND
    for (const slot of this.slots.values()) slot.pruneViewsBelow(min)
    for (const [k, m] of this.ahead) if ('view' in m && m.view < min) this.ahead.delete(k)
  }

  // ---------- lagging ----------

  /** f+1 validators speaking at heights above our watermarks include an honest one that finalized below. */
  private noteAhead(sender: number, height: number): void {
    const prev = this.aheadHeights.get(sender) ?? 0
    if (height > prev) this.aheadHeights.set(sender, height)
    const f = this.config.validators.f
    const heights = [...this.aheadHeights.values()].sort((a, b) => b - a)
    // A replica sends for heights up to its last final + K: one at h has finalized h - K at least.
    if (heights.length >= f + 1) this.requestSync((heights[f] as number) - this.depth, false)
  }

  private requestSync(target: number, probe: boolean): void {
    if (target <= this.finalHeight) return
    if (target > this.knownFinal) this.knownFinal = target
    const r = this.syncRequested
    // Asked once per (height, view): a failed attempt is retried when the view moves on or a timer fires.
    if (!probe && r !== null && r.from === this.finalHeight && r.view === this.viewNo && r.target >= target)
      return
    this.syncRequested = { from: this.finalHeight, target, view: this.viewNo }
    this.out.push({ type: 'request_sync', height: target })
  }

  // ---------- evidence, WAL ----------

  private reportEquivocation(first: ConsensusMessage, second: ConsensusMessage): void {
    const view = first.kind === 'viewchange' ? first.newView : first.view
    const height = 'height' in first ? first.height : 0
    const key = `${first.kind}/${first.sender}/${view}/${height}`
    if (this.evidenceKeys.has(key)) return
    this.evidenceKeys.add(key)
    const evidence: Evidence = { sender: first.sender, kind: first.kind, view, height, first, second }
    if (this.evidenceList.length >= MAX_EVIDENCE) {
      const dropped = this.evidenceList.shift()
      if (dropped !== undefined) {
        this.evidenceKeys.delete(`${dropped.kind}/${dropped.sender}/${dropped.view}/${dropped.height}`)
      }
    }
    this.evidenceList.push(evidence)
    this.out.push({ type: 'evidence', evidence })
  }

  /** Persist-before-send for every vote this replica signs. */
  private persistVote(record: WalRecord): void {
    this.rememberVote(record)
    this.out.push({ type: 'persist', record })
  }

  /** After a commit: only votes above the final height and the latest view records still matter. */
  private pruneWal(): void {
    const retain: WalRecord[] = []
    for (const list of this.walVotes.values()) retain.push(...list)
    if (this.myViewChange !== null) retain.push({ kind: 'viewchange', msg: this.myViewChange })
    if (this.lastNewView !== null) retain.push({ kind: 'newview', msg: this.lastNewView })
    if (this.myNewView !== null && this.myNewView !== this.lastNewView)
      retain.push({ kind: 'newview', msg: this.myNewView })
    this.out.push({ type: 'prune_wal', retain })
  }

  // ---------- signing ----------

  private signer() {
    const { signer, selfIndex } = this.config
    if (signer === null || selfIndex === null) throw new Error('an observer never signs')
    return { signer, selfIndex }
  }

  private signPrePrepare(view: number, height: number, block: Block): PrePrepareMsg {
    const { signer, selfIndex } = this.signer()
    const bytes = prePrepareSignBytes(this.config.chainId, view, height, selfIndex, blockHash(block.header))
    return { kind: 'preprepare', view, height, sender: selfIndex, block, signature: signer.sign(bytes) }
  }

  private signPrepare(view: number, height: number, block: Block): PrepareMsg {
    const { signer, selfIndex } = this.signer()
    const hash = blockHash(block.header)
    const signature = signer.sign(prepareSignBytes(this.config.chainId, view, height, selfIndex, hash))
    return { kind: 'prepare', view, height, blockHash: hash, sender: selfIndex, signature }
  }

  private signCommit(view: number, height: number, hash: Uint8Array): CommitMsg {
    const { signer, selfIndex } = this.signer()
    const signature = signer.sign(commitVoteSignBytes(this.config.chainId, view, height, hash))
    return { kind: 'commit', view, height, blockHash: hash, sender: selfIndex, signature }
  }
}
