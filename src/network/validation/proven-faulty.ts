import { type ConsensusKind, peekConsensusSender } from '../../codec/consensus.js'
import { GossipErrorCode, GossipValidationError } from '../gossip-validation.js'

/**
 * The validators this node holds verified equivocation evidence against (docs/PROTOCOL.md §2.5
 * "Proven-faulty validators"), each until its cool-down ends. While one is listed, its consensus
 * messages are Ignored from their sender field alone, before any decoding or signature check, its
 * peer gets a negative gossip score (gossipsub-config.ts), and the node hangs up on it and refuses
 * its connections (node-network.ts, libp2p-node.ts), so it costs this node next to nothing.
 *
 * Ignoring a message never affects safety, and at most f validators can ever be proven faulty, as
 * honest ones never sign two conflicting messages (docs/CONSENSUS.md "Proven-faulty validators").
 * Bounded: one entry per validator index (a u16), each dropped when its cool-down is over; proving
 * a validator again extends its exclusion, never shortens it. The clock is the wall clock (ms), as
 * evidence records carry their received_at in it and are reloaded across restarts.
 */
export class ProvenFaulty {
  /** validator index → end of its exclusion (ms) */
  private readonly until = new Map<number, number>()
  private readonly listeners: Array<(validator: number) => void> = []

  constructor(
    /** how long one proof excludes its validator, ms; 0 turns exclusion off */
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Excludes `validator` until `provenAt + cooldown`. Call only with evidence that verified against
   * the genesis keys (the evidence pool's). A proof whose cool-down is already over changes nothing.
   */
  prove(validator: number, provenAt: number = this.now()): void {
    if (this.cooldownMs <= 0) return
    const end = Math.min(provenAt, this.now()) + this.cooldownMs
    if (end <= this.now()) return
    if (end <= (this.until.get(validator) ?? 0)) return
    const isNew = !this.has(validator)
    this.until.set(validator, end)
    if (isNew) for (const l of this.listeners) l(validator)
  }

  /** Calls `listener` whenever a validator that was not excluded becomes so (the node hangs up on it). */
  onExcluded(listener: (validator: number) => void): void {
    this.listeners.push(listener)
  }

  /** Whether `validator`'s messages are dropped now. */
  has(validator: number): boolean {
    const end = this.until.get(validator)
    if (end === undefined) return false
    if (end > this.now()) return true
    this.until.delete(validator)
    return false
  }

  /** The validators excluded now, ascending. */
  list(): number[] {
    return [...this.until.keys()].filter((v) => this.has(v)).sort((a, b) => a - b)
  }
}

/**
 * The first check of every consensus topic's validator: Ignores a message whose sender field names a
 * proven-faulty validator. Ignore, not Reject: the relaying peer may be an honest node that has no
 * evidence yet, and must not be penalised for it. Unreadable bytes pass on to the full decoder.
 */
export function dropProvenFaulty(
  kind: ConsensusKind,
  data: Uint8Array,
  faulty: ProvenFaulty | undefined,
): void {
  if (faulty === undefined) return
  const sender = peekConsensusSender(kind, data)
  if (sender !== undefined && faulty.has(sender))
    throw new GossipValidationError('ignore', GossipErrorCode.proven_faulty)
}
