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

/**
 * Why a message was not accepted. The values are the `reason` label of
 * `pbft_gossip_messages_total` and the keys of `GossipTopicStats.byReason`: dashboards and tests
 * match on them, so a value never changes once released (add a new code instead).
 */
export const GossipErrorCode = {
  /** `data` over the gossip size limit; nothing was decoded */
  oversized: 'oversized',
  /** does not decode (a CodecError): the bytes are wrong whoever looks at them */
  malformed: 'malformed',
  /** the decoder failed with something other than a CodecError */
  decode_failed: 'decode_failed',
  /** consensus message: sender not a validator, structurally invalid, or a signature fails */
  bad_signature_or_sender: 'bad_signature_or_sender',
  /** compact PRE-PREPARE: its tx hashes do not give the header's tx_root (docs/PROTOCOL.md §3.7) */
  bad_tx_root: 'bad_tx_root',
  /** consensus message for a height this node has finalised (and the one below it) */
  stale: 'stale',
  /** VIEW-CHANGE / NEW-VIEW for a view below this node's current view */
  stale_view: 'stale_view',
  /** consensus message for a view too far above this node's (docs/PROTOCOL.md §3.7) */
  far_view: 'far_view',
  /** its signer used up its per-validator budget (docs/PROTOCOL.md §2.5); not verified */
  rate_limited: 'rate_limited',
  /** its signer is a validator this node holds equivocation evidence against (§2.5); not decoded */
  proven_faulty: 'proven_faulty',
  /** a tx names another chain */
  wrong_chain: 'wrong_chain',
  /** a tx signature does not verify */
  invalid_signature: 'invalid_signature',
  /**
   * consensus message this node accepted within the last 30 s, received again after gossip's seen
   * cache forgot it (IHAVE/IWANT): not delivered, relayed or announced again (validation/recent.ts)
   */
  duplicate: 'duplicate',
  /** the validator threw something unexpected: our bug, never the peer's fault */
  validator_error: 'validator_error',
  /** the topic has no validator: a wiring bug, failed closed */
  no_validator: 'no_validator',
  /** the validator returned ignore/reject without saying why (a tx batch with nothing new) */
  unspecified: 'unspecified',
} as const

export type GossipErrorCode = (typeof GossipErrorCode)[keyof typeof GossipErrorCode]

/** What a topic validator throws to Ignore or Reject with a reason that is counted per topic. */
export class GossipValidationError extends Error {
  override name = 'GossipValidationError'
  constructor(
    readonly action: GossipAction,
    readonly code: GossipErrorCode,
  ) {
    super(`${action}: ${code}`)
  }
}

export type GossipValidator = (data: Uint8Array, from: string) => GossipVerdict | Promise<GossipVerdict>

/**
 * One validator for every topic. A Record, not a Partial: a topic left out is a compile error, so no
 * topic can end up unvalidated by accident (at run time adaptValidator still fails closed).
 */
export type GossipValidators = Readonly<Record<TopicKind, GossipValidator>>

/** The reason of an outcome: a code for ignore/reject, '' for accept (the metric's label value). */
export type GossipReason = GossipErrorCode | ''

export interface GossipTopicStats {
  accept: number
  ignore: number
  reject: number
  /** counts of ignore/reject by reason, e.g. `reject:bad_signature_or_sender` */
  byReason: Partial<Record<`${GossipAction}:${GossipErrorCode}`, number>>
}

export type GossipResultHook = (kind: TopicKind, result: GossipVerdict, reason: GossipReason) => void

/** Per-topic accept/ignore/reject counters (also the source of the Prometheus counter). */
export class GossipStats {
  private readonly stats = new Map<TopicKind, GossipTopicStats>()

  constructor(private readonly hook?: GossipResultHook) {}

  record(kind: TopicKind, result: GossipVerdict, reason: GossipReason): void {
    let s = this.stats.get(kind)
    if (s === undefined) {
      s = { accept: 0, ignore: 0, reject: 0, byReason: {} }
      this.stats.set(kind, s)
    }
    s[result]++
    if (result !== 'accept' && reason !== '') {
      const key = `${result}:${reason}` as const
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
  /** undefined only if a caller got past the GossipValidators type (a cast, plain JS) */
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
 *
 * A topic without a validator Rejects: accepting would relay unchecked bytes to every peer under
 * this node's name, and that wiring bug would go unnoticed. It is logged as an error once per topic
 * (not per message, which a busy topic would turn into a flood).
 */
export function adaptValidator(
  init: TopicValidatorAdapterInit,
): (data: Uint8Array, from: string) => Promise<TopicValidatorResult> {
  const { kind, validator, maxMessageBytes, stats, logger } = init
  let missingReported = false
  return async (data, from) => {
    let verdict: GossipVerdict
    let reason: GossipReason
    if (data.length > maxMessageBytes) {
      verdict = 'reject'
      reason = GossipErrorCode.oversized
    } else if (validator === undefined) {
      verdict = 'reject'
      reason = GossipErrorCode.no_validator
      if (!missingReported) {
        missingReported = true
        logger.error({ topic: kind }, 'no gossip validator for this topic: rejecting its messages')
      }
    } else {
      try {
        verdict = await validator(data, from)
        reason = verdict === 'accept' ? '' : GossipErrorCode.unspecified
      } catch (err) {
        if (err instanceof GossipValidationError) {
          verdict = err.action
          reason = err.code
        } else if (err instanceof CodecError) {
          verdict = 'reject'
          reason = GossipErrorCode.malformed
        } else {
          verdict = 'ignore'
          reason = GossipErrorCode.validator_error
          logger.error({ err, topic: kind }, 'gossip validator threw')
        }
      }
    }
    stats.record(kind, verdict, reason)
    if (verdict !== 'accept')
      logger.debug({ topic: kind, peer: from, verdict, reason }, 'gossip message not accepted')
    return TO_GOSSIPSUB[verdict]
  }
}
