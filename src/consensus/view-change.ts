import {
  type ConsensusMessage,
  type NewViewMsg,
  newViewSignBytes,
  type PrePrepareMsg,
  type PreparedCert,
  stripViewChange,
  type ViewChangeMsg,
  viewChangeSignBytes,
  type WalRecord,
} from '../codec/consensus.js'
import type { BlockHeader, CommitCertificate } from '../codec/types.js'
import { bytesEqual } from '../crypto/hash.js'
import { type HeightSlot, hashHex } from './height-slot.js'
import { computeNewViewProposal, linkedPrefix, NewViewConstraint, type NewViewProposal } from './new-view.js'
import { signPrePrepare } from './signing.js'
import type { EngineAction, EngineConfig, EnginePhase } from './types.js'

/**
 * What the view change needs from the engine that owns it: the checkpoint and the log (read), and
 * the engine's own reactions to a change of view (its timer, its proposal request, its log).
 */
export interface ViewChangeHost {
  /** last final height, and the hash and certificate of that block: the stable checkpoint (§4.3) */
  finalHeight(): number
  lastHash(): Uint8Array
  lastCert(): CommitCertificate | null
  /** the slots inside the watermarks, lowest height first */
  windowSlots(): HeightSlot[]
  slot(height: number): HeightSlot | undefined
  emit(action: EngineAction): void
  reportEquivocation(first: ConsensusMessage, second: ConsensusMessage): void
  requestSync(target: number, probe: boolean): void
  /** the view moved on: a proposal requested in the old one is void */
  viewMoved(): void
  cancelTimer(): void
  startViewChangeTimer(): void
  /** drops the votes of views too far below the current one */
  pruneOldViews(): void
  /** the normal case resumes in the view just entered: re-check every slot, propose */
  resumeNormalCase(): void
}

/**
 * The view-change protocol (§4.4, TOCS §4.5.2) and the state it owns: the current view and phase,
 * the VIEW-CHANGEs collected, the NEW-VIEWs sent and received, and the constraint the last NEW-VIEW
 * puts on its view. Pure like the engine: every effect goes through the host.
 */
export class ViewChange {
  private viewNo: number
  private phaseNow: EnginePhase = 'normal'
  /** consecutive view changes without a commit: the timeout doubles with each, up to the cap */
  private attemptsNow = 0
  /** the constraint of the NEW-VIEW that started the current view (or of the last one known) */
  private nv = NewViewConstraint.NONE
  /** the latest VIEW-CHANGE of each validator for a view above ours (or ours while changing) */
  private readonly viewChanges = new Map<number, ViewChangeMsg>()
  private myViewChange: ViewChangeMsg | null = null
  private myNewView: NewViewMsg | null = null
  private lastNewView: NewViewMsg | null = null
  private readonly newViewResent = new Set<string>()
  private needViewChangeOnStart = false
  /**
   * false after joining a view from a commit certificate (adoptCertifiedView) without its NEW-VIEW:
   * until that NEW-VIEW arrives, heights O may have fixed stay closed here (`nv.freeFrom`).
   */
  private nvKnown = true
  /** ask the others to re-send the current view's NEW-VIEW (at the next chance to send) */
  private askNewView = false
  /** the view whose view-change timer was restarted when 2f+1 VIEW-CHANGEs for it were in */
  private quorumTimerView = -1
  /** the view whose escalation at timeout was held once because f+1 validators were seen working in it */
  private heldView = -1

  constructor(
    private readonly config: EngineConfig,
    private readonly host: ViewChangeHost,
    view: number,
  ) {
    this.viewNo = view
  }

  /** the current view: the one this replica works in, or is changing to */
  get view(): number {
    return this.viewNo
  }

  get phase(): EnginePhase {
    return this.phaseNow
  }

  /** consecutive view changes without a commit (the timeout doubles with each) */
  get attempts(): number {
    return this.attemptsNow
  }

  /** messages held here (bounded: one VIEW-CHANGE per validator) */
  get loggedMessages(): number {
    return this.viewChanges.size
  }

  private get isPrimary(): boolean {
    return (
      this.config.selfIndex !== null &&
      this.config.validators.primary(this.view).index === this.config.selfIndex
    )
  }

  // ---------- restart ----------

