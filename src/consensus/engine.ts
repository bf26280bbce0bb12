import { verifyCertificate } from '../chain/certificate.js'
import type { Validator } from '../chain/validators.js'
import { blockHash } from '../codec/chain.js'
import {
  type CommitMsg,
  type ConsensusMessage,
  type NewViewMsg,
  type PrePrepareMsg,
  type PreparedCert,
  type PrepareMsg,
  type RejectMsg,
  rejectSignBytes,
  type ViewChangeMsg,
  type WalRecord,
} from '../codec/consensus.js'
import { MAX_PIPELINE_DEPTH, MAX_REASON_BYTES, truncateUtf8 } from '../codec/limits.js'
import type { Block, BlockHeader, CommitCertificate } from '../codec/types.js'
import { bytesEqual, toHex } from '../crypto/hash.js'
import { EvidenceLog } from './evidence.js'
import { HeightSlot, hashHex } from './height-slot.js'
import { signCommit, signPrePrepare, signPrepare } from './signing.js'
import type {
  EngineAction,
  EngineConfig,
  EngineDeps,
  EngineEvent,
  EngineInit,
  EnginePhase,
  EngineStatus,
  EvidenceSlot,
} from './types.js'
import { verifyConsensusMessage } from './verify.js'
import { ViewChange, type ViewChangeHost } from './view-change.js'

/** Votes of views this far below the current one are dropped (sync covers what they could finish). */
const VIEWS_KEPT_BEHIND = 3
/** Messages for views this far ahead are dropped; VIEW-CHANGE/NEW-VIEW bring a replica forward. */
const VIEWS_KEPT_AHEAD = 8
/**
 * VIEW-CHANGEs and NEW-VIEWs for views this far ahead are dropped before any signature check
 * (docs/CONSENSUS.md "Consensus rules"). Generous: a replica cut off while the others keep failing
 * view changes lags legitimately and must still see the others' view. The gossip validators use the
 * same bound (VIEW_CHANGE_VIEWS_AHEAD; a unit test keeps the two equal).
 */
const VIEW_CHANGES_KEPT_AHEAD = 100_000

interface TimerState {
  /** 'resume' is a 0 ms timer: validation deferred until the driver has applied a commit */
  readonly kind: 'progress' | 'viewchange' | 'resume'
  readonly view: number
  readonly height: number
}

/** The normal-case messages: each belongs to one height's slot. */
type SlotMessage = PrePrepareMsg | PrepareMsg | CommitMsg | RejectMsg

/**
 * What one phase does with each event whose handling depends on the phase; `step` dispatches once,
 * on the phase the event finds, to the handlers of that phase (the `phases` table).
 */
interface PhaseHandlers {
  /** once after construction, for a validator */
  start(): void
  txsAvailable(): void
  /** the answer to this replica's pending request_proposal */
  proposal(view: number, height: number, block: Block | null): void
  /** a PRE-PREPARE, PREPARE, COMMIT or REJECT for a height inside the watermarks */
  slotMessage(slot: HeightSlot, msg: SlotMessage): void
  viewChange(msg: ViewChangeMsg): void
  newView(msg: NewViewMsg): void
  /** the live timer (not the 0 ms resume timer) expired */
  timeout(timer: TimerState): void
}

