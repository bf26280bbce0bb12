import { expect } from 'chai'
import {
  CONSENSUS_KINDS,
  type ConsensusKind,
  type ConsensusMessage,
  decodeConsensusMessage,
  encodeConsensusMessage,
  peekConsensusSender,
} from '../../../../src/codec/consensus.js'
import type { Ed25519Signer } from '../../../../src/crypto/ed25519.js'
import { gossipsubInit, PROVEN_FAULTY_APP_SCORE } from '../../../../src/network/gossipsub-config.js'
import { defaultGossipOptions } from '../../../../src/network/options.js'
import { createGossipValidators, ProvenFaulty } from '../../../../src/network/validation/index.js'
import type { TestValidators } from '../../../fixtures/chain-builders.js'
import {
  commit,
  evidenceValidators,
  newView,
  prePrepare,
  prepare,
  viewChange,
} from '../../../fixtures/evidence.js'
import { signCommit, signPrepare } from '../../consensus/harness.js'
import { Fixture, judge, signers } from './fakes.js'

const v: TestValidators = evidenceValidators()
const s = (i: number): Ed25519Signer => signers[i] as Ed25519Signer
const hash = (n: number): Uint8Array => new Uint8Array(32).fill(n)

/** One message of each kind (signatures need not verify: only the layout matters here). */
function sample(kind: ConsensusKind): ConsensusMessage {
  switch (kind) {
    case 'preprepare':
      return prePrepare(v, 1, 3)
    case 'prepare':
      return prepare(v, 2, 0, 3, hash(1))
    case 'commit':
      return commit(v, 3, 0, 3, hash(2))
    case 'reject':
      return {
        kind: 'reject',
        view: 0,
        height: 3,
        blockHash: hash(3),
        sender: 2,
        reason: 'bad block',
        signature: new Uint8Array(64),
      }
    case 'viewchange':
      return viewChange(v, 3, 1, true)
    case 'newview':
      return newView(v, 1, [0, 1, 2])
  }
}