  /** The view records of the WAL: the latest VIEW-CHANGE this replica sent and the NEW-VIEWs it knows. */
  restore(wal: readonly WalRecord[]): void {
    let lastNv: NewViewMsg | null = null
    for (const rec of wal) {
      if (rec.kind === 'viewchange') {
        if (this.myViewChange === null || rec.msg.newView > this.myViewChange.newView)
          this.myViewChange = rec.msg
      } else if (rec.kind === 'newview') {
        if (lastNv === null || rec.msg.view > lastNv.view) lastNv = rec.msg
        if (rec.msg.sender === this.config.selfIndex) {
          if (this.myNewView === null || rec.msg.view > this.myNewView.view) this.myNewView = rec.msg
        }
      }
    }
    if (lastNv !== null && lastNv.view >= this.view)
      this.adoptNewView(lastNv, computeNewViewProposal(lastNv.viewChanges))
    const vcView = this.myViewChange?.newView ?? -1
    if (vcView > (lastNv?.view ?? -1) && vcView >= this.view && this.myViewChange !== null) {
      this.viewNo = vcView
      this.phaseNow = 'viewchange'
      this.viewChanges.set(this.myViewChange.sender, this.myViewChange)
    } else if (this.view > 0 && this.view > (lastNv?.view ?? 0)) {
      // A view floor from the driver without a NEW-VIEW for it: we cannot act in it until one arrives.
      this.phaseNow = 'viewchange'
      this.needViewChangeOnStart = this.config.selfIndex !== null
    }
  }

  /** View-change phase, after a restart: (re-)send our VIEW-CHANGE and run the view-change timer. */
  resume(): void {
    if (this.needViewChangeOnStart) {
      this.needViewChangeOnStart = false
      this.sendViewChange()
    } else if (this.myViewChange !== null && this.myViewChange.newView === this.view) {
      // Re-send (identical, so not a second vote): peers may have missed it while we were down.
      this.host.emit({ type: 'broadcast', msg: this.myViewChange })
    }
    this.host.startViewChangeTimer()
    this.maybeSendNewView()
  }

  /** After a commit: only the latest view records still matter (with the votes above the final height). */
  walRecords(): WalRecord[] {
    const retain: WalRecord[] = []
    if (this.myViewChange !== null) retain.push({ kind: 'viewchange', msg: this.myViewChange })
    if (this.lastNewView !== null) retain.push({ kind: 'newview', msg: this.lastNewView })
    if (this.myNewView !== null && this.myNewView !== this.lastNewView)
      retain.push({ kind: 'newview', msg: this.myNewView })
    return retain
  }

  // ---------- VIEW-CHANGE and NEW-VIEW messages, per phase ----------

  /**
   * A VIEW-CHANGE or NEW-VIEW already logged (same sender and signature), or a NEW-VIEW for the view
   * this replica is in and whose NEW-VIEW it knows: dropped before any crypto.
   */
  isDuplicate(msg: ViewChangeMsg | NewViewMsg): boolean {
    const known =
      msg.kind === 'viewchange' ? this.viewChanges.get(msg.sender) : (this.lastNewView ?? undefined)
    return known !== undefined && bytesEqual(known.signature, msg.signature)
  }

  /**
   * Normal phase: a replica asking for our view missed its NEW-VIEW; one asking for a later view is
   * collected (f+1 of them make us join, TOCS §4.5.2).
   */
  onViewChangeInView(vc: ViewChangeMsg): void {
    if (!this.admitViewChange(vc)) return
    if (vc.newView === this.view) this.resendNewView(vc.sender)
    if (vc.newView > this.view) this.collectViewChange(vc)
  }

  /** View-change phase: VIEW-CHANGEs for our view or a later one are collected (§4.4). */
  onViewChangeWhileChanging(vc: ViewChangeMsg): void {
    if (this.admitViewChange(vc) && vc.newView >= this.view) this.collectViewChange(vc)
  }

  /** Normal phase: a NEW-VIEW for a later view, or for ours when we joined it from a certificate. */
  onNewViewInView(nv: NewViewMsg): void {
    if (nv.view < this.view) return
    if (nv.view === this.view && this.nvKnown) {
      // A second, different NEW-VIEW for the view we are in: its primary signed two (§4.4 allows one).
      // Safe to ignore — replicas that accepted the first never accept the second — but it is evidence.
      const first = this.lastNewView
      if (first !== null && first.view === nv.view && first.sender === nv.sender)
        this.host.reportEquivocation(first, nv)
      return
    }
    this.acceptNewView(nv)
  }

  /** View-change phase: a NEW-VIEW for the view we are changing to, or a later one. */
  onNewViewWhileChanging(nv: NewViewMsg): void {
    if (nv.view < this.view) return
    this.acceptNewView(nv)
  }

