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
    // no validator configured: accept within the size limit
    expect(await run(undefined, new Uint8Array(8))).to.equal(TopicValidatorResult.Accept)

    expect(stats.snapshot().commit).to.deep.equal({
      accept: 2,
      ignore: 3,
      reject: 3,
      byReason: {
        'ignore:unspecified': 1,
        'ignore:stale': 1,
        'reject:bad_signature_or_sender': 1,
        'reject:malformed': 1,
        'ignore:validator_error': 1,
        'reject:oversized': 1,
      },
    })
    expect(seen).to.have.length(8)
    expect(seen[0]).to.deep.equal(['commit', 'accept', ''])
    expect(seen[3]).to.deep.equal(['commit', 'reject', 'bad_signature_or_sender'])
  })

  it('keeps the reason codes equal to the metric label values dashboards match on', () => {
    // Renaming a value silently breaks pbft_gossip_messages_total queries: add codes, never rename.
    expect(Object.values(GossipErrorCode).sort()).to.deep.equal(
      [
        'bad_signature_or_sender',
        'decode_failed',
        'invalid_signature',
        'malformed',
        'oversized',
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
