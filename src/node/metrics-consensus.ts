import type { Block, CommitCertificate } from '../codec/types.js'
import type { EngineAction, EngineEvent } from '../consensus/types.js'
import type { NodeMetrics, ViewChangeCause } from './metrics.js'

/**
 * Consensus metrics measured in the node, never in the engine (which has no clock): the driver
 * shows every action before it runs (beforeAction) and every event with the status after its step
 * (afterStep), and that is enough to time phases and say why a view moved.
 */

/** Heights timed at once; the engine's window is at most MAX_PIPELINE_DEPTH, this only bounds garbage. */
const MAX_TIMED_HEIGHTS = 64

interface PhaseSlot {
  readonly view: number
  /** seconds (monotonic) when this replica accepted the PRE-PREPARE: persisted its own or its PREPARE */
  readonly prePrepared: number | undefined
  /** when it became prepared: persisted its COMMIT */
  prepared: number | undefined
}

/**
 * Per height and view: pre-prepare → prepared (the WAL record of this replica's PRE-PREPARE or
 * PREPARE, then of its COMMIT, which it writes once it holds 2f+1 matching PREPAREs) and prepared →
 * committed (then the commit action). An observer writes no votes, so it times nothing here.
 */
export class PhaseTimer {
  private readonly slots = new Map<number, PhaseSlot>()

  constructor(
    private readonly metrics: Pick<NodeMetrics, 'phaseDuration'>,
    private readonly now: () => number = () => performance.now() / 1000,
  ) {}

  action(action: EngineAction): void {
    if (action.type === 'commit') {
      this.committed(action.block.header.height)
      return
    }
    if (action.type !== 'persist') return
    const rec = action.record
    if (rec.kind === 'preprepare' || rec.kind === 'prepare') {
      const { view, height } = rec.msg
      if (this.slots.get(height)?.view === view) return
      this.put(height, { view, prePrepared: this.now(), prepared: undefined })
    } else if (rec.kind === 'commit') {
      const { view, height } = rec.msg
      const slot = this.slots.get(height)
      const t = this.now()
      if (slot === undefined || slot.view !== view) {
        // prepared without a PRE-PREPARE of this view seen here (a NEW-VIEW carried it)
        this.put(height, { view, prePrepared: undefined, prepared: t })
        return
      }
      if (slot.prepared !== undefined) return
      slot.prepared = t
      if (slot.prePrepared !== undefined)
        this.metrics.phaseDuration.observe({ phase: 'pre_prepare_to_prepared' }, t - slot.prePrepared)
    }
  }

  /** Heights being timed (for tests: the map stays bounded). */
  get size(): number {
    return this.slots.size
  }

  private committed(height: number): void {
    const slot = this.slots.get(height)
    if (slot?.prepared !== undefined)
      this.metrics.phaseDuration.observe({ phase: 'prepared_to_committed' }, this.now() - slot.prepared)
    for (const h of this.slots.keys()) if (h <= height) this.slots.delete(h)
  }

  private put(height: number, slot: PhaseSlot): void {
    this.slots.set(height, slot)
    if (this.slots.size > MAX_TIMED_HEIGHTS) {
      const lowest = Math.min(...this.slots.keys())
      this.slots.delete(lowest)
    }
  }
}

/**
 * What moved the view in a step (the `cause` label of pbft_view_changes_total): the view-change
 * timer, f+1 VIEW-CHANGEs for a later view (TOCS §4.5.2), a NEW-VIEW, or a commit certificate of a
 * later view (a COMMIT quorum or a synced block: the replica joins that view).
 */
export function viewChangeCause(event: EngineEvent): ViewChangeCause {
  switch (event.type) {
    case 'timeout':
      return 'timeout'
    case 'block_synced':
      return 'certificate'
    case 'message':
      if (event.msg.kind === 'viewchange') return 'view_change_votes'
      if (event.msg.kind === 'newview') return 'new_view'
      if (event.msg.kind === 'commit') return 'certificate'
      return 'other'
    default:
      return 'other'
  }
}

/**
 * A block became final here: its interval from its parent (header timestamps, chosen by the
 * proposers, so every node reports the same interval and a synced block counts like any other) and
 * which validators its certificate lacks. A certificate holds the first 2f+1 COMMITs its holder saw,
 * so up to f missing is normal; a validator missing from every one is down or cut off.
 */
export function recordFinalBlock(
  metrics: Pick<NodeMetrics, 'blockInterval' | 'certificateMissing' | 'validatorMissed' | 'validatorCount'>,
  block: Block,
  certificate: CommitCertificate,
  parentTimestampMs: number | undefined,
): void {
  if (parentTimestampMs !== undefined && block.header.height > 1)
    metrics.blockInterval.observe(Math.max(0, block.header.timestamp - parentTimestampMs) / 1000)
  const present = new Set(certificate.votes.map((v) => v.validator))
  let missing = 0
  for (let i = 0; i < metrics.validatorCount; i++) {
    if (present.has(i)) continue
    missing++
    metrics.validatorMissed.inc({ validator: String(i) })
  }
  metrics.certificateMissing.set(missing)
}