  /** View-change phase, the view-change timer of `view` expired. */
  onTimeout(view: number): void {
    if (this.view !== view) return
    // §4.5.2: move on to v+1 only if 2f+1 replicas joined this view change and it still failed (and,
    // once, not while the view is seen working: holdEscalation); otherwise re-send our VIEW-CHANGE
    // (it may have been lost; it also asks the replicas in the view for their NEW-VIEW) and look for
    // blocks we miss.
    if (this.viewChangeCount(view) >= this.config.validators.quorum && !this.holdEscalation(view)) {
      this.start(view + 1)
    } else {
      if (this.myViewChange !== null && this.myViewChange.newView === view) {
        this.host.emit({ type: 'broadcast', msg: this.myViewChange })
      }
      this.host.requestSync(this.host.finalHeight() + 1, true)
      this.host.startViewChangeTimer()
    }
  }

  /**
   * True once per view when f+1 other validators sent normal-case messages of `view`: at least one
   * honest replica installed its NEW-VIEW, which this replica missed (lost or late under load).
   * Moving on to view + 1 now would leave it alone there for good — it can never come back to a
   * lower view, and one VIEW-CHANGE is short of the f+1 that would pull the others. So it asks for
   * the NEW-VIEW once more (the caller re-sends its VIEW-CHANGE, to which every replica in the view
   * answers with its NEW-VIEW) and waits one more timeout; a commit certificate of `view` also brings
   * it in (adoptCertifiedView). Holding is always safe — it only delays a VIEW-CHANGE — and happens
   * once per view, so a view that dies after all still ends one timeout later (docs/CONSENSUS.md
   * "Consensus rules").
   */
  private holdEscalation(view: number): boolean {
    if (this.heldView === view) return false
    const { selfIndex, validators } = this.config
    const working = new Set<number>()
    for (const slot of this.host.windowSlots()) {
      const pp = slot.prePrepares.get(view)
      if (pp !== undefined) working.add(pp.sender)
      for (const i of slot.prepares.senders(view)) working.add(i)
      for (const i of slot.commits.senders(view)) working.add(i)
    }
    if (selfIndex !== null) working.delete(selfIndex)
    if (working.size < validators.f + 1) return false
    this.heldView = view
    return true
  }

  /** Checks common to both phases; false when the VIEW-CHANGE is ours, stale or an equivocation. */
  private admitViewChange(vc: ViewChangeMsg): boolean {
    if (vc.sender === this.config.selfIndex) return false
    // A certified checkpoint above ours proves we lag.
    if (vc.checkpointHeight > this.host.finalHeight()) this.host.requestSync(vc.checkpointHeight, false)
    const existing = this.viewChanges.get(vc.sender)
    if (existing !== undefined) {
      if (existing.newView === vc.newView) {
        this.host.reportEquivocation(existing, vc)
        return false
      }
      if (existing.newView > vc.newView) return false
    }
    return true
  }

  private collectViewChange(vc: ViewChangeMsg): void {
    const { selfIndex, validators } = this.config
    this.viewChanges.set(vc.sender, vc)
    // TOCS §4.5.2: a replica starts its view-change timer when it has 2f+1 VIEW-CHANGEs for the view,
    // so the new primary gets a whole timeout to send NEW-VIEW from then on; a timer started earlier
    // (when we alone began changing) could expire right after the quorum formed and push us one view
    // past the others for good.
    if (
      this.phase === 'viewchange' &&
      this.quorumTimerView !== this.view &&
      this.viewChangeCount(this.view) >= validators.quorum
    ) {
      this.quorumTimerView = this.view
      this.host.startViewChangeTimer()
      // The new primary may lack our VIEW-CHANGE — it (re)started after our last send, and our own
      // re-sends come only at timeouts without a quorum — while this timer, at its end, moves us on
      // to the next view: we would be alone there once its NEW-VIEW comes. So send ours once more now.
      if (this.myViewChange !== null && this.myViewChange.newView === this.view)
        this.host.emit({ type: 'broadcast', msg: this.myViewChange })
    }
    // TOCS §4.5.2: f+1 VIEW-CHANGEs for higher views include an honest replica: join the highest view
    // that f+1 of them reached (at least one honest replica is there), even before our timer fires.
    const higher: number[] = []
    for (const m of this.viewChanges.values())
      if (m.sender !== selfIndex && m.newView > this.view) higher.push(m.newView)
    if (higher.length >= validators.f + 1) {
      higher.sort((a, b) => b - a)
      this.start(higher[validators.f] as number)
    }
    this.maybeSendNewView()
  }

