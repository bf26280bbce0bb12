import { TopicValidatorResult } from '@libp2p/interface'
import { CodecError } from '../codec/errors.js'
import type { NetworkLogger } from './logger.js'
import type { TopicKind } from './topics.js'

/**
 * The verdict on one gossip message (Lodestar style):
 * - accept: deliver to handlers and forward;
 * - ignore: drop without penalty — duplicates, stale or too-far-future messages, anything that
 *   depends on this node's local state (another honest node may legitimately judge otherwise);
 * - reject: drop and let gossipsub penalise the propagation source — only for objective faults
 *   any honest node sees the same way (malformed, oversized, bad signature, not a validator).
 */
export type GossipVerdict = 'accept' | 'ignore' | 'reject'

export type GossipAction = Exclude<GossipVerdict, 'accept'>

/** What a topic validator throws to Ignore or Reject with a reason that is counted per topic. */
export class GossipValidationError extends Error {
  override name = 'GossipValidationError'
  constructor(
    readonly action: GossipAction,
    readonly reason: string,
  ) {
    super(`${action}: ${reason}`)
  }
}

export type GossipValidator = (data: Uint8Array, from: string) => GossipVerdict | Promise<GossipVerdict>

export interface GossipTopicStats {
  accept: number
  ignore: number
  reject: number
  /** counts of ignore/reject by reason, e.g. `reject:bad_signature` */
  byReason: Record<string, number>
}

export type GossipResultHook = (kind: TopicKind, result: GossipVerdict, reason: string) => void

/** Per-topic accept/ignore/reject counters (also the source of the Prometheus counter). */
export class GossipStats {
  private readonly stats = new Map<TopicKind, GossipTopicStats>()

  constructor(private readonly hook?: GossipResultHook) {}

  record(kind: TopicKind, result: GossipVerdict, reason: string): void {
    let s = this.stats.get(kind)
    if (s === undefined) {
      s = { accept: 0, ignore: 0, reject: 0, byReason: {} }
      this.stats.set(kind, s)
    }
    s[result]++
    if (result !== 'accept') {
      const key = `${result}:${reason}`
      s.byReason[key] = (s.byReason[key] ?? 0) + 1
    }
    this.hook?.(kind, result, reason)
  }

  snapshot(): Partial<Record<TopicKind, GossipTopicStats>> {
    const out: Partial<Record<TopicKind, GossipTopicStats>> = {}
    for (const [kind, s] of this.stats) out[kind] = { ...s, byReason: { ...s.byReason } }
    return out
  }
}

const TO_GOSSIPSUB: Record<GossipVerdict, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
}

export interface TopicValidatorAdapterInit {
  kind: TopicKind
  validator: GossipValidator | undefined
  maxMessageBytes: number
  stats: GossipStats
  logger: NetworkLogger
}

/**
 * The one adapter from our validators to gossipsub's TopicValidatorResult: size check first (no
 * decoding of oversized input), then the validator; a thrown GossipValidationError carries its
 * action, a CodecError is a malformed message (Reject), any other throw is a bug on our side and
 * must not penalise the peer (Ignore). Every outcome is counted.
 */
export function adaptValidator(
  init: TopicValidatorAdapterInit,
): (data: Uint8Array, from: string) => Promise<TopicValidatorResult> {
  const { kind, validator, maxMessageBytes, stats, logger } = init
  return async (data, from) => {
    let verdict: GossipVerdict
    let reason: string
    if (data.length > maxMessageBytes) {
      verdict = 'reject'
      reason = 'oversized'
    } else if (validator === undefined) {
      verdict = 'accept'
      reason = ''
    } else {
      try {
        verdict = await validator(data, from)
        reason = verdict === 'accept' ? '' : 'unspecified'
      } catch (err) {
        if (err instanceof GossipValidationError) {
          verdict = err.action
          reason = err.reason
        } else if (err instanceof CodecError) {
          verdict = 'reject'
          reason = 'malformed'
        } else {
          verdict = 'ignore'
          reason = 'validator_error'
          logger.error({ err, topic: kind }, 'gossip validator threw')
        }
      }
    }
    stats.record(kind, verdict, reason)
    if (verdict !== 'accept')
      logger.debug({ topic: kind, from, verdict, reason }, 'gossip message not accepted')
    return TO_GOSSIPSUB[verdict]
  }
}
