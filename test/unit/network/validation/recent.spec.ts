import { expect } from 'chai'
import { blockHash } from '../../../../src/codec/chain.js'
import { type ConsensusMessage, encodeConsensusMessage } from '../../../../src/codec/consensus.js'
import { RECENT_TTL_MS, RecentMessages } from '../../../../src/network/validation/index.js'
import {
  GENESIS_HASH,
  makeBlock,
  signCommit,
  signPrePrepare,
  signPrepare,
  signReject,
} from '../../consensus/harness.js'
import { Fixture, judge, s, viewChange } from './fakes.js'

const block = makeBlock(s(0), 0, 1, GENESIS_HASH)
const hash = blockHash(block.header)

describe('network/validation/recent: a vote or proposal accepted lately is not handled again', () => {
  it('RecentMessages remembers an id for the TTL, refreshes it when added again, and keeps at most maxEntries', () => {
    let now = 0
    const recent = new RecentMessages(() => now, 1_000, 3)
    recent.add('a')
    now = 999
    expect(recent.has('a')).to.equal(true)
    now = 1_000
    expect(recent.has('a')).to.equal(false)
    expect(recent.size).to.equal(0)
    recent.add('b')
    now = 1_500
    recent.add('c')
    recent.add('b') // refreshed: now expires after c
    now = 2_200
    expect([recent.has('b'), recent.has('c')]).to.deep.equal([true, true])
    now = 2_600
    expect([recent.has('b'), recent.has('c')]).to.deep.equal([false, false])
    for (const id of ['d', 'e', 'f', 'g']) recent.add(id)
    expect(recent.size).to.equal(3)
    expect(recent.has('d')).to.equal(false) // the oldest went first
    expect(['e', 'f', 'g'].every((id) => recent.has(id))).to.equal(true)
  })

  const messages: Record<string, ConsensusMessage> = {
    preprepare: signPrePrepare(s(0), 0, 0, 1, block),
    prepare: signPrepare(s(1), 1, 0, 1, hash),
    commit: signCommit(s(2), 2, 0, 1, hash),
    reject: signReject(s(3), 3, 0, 1, hash),
  }
  for (const [kind, msg] of Object.entries(messages)) {
    it(`${kind}: the same bytes again within ${RECENT_TTL_MS / 1000} s are Ignored (duplicate) without a signature check; after it, judged anew`, async () => {
      const f = new Fixture()
      const validator = f.validators[kind as keyof typeof f.validators]
      const data = encodeConsensusMessage(msg)
      expect(await judge(validator, data)).to.equal('accept')
      const verifies = f.validatorSet.verifies
      f.clock += RECENT_TTL_MS - 1
      expect(await judge(validator, data)).to.equal('ignore:duplicate')
      expect(f.validatorSet.verifies).to.equal(verifies)
      f.clock += 1
      expect(await judge(validator, data)).to.equal('accept')
      expect(f.validatorSet.verifies).to.be.greaterThan(verifies)
    })
  }

  it('remembers only what it accepted: a forgery is Rejected every time, a stale message Ignored as stale', async () => {
    const f = new Fixture()
    const forged = encodeConsensusMessage({ ...signPrepare(s(1), 1, 0, 1, hash), sender: 2 })
    expect(await judge(f.validators.prepare, forged)).to.equal('reject:bad_signature_or_sender')
    expect(await judge(f.validators.prepare, forged)).to.equal('reject:bad_signature_or_sender')
    f.tip = 5
    const stale = encodeConsensusMessage(signPrepare(s(1), 1, 0, 1, hash))
    expect(await judge(f.validators.prepare, stale)).to.equal('ignore:stale')
    expect(await judge(f.validators.prepare, stale)).to.equal('ignore:stale')
  })

  it('other messages of the same kind and slot still pass: only identical bytes are duplicates', async () => {
    const f = new Fixture()
    expect(
      await judge(f.validators.prepare, encodeConsensusMessage(signPrepare(s(1), 1, 0, 1, hash))),
    ).to.equal('accept')
    expect(
      await judge(f.validators.prepare, encodeConsensusMessage(signPrepare(s(2), 2, 0, 1, hash))),
    ).to.equal('accept')
  })

  it('a VIEW-CHANGE sent again is judged anew: re-sends are how a replica asks for the NEW-VIEW', async () => {
    const f = new Fixture()
    const data = encodeConsensusMessage(viewChange(1, 1))
    expect(await judge(f.validators.viewchange, data)).to.equal('accept')
    expect(await judge(f.validators.viewchange, data)).to.equal('accept')
  })
})