describe('network/validation/proven-faulty', () => {
  describe('peekConsensusSender', () => {
    it('reads the sender every kind decodes to, and nothing from other bytes', () => {
      for (const kind of CONSENSUS_KINDS) {
        const msg = sample(kind)
        const data = encodeConsensusMessage(msg)
        expect(peekConsensusSender(kind, data), kind).to.equal(decodeConsensusMessage(kind, data).sender)
        // a high index, to check the byte order (the codec allows indices up to MAX_VALIDATORS − 1)
        const high = encodeConsensusMessage({ ...msg, sender: 258 } as ConsensusMessage)
        expect(peekConsensusSender(kind, high), `${kind} 258`).to.equal(258)
        // another kind's tag, or bytes that end before the field: unknown, left to the decoder
        const other = CONSENSUS_KINDS.find((k) => k !== kind) as ConsensusKind
        expect(peekConsensusSender(other, data), `${kind} as ${other}`).to.equal(undefined)
        expect(peekConsensusSender(kind, data.subarray(0, 10)), `${kind} cut`).to.equal(undefined)
      }
      expect(peekConsensusSender('prepare', new Uint8Array(0))).to.equal(undefined)
    })
  })

  describe('ProvenFaulty', () => {
    it('excludes a proven validator for the cool-down from its proof, then forgets it', () => {
      let now = 10_000
      const p = new ProvenFaulty(1_000, () => now)
      expect(p.has(3)).to.equal(false)
      p.prove(3)
      expect(p.has(3)).to.equal(true)
      expect(p.has(2)).to.equal(false)
      expect(p.list()).to.deep.equal([3])
      now = 10_999
      expect(p.has(3)).to.equal(true)
      now = 11_000
      expect(p.has(3)).to.equal(false)
      expect(p.list()).to.deep.equal([])
    })

    it('a new proof extends, an older one never shortens, one already over changes nothing', () => {
      let now = 0
      const p = new ProvenFaulty(1_000, () => now)
      p.prove(1, 0)
      now = 800
      p.prove(1) // until 1,800
      p.prove(1, 100) // until 1,100: ignored
      now = 1_500
      expect(p.has(1)).to.equal(true)
      p.prove(2, 400) // until 1,400: already over
      expect(p.has(2)).to.equal(false)
      p.prove(2, 900) // a reloaded record: what is left of its cool-down
      expect(p.has(2)).to.equal(true)
      now = 1_800
      expect(p.list()).to.deep.equal([2])
      now = 1_900
      expect(p.list()).to.deep.equal([])
      // a received_at in the future (a clock stepped back) counts from now, not beyond
      p.prove(3, 1_000_000)
      now = 2_900
      expect(p.has(3)).to.equal(false)
    })

    it('tells its listeners when a validator becomes excluded, not when its exclusion is extended', () => {
      let now = 0
      const p = new ProvenFaulty(1_000, () => now)
      const told: number[] = []
      p.onExcluded((v) => told.push(v))
      p.prove(2)
      now = 500
      p.prove(2) // extended: no news
      p.prove(1)
      now = 2_000 // both over
      p.prove(2)
      expect(told).to.deep.equal([2, 1, 2])
    })

    it('a cool-down of 0 excludes nobody', () => {
      const p = new ProvenFaulty(0, () => 0)
      p.prove(1)
      expect(p.has(1)).to.equal(false)
    })
  })

  describe('in the consensus topic validators', () => {
    function setup() {
      const f = new Fixture()
      const faulty = new ProvenFaulty(60_000, () => f.clock)
      const validators = createGossipValidators({ ...f.components, provenFaulty: faulty })
      return { f, faulty, validators }
    }

    it('drops a proven validator’s messages on every topic before decoding or verifying them', async () => {
      const { f, faulty, validators } = setup()
      faulty.prove(3)
      const before = f.validatorSet.verifies
      for (const kind of CONSENSUS_KINDS) {
        const msg = { ...sample(kind), sender: 3 } as ConsensusMessage
        expect(await judge(validators[kind], encodeConsensusMessage(msg)), kind).to.equal(
          'ignore:proven_faulty',
        )
      }
      // a PREPARE with a valid signature, and one whose tail does not even decode: both dropped unread
      const good = encodeConsensusMessage(signPrepare(s(3), 3, 0, 1, hash(9)))
      expect(await judge(validators.prepare, good)).to.equal('ignore:proven_faulty')
      expect(await judge(validators.prepare, good.subarray(0, good.length - 5))).to.equal(
        'ignore:proven_faulty',
      )
      expect(f.validatorSet.verifies).to.equal(before)
    })

    it('an honest validator without evidence is verified and accepted as before', async () => {
      const { f, faulty, validators } = setup()
      faulty.prove(3)
      for (const sender of [0, 1, 2]) {
        const before = f.validatorSet.verifies
        const msg = signCommit(s(sender), sender, 0, 1, hash(sender))
        expect(await judge(validators.commit, encodeConsensusMessage(msg))).to.equal('accept')
        expect(f.validatorSet.verifies, `validator ${sender} verified`).to.be.greaterThan(before)
      }
      // and one never proven is never excluded, however many messages it sends
      for (let i = 0; i < 50; i++)
        expect(
          await judge(validators.prepare, encodeConsensusMessage(signPrepare(s(1), 1, 0, 1, hash(i)))),
        ).to.equal('accept')
    })

    it('the exclusion expires: after the cool-down the validator’s messages are verified again', async () => {
      const { f, faulty, validators } = setup()
      faulty.prove(3)
      const msg = encodeConsensusMessage(signPrepare(s(3), 3, 0, 1, hash(7)))
      expect(await judge(validators.prepare, msg)).to.equal('ignore:proven_faulty')
      f.clock += 60_000
      const before = f.validatorSet.verifies
      expect(await judge(validators.prepare, msg)).to.equal('accept')
      expect(f.validatorSet.verifies).to.be.greaterThan(before)
    })

    it('without a ProvenFaulty the validators behave as before (no exclusion)', async () => {
      const f = new Fixture()
      const msg = encodeConsensusMessage(signPrepare(s(3), 3, 0, 1, hash(7)))
      expect(await judge(f.validators.prepare, msg)).to.equal('accept')
    })
  })

  describe('gossip score', () => {
    it('a proven-faulty validator’s peer scores far below the graylist; the others keep their offset', () => {
      const excluded = new Set(['p3'])
      const init = gossipsubInit(defaultGossipOptions, ['t'], ['p0', 'p3'], (id) => excluded.has(id))
      const score = init.scoreParams?.appSpecificScore as (id: string) => number
      expect(score('p0')).to.equal(1_000_000)
      expect(score('p3')).to.equal(PROVEN_FAULTY_APP_SCORE)
      expect(PROVEN_FAULTY_APP_SCORE).to.be.below(-80 * 1000)
      expect(score('outsider')).to.equal(0)
      excluded.clear() // the cool-down is over: read again at the next heartbeat
      expect(score('p3')).to.equal(1_000_000)
    })
  })
})