function recordHeight(rec: WalRecord): number {
  switch (rec.kind) {
    case 'preprepare':
    case 'prepare':
    case 'commit':
    case 'reject':
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
 *
 * This class runs the normal case (§4.2), the checkpoints (§4.3) and the timers; the view change
 * (§4.4), which owns the view and the phase, is in view-change.ts.
 */
export class PbftEngine {
  private finalHeight: number
  private lastHash: Uint8Array
  private lastHeader: BlockHeader | null
  /** txs in the last block this replica finalized (0 until the first): the timer's size estimate */
  private lastFinalTxs = 0
  private lastCert: CommitCertificate | null
  /** the view, the phase and the view-change protocol */
  private readonly vc: ViewChange
  /** K: heights last-final + 1 .. last-final + K are agreed at once */
  private readonly depth: number
  /** one slot per height inside the watermarks */
  private readonly slots = new Map<number, HeightSlot>()
  /** valid messages for height last-final + K + 1, replayed when last-final + 1 commits */
  private ahead = new Map<string, ConsensusMessage>()
  private timer: TimerState | null = null
  private pendingTxs = false
  private proposalRequested: { readonly view: number; readonly height: number } | null = null
  private readonly evidenceLog = new EvidenceLog()
  private syncRequested: { from: number; target: number; view: number } | null = null
  /** the highest height others proved final (certificates, NEW-VIEW, f+1 replicas ahead) */
  private knownFinal = 0
  /** the highest height proven final elsewhere (a certificate, f+1 replicas ahead): probes aside */
  private provenFinal = 0
  /** `view/height` of the progress timeout held because this replica lagged (once per height) */
  private laggingHeld = ''
  /** sender -> highest height above last-final + 1 it sent a message for (proof we lag, with f+1) */
  private aheadHeights = new Map<number, number>()
  /** this replica's own signed votes for heights above the last final one, by height (WAL mirror) */
  private walVotes = new Map<number, WalRecord[]>()
  /** a commit action was emitted in this step: the driver has not applied it yet */
  private committedInStep = false
  private out: EngineAction[] = []

  /** What each phase does with each event (see PhaseHandlers). */
  private readonly phases: Readonly<Record<EnginePhase, PhaseHandlers>> = {
    // §4.2: the three-phase agreement in the current view.
    normal: {
      start: () => this.resendOwnVotes(),
      txsAvailable: () => {
        this.maybeRequestProposal()
        this.ensureProgressTimer()
      },
      proposal: (view, height, block) => this.onProposal(view, height, block),
      slotMessage: (slot, msg) => this.onSlotMessage(slot, msg),
      viewChange: (msg) => this.vc.onViewChangeInView(msg),
      newView: (msg) => this.vc.onNewViewInView(msg),
      timeout: (timer) => this.onProgressTimeout(timer),
    },
    // §4.4: changing to the current view; no normal-case vote until a NEW-VIEW installs it.
    viewchange: {
      start: () => this.vc.resume(),
      // Remembered (pendingTxs): the primary proposes once the new view is installed.
      txsAvailable: () => undefined,
      // A request is void once the view moves (`viewMoved`): there is none to answer here.
      proposal: () => undefined,
      slotMessage: (slot, msg) => this.logSlotMessage(slot, msg),
      viewChange: (msg) => this.vc.onViewChangeWhileChanging(msg),
      newView: (msg) => this.vc.onNewViewWhileChanging(msg),
      timeout: (timer) => {
        if (timer.kind === 'viewchange') this.vc.onTimeout(timer.view)
      },
    },
  }

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
    this.vc = new ViewChange(config, this.viewChangeHost(), init.view)
    this.restoreWal(init)
    const viewStart = lowestOfSameView(this.lastCert, init.recentCertificates ?? [])
    if (viewStart !== null) this.vc.adoptCertifiedView(viewStart)
    this.fillWindow()
    this.vc.installProposal()
  }

  /** The engine as the view change sees it (view-change.ts): its checkpoint, log, timer and output. */
  private viewChangeHost(): ViewChangeHost {
    return {
      finalHeight: () => this.finalHeight,
      lastHash: () => this.lastHash,
      lastCert: () => this.lastCert,
      windowSlots: () => this.windowSlots(),
      slot: (height) => this.slots.get(height),
      emit: (action) => {
        this.out.push(action)
      },
      reportEquivocation: (first, second) => this.reportEquivocation(first, second),
      requestSync: (target, probe) => this.requestSync(target, probe),
      viewMoved: () => {
        this.proposalRequested = null
      },
      cancelTimer: () => this.cancelTimer(),
      startViewChangeTimer: () => this.startTimer('viewchange'),
      pruneOldViews: () => this.pruneOldViews(),
      resumeNormalCase: () => this.afterViewOrHeightChange(),
    }
  }

  // ---------- getters for the node's RPC ----------

  get view(): number {
    return this.vc.view
  }

  /** last final height */
  get height(): number {
    return this.finalHeight
  }

  get phase(): EnginePhase {
    return this.vc.phase
  }

  get primary(): Validator {
    return this.config.validators.primary(this.view)
  }

  get isPrimary(): boolean {
    return this.config.selfIndex !== null && this.primary.index === this.config.selfIndex
  }

  /** the slots of the equivocations seen (the latest 64), without their messages */
  get evidence(): readonly EvidenceSlot[] {
    return this.evidenceLog.all
  }

  status(): EngineStatus {
    return {
      view: this.view,
      height: this.finalHeight,
      phase: this.phase,
      primary: this.primary.index,
      isPrimary: this.isPrimary,
      loggedMessages:
        this.windowSlots().reduce((n, s) => n + s.size, 0) + this.ahead.size + this.vc.loggedMessages,
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
        this.inPhase.txsAvailable()
        break
      case 'proposal':
        if (this.takeProposalRequest(event.view, event.height))
          this.inPhase.proposal(event.view, event.height, event.block)
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

  /** The handlers of the phase the replica is in now. */
  private get inPhase(): PhaseHandlers {
    return this.phases[this.phase]
  }

  /**
   * §4.4: a replica changing view takes part in no normal-case round, and votes only in its view.
   * Checked again inside the normal case, not only by the dispatch: one step can change the view
   * half-way (a rejection quorum, a replayed message, a NEW-VIEW's re-proposals).
   */
  private votesIn(view: number): boolean {
    return this.phase === 'normal' && view === this.view
  }

  // ---------- restart ----------

  private restoreWal(init: EngineInit): void {
    for (const rec of init.wal) {
      if (rec.kind !== 'viewchange' && rec.kind !== 'newview' && recordHeight(rec) > this.finalHeight)
        this.rememberVote(rec)
    }
    this.vc.restore(init.wal)
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
    for (const rec of this.walVotes.get(slot.height) ?? []) slot.restoreOwnVote(rec)
    return slot
  }

  private onStart(): void {
    if (this.config.selfIndex === null) return
    this.vc.requestNewView()
    this.inPhase.start()
  }

  /** Normal phase, after a restart: re-send the votes of the open heights (peers may have missed them). */
  private resendOwnVotes(): void {
    for (const slot of this.windowSlots())
      for (const rec of this.walVotes.get(slot.height) ?? [])
        this.out.push({ type: 'broadcast', msg: rec.msg })
    this.ensureProgressTimer()
  }

  // ---------- messages ----------

  private onMessage(msg: ConsensusMessage, verified: boolean): void {
    const { validators, chainId } = this.config
    if (!Number.isInteger(msg.sender) || msg.sender < 0 || msg.sender >= validators.n) return
    if (msg.kind === 'viewchange' || msg.kind === 'newview') {
      const view = msg.kind === 'viewchange' ? msg.newView : msg.view
      if (view > this.view + VIEW_CHANGES_KEPT_AHEAD) return
    }
    if (this.isDuplicate(msg)) return
    if (!verified && !verifyConsensusMessage(msg, chainId, validators)) return
    switch (msg.kind) {
      case 'viewchange':
        this.inPhase.viewChange(msg)
        return
      case 'newview':
        this.inPhase.newView(msg)
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
        this.inPhase.slotMessage(slot, msg)
        return
      }
    }
  }

  private viewInWindow(view: number): boolean {
    return view + VIEWS_KEPT_BEHIND >= this.view && view <= this.view + VIEWS_KEPT_AHEAD
  }

  /** A message already logged (same sender, slot and signature) is dropped before any crypto. */
  private isDuplicate(msg: ConsensusMessage): boolean {
    if (msg.kind === 'viewchange' || msg.kind === 'newview') return this.vc.isDuplicate(msg)
    let known: { signature: Uint8Array } | undefined
    const slot = this.slots.get(msg.height)
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
    }
    return known !== undefined && bytesEqual(known.signature, msg.signature)
  }

  // ---------- normal case (§4.2) ----------

  /** Normal phase: log the message and take the step of the agreement it allows. */
  private onSlotMessage(slot: HeightSlot, msg: SlotMessage): void {
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
      case 'commit':
        this.onCommitVote(slot, msg)
        return
      case 'reject':
        // A second rejection of another digest in the same view is the primary's equivocation, not the sender's.
        if (slot.rejects.add(msg).status === 'new') this.checkRejects(slot, msg.view)
        return
    }
  }

  /**
   * View-change phase. §4.4 has a changing replica accept only CHECKPOINT, VIEW-CHANGE and NEW-VIEW;
   * here the normal-case messages are still logged, though nothing is sent for them: 2f+1 COMMITs
   * are a certificate whatever the view (our checkpoint), and messages of the new view may arrive
   * before its NEW-VIEW (`afterViewOrHeightChange` takes them up once it is installed).
   */
  private logSlotMessage(slot: HeightSlot, msg: SlotMessage): void {
    switch (msg.kind) {
      case 'preprepare': {
        const h = hashHex(msg.block)
        const r = slot.addPrePrepare(msg, h)
        if (r.status === 'conflict') this.reportEquivocation(r.existing, msg)
        if (r.status === 'new') this.checkWaitingCommits(slot, h)
        return
      }
      case 'prepare': {
        const r = slot.prepares.add(msg)
        if (r.status === 'conflict') this.reportEquivocation(r.existing, msg)
        return
      }
      case 'commit':
        this.onCommitVote(slot, msg)
        return
      case 'reject':
        slot.rejects.add(msg)
        return
    }
  }

  /** Both phases: a COMMIT counts towards a certificate whatever our view (§4.2 committed). */
  private onCommitVote(slot: HeightSlot, msg: CommitMsg): void {
    const r = slot.commits.add(msg)
    if (r.status === 'conflict') {
      this.reportEquivocation(r.existing, msg)
      return
    }
    if (r.status === 'new') this.checkCommitted(slot, msg.view, toHex(msg.blockHash))
  }

  /** §4.2: a backup accepts a PRE-PREPARE only in its view, from the primary, once per (v, n). */
  private onPrePrepare(slot: HeightSlot, pp: PrePrepareMsg): void {
    const h = hashHex(pp.block)
    const r = slot.addPrePrepare(pp, h)
    if (r.status === 'conflict') {
      this.reportEquivocation(r.existing, pp)
      // Two signed proposals for one (v, n) prove the primary faulty: change view now (§4.4).
      if (pp.view === this.view) this.vc.start(this.view + 1)
      return
    }
    if (r.status === 'duplicate') return
    if (pp.view === this.view) {
      this.tryAccept(slot, pp.view)
      this.ensureProgressTimer()
    }
    this.checkWaitingCommits(slot, h)
  }

  /** Commits may have been waiting for this block (a certificate is proof whatever our view). */
  private checkWaitingCommits(slot: HeightSlot, h: string): void {
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
      const hex = slot?.heldIn(view, by)
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
    return this.slots.get(height - 1)?.heldIn(view, by)
  }

  private tryAccept(slot: HeightSlot, view: number): void {
    if (!this.votesIn(view)) return
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
    // §4.4: the constraint of the NEW-VIEW that started this view (NewViewConstraint.ruleFor).
    const rule = this.vc.constraint.ruleFor(view, slot.height, h)
    if (rule === 'closed') return
    if (pp.block.header.view !== view && rule !== 'reproposed') {
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
      const prepare = signPrepare(this.config, view, slot.height, pp.block)
      this.persistVote({ kind: 'prepare', prePrepare: pp, msg: prepare })
      this.out.push({ type: 'broadcast', msg: prepare })
      slot.recordOwnPrepare(prepare, h)
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
      // Persisted like a vote: a restarted replica must not PREPARE what it rejected (a verdict that
      // depends on the clock, or a parent it had prepared, could differ after the restart).
      this.persistVote({ kind: 'reject', msg })
      this.out.push({ type: 'broadcast', msg })
    }
    this.checkRejects(slot, pp.view)
  }

  /** docs/CONSENSUS.md "Consensus rules": f+1 rejections include an honest one, so the primary is faulty: change view at once. */
  private checkRejects(slot: HeightSlot, view: number): void {
    if (!this.votesIn(view)) return
    if (slot.rejects.senderCount(view) >= this.config.validators.f + 1) this.vc.start(this.view + 1)
  }

  /** §4.2: prepared = the accepted PRE-PREPARE + quorum-1 (2f) matching PREPAREs from other replicas; then COMMIT. */
  private checkPrepared(slot: HeightSlot, view: number): void {
    const { selfIndex, validators } = this.config
    if (selfIndex === null || !this.votesIn(view)) return
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
    const commit = signCommit(this.config, view, slot.height, prepared.blockHash)
    this.persistVote({ kind: 'commit', prepared, msg: commit })
    this.out.push({ type: 'broadcast', msg: commit })
    slot.recordOwnCommit(commit, h, prepared)
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

  // ---------- final blocks (§4.3) ----------

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
    this.lastFinalTxs = block.txs.length
    this.lastCert = certificate
    const viewAdopted = this.vc.onCommit(certificate)
    this.pendingTxs = false // the driver re-signals txs_available while its mempool still holds some
    if (this.proposalRequested !== null && this.proposalRequested.height <= this.finalHeight)
      this.proposalRequested = null
    for (const h of this.walVotes.keys()) if (h <= this.finalHeight) this.walVotes.delete(h)
    for (const [s, h] of this.aheadHeights)
      if (h <= this.finalHeight + this.depth) this.aheadHeights.delete(s)
    this.slots.delete(this.finalHeight)
    this.fillWindow()
    this.pruneWal()
    if (this.timer?.kind === 'progress' || viewAdopted) this.cancelTimer()
    this.vc.installProposal()
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

  private afterViewOrHeightChange(): void {
    const final = this.finalHeight
    for (const slot of this.windowSlots()) {
      if (this.finalHeight !== final) return // a commit from a replay moved the window
      this.tryAccept(slot, this.view)
      this.checkPrepared(slot, this.view)
    }
    this.ensureProgressTimer()
    this.maybeRequestProposal()
  }

  private pruneOldViews(): void {
    const min = this.view - VIEWS_KEPT_BEHIND
    for (const slot of this.slots.values()) slot.pruneViewsBelow(min)
    for (const [k, m] of this.ahead) if ('view' in m && m.view < min) this.ahead.delete(k)
  }

  // ---------- proposing ----------

  /**
   * docs/CONSENSUS.md "Consensus rules": a block only when txs wait. Pipelining: the next height is the lowest inside the
   * watermarks without a PRE-PREPARE of this view, built on this primary's own block below it.
   */
  private maybeRequestProposal(): void {
    if (!this.isPrimary || !this.votesIn(this.view) || !this.pendingTxs) return
    if (this.proposalRequested !== null) return // one at a time; the answer asks for the next
    let slot: HeightSlot | undefined
    for (const s of this.windowSlots()) {
      if (!s.prePrepares.has(this.view)) {
        slot = s
        break
      }
    }
    if (slot === undefined || !this.vc.constraint.freshProposalAllowed(this.view, slot.height)) return
    const ancestors = this.chainBelow(slot.height, this.view, 'accepted')
    if (ancestors === null) return
    const parent = ancestors.at(-1)
    this.proposalRequested = { view: this.view, height: slot.height }
    this.out.push({
      type: 'request_proposal',
      view: this.view,
      height: slot.height,
      parentHash: parent === undefined ? this.lastHash : blockHash(parent.header),
      parentHeader: parent === undefined ? this.lastHeader : parent.header,
      ancestors,
    })
  }

  /** Consumes the pending request_proposal when this answers it (any other answer is stale). */
  private takeProposalRequest(view: number, height: number): boolean {
    const r = this.proposalRequested
    if (r === null || r.view !== view || r.height !== height) return false
    this.proposalRequested = null
    return true
  }

  /** Normal phase, the answer to our request: §4.2 the primary multicasts PRE-PREPARE. */
  private onProposal(view: number, height: number, block: Block | null): void {
    const { signer, selfIndex, chainId } = this.config
    const slot = this.slots.get(height)
    if (!this.isPrimary || view !== this.view || slot === undefined) return
    if (signer === null || selfIndex === null) return
    if (block === null) {
      this.pendingTxs = false
      return
    }
    if (slot.prePrepares.has(view) || !this.vc.constraint.freshProposalAllowed(this.view, height)) return
    const hd = block.header
    if (hd.height !== height || hd.view !== view || hd.chainId !== chainId) return
    const parent = this.parentFor(height, view, 'accepted')
    if (parent === undefined || toHex(hd.parentHash) !== parent || !bytesEqual(hd.proposer, signer.publicKey))
      return
    const pp = signPrePrepare(this.config, view, height, block)
    this.persistVote({ kind: 'preprepare', msg: pp })
    this.out.push({ type: 'broadcast', msg: pp })
    slot.recordOwnPrePrepare(pp, hashHex(block))
    this.checkPrepared(slot, view)
    this.ensureProgressTimer()
    this.maybeRequestProposal()
  }

  // ---------- timers ----------

  private timeoutMs(): number {
    const { viewChangeBaseMs, viewChangeMaxMs } = this.config.timeouts
    return Math.min(viewChangeMaxMs, viewChangeBaseMs * 2 ** Math.min(this.vc.attempts, 30))
  }

  private startTimer(kind: TimerState['kind']): void {
    const height = this.finalHeight + 1
    this.timer = { kind, view: this.view, height }
    const ms = this.timeoutMs() + (kind === 'progress' ? this.blockAllowanceMs(height) : 0)
    this.out.push({ type: 'start_timer', view: this.view, height, ms })
  }

  /**
   * The progress timer's allowance for the work in flight (docs/CONSENSUS.md "Consensus rules",
   * timers): `perTxMs` per tx of the block this replica accepted (validated) at `height` in this view;
   * before it accepted one, per tx of the last block it finalized — the primary still has to build
   * the next block and every replica to validate it, and under load blocks keep their size. Both
   * are blocks that passed validation, so the allowance is bounded by the block limit: a faulty
   * primary gains at most one allowance per timer, which a correct one needs as much.
   */
  private blockAllowanceMs(height: number): number {
    const perTx = this.config.timeouts.perTxMs ?? 0
    if (perTx <= 0) return 0
    const slot = this.slots.get(height)
    const digest = slot?.accepted.get(this.view)
    const block = digest === undefined ? undefined : slot?.blocks.get(digest)
    return Math.round(perTx * (block === undefined ? this.lastFinalTxs : block.txs.length))
  }

  private cancelTimer(): void {
    if (this.timer === null) return
    this.timer = null
    this.out.push({ type: 'cancel_timer' })
  }

  private armResume(): void {
    if (this.timer?.kind === 'resume') return
    const height = this.finalHeight + 1
    this.timer = { kind: 'resume', view: this.view, height }
    this.out.push({ type: 'start_timer', view: this.view, height, ms: 0 })
  }

  /** §4.4: a backup runs a timer while work is pending (txs waiting, a proposal not yet final). */
  private ensureProgressTimer(): void {
    if (this.config.selfIndex === null || !this.votesIn(this.view)) return
    if (this.timer?.kind === 'resume') return // the resume re-arms it
    const pending = this.pendingTxs || this.windowSlots().some((s) => s.prePrepares.has(this.view))
    if (!pending) return
    const t = this.timer
    if (t !== null && t.kind === 'progress' && t.view === this.view && t.height === this.finalHeight + 1)
      return
    this.startTimer('progress')
  }

  private onTimeout(view: number, height: number): void {
    const t = this.timer
    if (t === null || t.view !== view || t.height !== height) return
    this.timer = null
    if (t.kind === 'resume') {
      this.afterViewOrHeightChange()
      return
    }
    // A sync attempt may have failed (peer gone, partition): retry at each timeout while behind.
    if (this.knownFinal > this.finalHeight) this.requestSync(this.knownFinal, true)
    this.inPhase.timeout(t)
  }

  /**
   * Normal phase: §4.4 the pending work was not committed in time, the primary is suspect — unless
   * blocks above ours are proven final: then the primary is working and this replica lags (restarted,
   * wiped, slow disk, sync between rounds). A VIEW-CHANGE from it would leave it alone in the next
   * view, not voting until the others change view too; so, once per height, it waits one more
   * timeout for block sync (asked again in `onTimeout`). Each height it finalizes restarts the timer
   * anyway. Always safe (it only delays a VIEW-CHANGE), and bounded: no progress by the next
   * timeout, and it suspects the primary (docs/CONSENSUS.md "Consensus rules").
   */
  private onProgressTimeout(t: TimerState): void {
    if (t.kind !== 'progress' || t.view !== this.view) return
    const key = `${t.view}/${t.height}`
    if (this.provenFinal > this.finalHeight && this.laggingHeld !== key) {
      this.laggingHeld = key
      this.startTimer('progress')
      return
    }
    this.vc.start(t.view + 1)
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
    if (!probe && target > this.provenFinal) this.provenFinal = target
    const r = this.syncRequested
    // Asked once per (height, view): a failed attempt is retried when the view moves on or a timer fires.
    if (!probe && r !== null && r.from === this.finalHeight && r.view === this.view && r.target >= target)
      return
    this.syncRequested = { from: this.finalHeight, target, view: this.view }
    this.out.push({ type: 'request_sync', height: target })
  }

  // ---------- evidence, WAL ----------

  private reportEquivocation(first: ConsensusMessage, second: ConsensusMessage): void {
    const evidence = this.evidenceLog.record(first, second)
    if (evidence !== null) this.out.push({ type: 'evidence', evidence })
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
    retain.push(...this.vc.walRecords())
    this.out.push({ type: 'prune_wal', retain })
  }
}

/**
 * The lowest certificate of `last`'s view among the final heights just below it (consecutive, so
 * no other view came between): a certificate of view v bounds what v's NEW-VIEW can re-propose by
 * its height, so the lowest one known keeps the heights that were open before a restart open.
 */
function lowestOfSameView(
  last: CommitCertificate | null,
  recent: readonly CommitCertificate[],
): CommitCertificate | null {
  if (last === null) return null
  const byHeight = new Map(recent.map((c) => [c.height, c]))
  let lowest = last
  for (;;) {
    const below = byHeight.get(lowest.height - 1)
    if (below === undefined || below.view !== last.view) return lowest
    lowest = below
  }
}