  /**
   * The replicas changing to `view` (TOCS §4.5.2 counts VIEW-CHANGEs for exactly that view): those
   * whose latest VIEW-CHANGE is for it, or for the view right after it — a replica one view ahead
   * gave up on this one too (its own timer ran out here with a quorum), and only its latest message
   * is kept. Never further: a single far-future VIEW-CHANGE would otherwise count in every view up to
   * its own and, with 2f honest replicas cut off from the rest, push them through view after view at
   * each timeout (docs/CONSENSUS.md "Consensus rules").
   */
  private viewChangeCount(view: number): number {
    let n = 0
    for (const vc of this.viewChanges.values()) if (vc.newView === view || vc.newView === view + 1) n++
    return n
  }

  // ---------- changing view ----------

  /** §4.4: stop accepting messages of the old view and multicast VIEW-CHANGE(v+1, checkpoint, P). */
  start(newView: number): void {
    if (this.config.selfIndex === null || newView <= this.view) return
    if (this.myViewChange !== null && this.myViewChange.newView >= newView) return
    this.viewNo = newView
    this.phaseNow = 'viewchange'
    this.attemptsNow++
    this.quorumTimerView = this.viewChangeCount(newView) + 1 >= this.config.validators.quorum ? newView : -1
    this.host.viewMoved()
    this.newViewResent.clear()
    this.host.cancelTimer()
    this.sendViewChange()
    this.host.pruneOldViews()
    this.host.startViewChangeTimer()
    this.maybeSendNewView()
  }

  /**
   * P (§4.4): this replica's highest-view prepared certificate per height above the checkpoint, as
   * long as they form a chain on the last final block. A certificate that does not extend the one
   * below it cannot be for a committed block (new-view.ts linkedPrefix), nor can any above it.
   */
  private preparedChain(): PreparedCert[] {
    const out: PreparedCert[] = []
    let parent = this.host.lastHash()
    for (const slot of this.host.windowSlots()) {
      const p = slot.prepared
      if (p === null || p.block === null || !bytesEqual(p.block.header.parentHash, parent)) break
      // §4.4: P holds certificates of views below the new one. A replica asking for the NEW-VIEW of
      // the view it is in (requestNewView) may have prepared in that view already; those are not P.
      if (p.view >= this.view) break
      out.push(p)
      parent = p.blockHash
    }
    return out
  }

  /**
   * Multicasts our VIEW-CHANGE for the current view. One per view: if we signed one already (we were
   * changing to this view, then joined it from a commit certificate, or restarted), the same message
   * goes out again — a second, different one would be an equivocation that peers record as evidence.
   */
  private sendViewChange(): void {
    const { selfIndex, signer, chainId } = this.config
    if (selfIndex === null || signer === null) return
    if (this.myViewChange !== null && this.myViewChange.newView === this.view) {
      this.host.emit({ type: 'broadcast', msg: this.myViewChange })
      this.viewChanges.set(selfIndex, this.myViewChange)
      return
    }
    const finalHeight = this.host.finalHeight()
    const body = {
      newView: this.view,
      sender: selfIndex,
      checkpointHeight: finalHeight,
      checkpoint: finalHeight === 0 ? null : this.host.lastCert(),
      prepared: this.preparedChain(),
    }
    const vc: ViewChangeMsg = {
      kind: 'viewchange',
      ...body,
      signature: signer.sign(viewChangeSignBytes(chainId, body)),
    }
    this.myViewChange = vc
    this.host.emit({ type: 'persist', record: { kind: 'viewchange', msg: vc } })
    this.host.emit({ type: 'broadcast', msg: vc })
    this.viewChanges.set(selfIndex, vc)
  }

  /** A replica still changing to our view missed its NEW-VIEW: send it once more. */
  private resendNewView(to: number): void {
    const nv = this.lastNewView
    if (nv === null || nv.view !== this.view || this.config.selfIndex === null) return
    const key = `${nv.view}/${to}`
    if (this.newViewResent.has(key)) return
    this.newViewResent.add(key)
    this.host.emit({ type: 'broadcast', msg: nv })
  }

  // ---------- the new view ----------

