import { TopicValidatorResult } from '@libp2p/interface'
import { expect } from 'chai'
import { pino } from 'pino'
import { CodecError } from '../../../src/codec/errors.js'
import {
  adaptValidator,
  GossipErrorCode,
  GossipStats,
  GossipValidationError,
  type GossipValidator,
  type GossipVerdict,
} from '../../../src/network/gossip-validation.js'
import { type NetworkLogger, silentNetworkLogger } from '../../../src/network/logger.js'
import type { TopicKind } from '../../../src/network/topics.js'

/** A NetworkLogger that keeps its error lines. */
function recordingLogger(): NetworkLogger & { errors: unknown[] } {
  const errors: unknown[] = []
  return { ...silentNetworkLogger, errors, error: (obj: unknown) => void errors.push(obj) }
}

describe('network/gossip-validation', () => {
  const seen: Array<[TopicKind, string, string]> = []
  const stats = new GossipStats((kind, result, reason) => seen.push([kind, result, reason]))
  const run = (validator: GossipValidator | undefined, data: Uint8Array) =>
    adaptValidator({ kind: 'commit', validator, maxMessageBytes: 8, stats, logger: silentNetworkLogger })(
      data,
      'peer',
    )

  it('maps verdicts and typed errors to gossipsub results and counts them per reason', async () => {
    expect(await run(() => 'accept', new Uint8Array(1))).to.equal(TopicValidatorResult.Accept)
    expect(await run(async (): Promise<GossipVerdict> => 'ignore', new Uint8Array(1))).to.equal(
      TopicValidatorResult.Ignore,
    )
    const stale: GossipValidator = () => {
      throw new GossipValidationError('ignore', GossipErrorCode.stale)
    }
    expect(await run(stale, new Uint8Array(1))).to.equal(TopicValidatorResult.Ignore)
    const forged: GossipValidator = () => {
      throw new GossipValidationError('reject', GossipErrorCode.bad_signature_or_sender)
    }
    expect(await run(forged, new Uint8Array(1))).to.equal(TopicValidatorResult.Reject)
    const malformed: GossipValidator = () => {
      throw new CodecError('truncated')
    }
    expect(await run(malformed, new Uint8Array(1))).to.equal(TopicValidatorResult.Reject)
    // our own bug must not penalise the peer
    const buggy: GossipValidator = () => {
      throw new TypeError('oops')
    }
    expect(await run(buggy, new Uint8Array(1))).to.equal(TopicValidatorResult.Ignore)
    // oversized input never reaches the validator
    let called = false
    const spy: GossipValidator = () => {
      called = true
      return 'accept'
    }
    expect(await run(spy, new Uint8Array(9))).to.equal(TopicValidatorResult.Reject)
    expect(called).to.equal(false)
    // no validator configured: fail closed
    expect(await run(undefined, new Uint8Array(8))).to.equal(TopicValidatorResult.Reject)

    expect(stats.snapshot().commit).to.deep.equal({
      accept: 1,
      ignore: 3,
      reject: 4,
      byReason: {
        'ignore:unspecified': 1,
        'ignore:stale': 1,
        'reject:bad_signature_or_sender': 1,
        'reject:malformed': 1,
        'ignore:validator_error': 1,
        'reject:oversized': 1,
        'reject:no_validator': 1,
      },
    })
    expect(seen).to.have.length(8)
    expect(seen[0]).to.deep.equal(['commit', 'accept', ''])
    expect(seen[3]).to.deep.equal(['commit', 'reject', 'bad_signature_or_sender'])
  })

  it('rejects every message of a topic without a validator and logs the wiring bug once', async () => {
    const logger = recordingLogger()
    const ownStats = new GossipStats()
    const validate = adaptValidator({
      kind: 'prepare',
      validator: undefined,
      maxMessageBytes: 8,
      stats: ownStats,
      logger,
    })
    for (let i = 0; i < 3; i++)
      expect(await validate(new Uint8Array(1), 'peer')).to.equal(TopicValidatorResult.Reject)
    expect(ownStats.snapshot().prepare).to.deep.equal({
      accept: 0,
      ignore: 0,
      reject: 3,
      byReason: { 'reject:no_validator': 3 },
    })
    expect(logger.errors).to.deep.equal([{ topic: 'prepare' }])
  })

  it('keeps the reason codes equal to the metric label values dashboards match on', () => {
    // Renaming a value silently breaks pbft_gossip_messages_total queries: add codes, never rename.
    expect(Object.values(GossipErrorCode).sort()).to.deep.equal(
      [
        'bad_signature_or_sender',
        'bad_tx_root',
        'decode_failed',
        'duplicate',
        'far_view',
        'invalid_signature',
        'malformed',
        'no_validator',
        'oversized',
        'proven_faulty',
        'rate_limited',
        'stale',
        'stale_view',
        'unspecified',
        'validator_error',
        'wrong_chain',
      ].sort(),
    )
    for (const [key, value] of Object.entries(GossipErrorCode)) expect(key).to.equal(value)
  })

  it('takes a pino logger as its logger', () => {
    const logger: NetworkLogger = pino({ level: 'silent' })
    expect(() => logger.info({ a: 1 }, 'typed')).not.to.throw()
  })
})