  /** §4.4: the new primary, with 2f+1 VIEW-CHANGEs for its view, multicasts NEW-VIEW(v, V, O). */
  private maybeSendNewView(): void {
    const { selfIndex, signer, chainId, validators } = this.config
    if (selfIndex === null || signer === null || this.phase !== 'viewchange' || !this.isPrimary) return
    if (this.myNewView !== null && this.myNewView.view >= this.view) return
    const vcs = [...this.viewChanges.values()]
      .filter((m) => m.newView === this.view)
      .sort((a, b) => a.sender - b.sender)
    if (vcs.length < validators.quorum) return
    const proposal = computeNewViewProposal(vcs)
    // Standalone VIEW-CHANGEs carry their blocks (verify.ts), so linkedPrefix sees every candidate's.
    const n = linkedPrefix(proposal)
    const prePrepares: PrePrepareMsg[] = []
    for (const [i, c] of proposal.candidates.slice(0, n).entries()) {
      if (c.block === null) return
      prePrepares.push(signPrePrepare(this.config, this.view, proposal.height + i, c.block))
    }
    const left = proposal.candidates[n]
    let stopHeader: BlockHeader | null = null
    if (left !== undefined) {
      if (left.block === null) return
      stopHeader = left.block.header
    }
    const body = {
      view: this.view,
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
    this.host.emit({ type: 'persist', record: { kind: 'newview', msg: nv } })
    this.host.emit({ type: 'broadcast', msg: nv })
    this.enterNewView(nv, proposal)
  }

  private acceptNewView(nv: NewViewMsg): void {
    if (this.config.selfIndex !== null)
      this.host.emit({ type: 'persist', record: { kind: 'newview', msg: nv } })
    this.enterNewView(nv, computeNewViewProposal(nv.viewChanges))
  }

  private adoptNewView(nv: NewViewMsg, proposal: NewViewProposal): void {
    this.viewNo = nv.view
    this.phaseNow = 'normal'
    this.nvKnown = true
    this.askNewView = false
    this.lastNewView = nv
    this.nv = NewViewConstraint.of(nv, proposal)
  }

  /** §4.4: enter view v; its O (the re-proposal) is processed like any PRE-PREPARE. */
  private enterNewView(nv: NewViewMsg, proposal: NewViewProposal): void {
    this.adoptNewView(nv, proposal)
    this.host.viewMoved()
    this.newViewResent.clear()
    this.host.cancelTimer()
    for (const [s, vc] of this.viewChanges) if (vc.newView <= nv.view) this.viewChanges.delete(s)
    this.host.pruneOldViews()
    if (proposal.height - 1 > this.host.finalHeight()) this.host.requestSync(proposal.height - 1, false)
    this.installProposal()
    this.host.resumeNormalCase()
  }

  /** Puts the NEW-VIEW's re-proposals into the log of the heights inside the watermarks. */
  installProposal(): void {
    for (const pp of this.nv.reproposals()) {
      const slot = this.host.slot(pp.height)
      if (slot !== undefined) this.installReproposal(slot, pp)
    }
  }

  private installReproposal(slot: HeightSlot, pp: PrePrepareMsg): void {
    const h = hashHex(pp.block)
    const existing = slot.prePrepares.get(pp.view)
    if (existing !== undefined && hashHex(existing.block) !== h && !slot.accepted.has(pp.view)) {
      this.host.reportEquivocation(existing, pp)
    }
    if (slot.accepted.has(pp.view) && slot.accepted.get(pp.view) !== h) return
    if (pp.sender === this.config.selfIndex) slot.recordOwnPrePrepare(pp, h)
    else slot.logPrePrepare(pp, h)
  }

  /** The constraint of the NEW-VIEW that started the current view (§4.4), read by the normal case. */
  get constraint(): NewViewConstraint {
    return this.nv
  }

  // ---------- joining a view from a commit certificate ----------

  /**
   * A block became final with `cert`: join its view if we are behind, ask for that view's NEW-VIEW
   * if we joined without it, and end the timeout doubling. True when the view was adopted.
   */
  onCommit(cert: CommitCertificate): boolean {
    const adopted = this.adoptCertifiedView(cert)
    this.requestNewView()
    this.attemptsNow = 0
    return adopted
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
  adoptCertifiedView(cert: CommitCertificate): boolean {
    const v = cert.view
    if (v < this.view || (v === this.view && this.phase === 'normal')) return false
    this.viewNo = v
    this.phaseNow = 'normal'
    this.needViewChangeOnStart = false
    this.nv = NewViewConstraint.unknown(cert)
    this.nvKnown = false
    this.askNewView = this.config.selfIndex !== null
    this.host.viewMoved()
    this.newViewResent.clear()
    for (const [s, vc] of this.viewChanges) if (vc.newView <= v) this.viewChanges.delete(s)
    return true
  }

  /**
   * After joining a view from a certificate: a VIEW-CHANGE for the view we are in makes every replica
   * that installed its NEW-VIEW send it again (`resendNewView`), which opens the heights its O did not
   * fix. Harmless as a VIEW-CHANGE: we are in that view already and never vote below it.
   */
  requestNewView(): void {
    if (!this.askNewView || this.config.selfIndex === null) return
    this.askNewView = false
    this.sendViewChange()
    this.viewChanges.delete(this.config.selfIndex)
  }
}
