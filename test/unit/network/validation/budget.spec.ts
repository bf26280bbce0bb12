import { expect } from 'chai'
import {
  encodeConsensusMessage,
  type ViewChangeMsg,
  viewChangeSignBytes,
} from '../../../../src/codec/consensus.js'
import type { Ed25519Signer } from '../../../../src/crypto/ed25519.js'
import { adaptValidator, GossipStats } from '../../../../src/network/gossip-validation.js'
import { silentNetworkLogger } from '../../../../src/network/logger.js'
import { defaultValidatorBudgets, type ValidatorBudgets } from '../../../../src/network/options.js'
import { TokenBucket, ValidatorBudget } from '../../../../src/network/validation/index.js'
import { CHAIN, makeSigners, signCommit, signPrepare } from '../../consensus/harness.js'
import { Fixture, judge, signers } from './fakes.js'

const s = (i: number): Ed25519Signer => signers[i] as Ed25519Signer
const outsider = makeSigners(1, 'outsider')[0] as Ed25519Signer
const enc = encodeConsensusMessage

/** A distinct block hash per n: distinct messages, as gossipsub delivers each payload once. */
function hash(n: number): Uint8Array {
  const h = new Uint8Array(32)
  new DataView(h.buffer).setUint32(0, n)
  return h
}

/** A validly signed PREPARE of `sender` for a made-up block: valid but useless. */
const junk = (sender: number, n: number, height = 1, view = 0) =>
  enc(signPrepare(s(sender), sender, view, height, hash(n)))

function viewChange(sender: number, newView: number): Uint8Array {
  const body = { newView, sender, checkpointHeight: 0, checkpoint: null, prepared: [] }
  const vc: ViewChangeMsg = {
    kind: 'viewchange',
    ...body,
    signature: s(sender).sign(viewChangeSignBytes(CHAIN, body)),
  }
  return enc(vc)
}

/** Small budgets, so that floods take few signatures: 10 votes/s, 20 at once; 1 view change/s, 2 at once. */
const SMALL: ValidatorBudgets = {
  votes: { ratePerSec: 10, burst: 20 },
  viewChanges: { ratePerSec: 1, burst: 2 },
}

/** Feeds `count` junk PREPAREs of `sender` to the prepare topic; the outcomes by verdict. */
async function flood(f: Fixture, sender: number, count: number, from = 0): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (let i = 0; i < count; i++) {
    const verdict = await judge(f.validators.prepare, junk(sender, from + i))
    out[verdict] = (out[verdict] ?? 0) + 1
  }
  return out
}

describe('network/validation/budget', () => {
  describe('TokenBucket', () => {
    it('starts full, empties, refills at its rate up to its burst', () => {
      const b = new TokenBucket({ ratePerSec: 4, burst: 3 }, 1_000)
      for (let i = 0; i < 3; i++) {
        expect(b.hasToken(1_000)).to.equal(true)
        b.take(1_000)
      }
      expect(b.hasToken(1_000)).to.equal(false)
      // 4/s: one token every 250 ms
      expect(b.hasToken(1_249)).to.equal(false)
      expect(b.hasToken(1_250)).to.equal(true)
      b.take(1_250)
      expect(b.hasToken(1_250)).to.equal(false)
      // a long pause refills to the burst, not beyond
      for (let i = 0; i < 3; i++) {
        expect(b.hasToken(60_000)).to.equal(true)
        b.take(60_000)
      }
      expect(b.hasToken(60_000)).to.equal(false)
    })

    it('a clock stepping back refills nothing and does not throw', () => {
      const b = new TokenBucket({ ratePerSec: 1, burst: 1 }, 5_000)
      b.take(5_000)
      expect(b.hasToken(1_000)).to.equal(false)
      expect(b.hasToken(5_999)).to.equal(false)
      expect(b.hasToken(6_000)).to.equal(true)
    })
  })

  describe('ValidatorBudget', () => {
    it('one bucket per (validator, group): no bucket until charged, then its own', () => {
      let now = 0
      const budget = new ValidatorBudget(SMALL, () => now)
      expect(budget.allows('votes', 1)).to.equal(true)
      for (let i = 0; i < 20; i++) budget.charge('votes', 1)
      expect(budget.allows('votes', 1)).to.equal(false)
      expect(budget.allows('votes', 2)).to.equal(true)
      expect(budget.allows('viewChanges', 1)).to.equal(true)
      now = 100
      expect(budget.allows('votes', 1)).to.equal(true)
    })
  })

  describe('the consensus topics’ validators', () => {
    it('a flood is limited: past the burst, only the rate gets through, and unverified', async () => {
      const f = new Fixture({ budgets: SMALL })
      expect(await flood(f, 1, 30)).to.deep.equal({ accept: 20, 'ignore:rate_limited': 10 })
      // the limited ones cost no signature check
      expect(f.validatorSet.verifies).to.equal(20)
      // 1 s later: 10 more, whatever the validator sends meanwhile
      f.clock = 1_000
      expect(await flood(f, 1, 30, 100)).to.deep.equal({ accept: 10, 'ignore:rate_limited': 20 })
      expect(f.validatorSet.verifies).to.equal(30)
    })

    it('the bucket refills: a limited validator gets its rate back, then its burst after a pause', async () => {
      const f = new Fixture({ budgets: SMALL })
      await flood(f, 1, 25)
      expect(await judge(f.validators.prepare, junk(1, 1_000))).to.equal('ignore:rate_limited')
      f.clock = 99
      expect(await judge(f.validators.prepare, junk(1, 1_001))).to.equal('ignore:rate_limited')
      f.clock = 100 // 10/s: one token per 100 ms
      expect(await judge(f.validators.prepare, junk(1, 1_002))).to.equal('accept')
      expect(await judge(f.validators.prepare, junk(1, 1_003))).to.equal('ignore:rate_limited')
      f.clock = 60_000
      expect(await flood(f, 1, 25, 2_000)).to.deep.equal({ accept: 20, 'ignore:rate_limited': 5 })
    })

    it('one bucket per validator over all vote topics, another for VIEW-CHANGE/NEW-VIEW', async () => {
      const f = new Fixture({ budgets: SMALL })
      await flood(f, 1, 20)
      // COMMIT, REJECT, PRE-PREPARE spend the same budget as PREPARE
      expect(await judge(f.validators.commit, enc(signCommit(s(1), 1, 0, 1, hash(1))))).to.equal(
        'ignore:rate_limited',
      )
      // … but its view changes have their own
      expect(await judge(f.validators.viewchange, viewChange(1, 1))).to.equal('accept')
      expect(await judge(f.validators.viewchange, viewChange(1, 2))).to.equal('accept')
      expect(await judge(f.validators.viewchange, viewChange(1, 3))).to.equal('ignore:rate_limited')
      expect(await judge(f.validators.prepare, junk(1, 500))).to.equal('ignore:rate_limited')
    })

    it('per-validator isolation: one validator’s flood limits no other', async () => {
      const f = new Fixture({ budgets: SMALL })
      const flooded = await flood(f, 1, 200)
      expect(flooded['ignore:rate_limited']).to.equal(180)
      for (const other of [0, 2, 3]) {
        expect(await flood(f, other, 20, 10_000 * (other + 1)), `validator ${other}`).to.deep.equal({
          accept: 20,
        })
      }
    })

    it('forgeries under a validator’s index are rejected and do not spend its budget', async () => {
      const f = new Fixture({ budgets: SMALL })
      for (let i = 0; i < 50; i++) {
        const forged = enc(signPrepare(outsider, 2, 0, 1, hash(i)))
        expect(await judge(f.validators.prepare, forged)).to.equal('reject:bad_signature_or_sender')
      }
      expect(await flood(f, 2, 20, 1_000)).to.deep.equal({ accept: 20 })
    })

    it('replays of a validator’s stale or far-view messages do not spend its budget', async () => {
      const f = new Fixture({ budgets: SMALL })
      f.tip = 10
      for (let i = 0; i < 50; i++) {
        expect(await judge(f.validators.prepare, junk(2, i, 5))).to.equal('ignore:stale')
        expect(await judge(f.validators.prepare, junk(2, i, 11, 9))).to.equal('ignore:far_view')
      }
      expect(f.validatorSet.verifies).to.equal(0)
      f.tip = 0
      expect(await flood(f, 2, 20, 1_000)).to.deep.equal({ accept: 20 })
    })

    it('honest traffic at the default budget is never limited, even at 250 blocks/s', async function () {
      this.timeout(20_000)
      // Every validator sends PREPARE and COMMIT for every block (the primary its PRE-PREPARE instead
      // of a PREPARE: the same count), for 4 s of simulated time at 250 blocks/s: 500 votes/s each,
      // the default rate, beyond which nothing honest goes (docs/PROTOCOL.md §2.5).
      const f = new Fixture()
      const blocksPerSec = defaultValidatorBudgets.votes.ratePerSec / 2
      const outcomes: Record<string, number> = {}
      for (let height = 1; height <= 4 * blocksPerSec; height++) {
        f.clock = (height * 1000) / blocksPerSec
        f.tip = height - 1
        for (const sender of [1, 2, 3]) {
          for (const msg of [
            signPrepare(s(sender), sender, 0, height, hash(height)),
            signCommit(s(sender), sender, 0, height, hash(height)),
          ]) {
            const verdict = await judge(f.validators[msg.kind], enc(msg))
            outcomes[verdict] = (outcomes[verdict] ?? 0) + 1
          }
        }
      }
      expect(outcomes).to.deep.equal({ accept: 3 * 2 * 4 * blocksPerSec })
    })

    it('honest view changes at the default budget are never limited', async () => {
      // A new VIEW-CHANGE every second (views move at most once per view-change timer) and the same
      // one re-delivered every 500 ms (the shortest seen cache, src/node/node-network.ts), for 60 s.
      const f = new Fixture()
      const outcomes: Record<string, number> = {}
      for (let t = 0; t < 60_000; t += 500) {
        f.clock = t
        f.view = Math.floor(t / 1000)
        const verdict = await judge(f.validators.viewchange, viewChange(1, f.view + 1))
        outcomes[verdict] = (outcomes[verdict] ?? 0) + 1
      }
      expect(outcomes).to.deep.equal({ accept: 120 })
    })

    it('limited messages are counted as ignore:rate_limited in the gossip stats (the metric)', async () => {
      const f = new Fixture({ budgets: SMALL })
      const stats = new GossipStats()
      const run = adaptValidator({
        kind: 'prepare',
        validator: f.validators.prepare,
        maxMessageBytes: 1 << 20,
        stats,
        logger: silentNetworkLogger,
      })
      for (let i = 0; i < 25; i++) await run(junk(1, i), 'peer')
      expect(stats.snapshot().prepare).to.deep.equal({
        accept: 20,
        ignore: 5,
        reject: 0,
        byReason: { 'ignore:rate_limited': 5 },
      })
    })
  })
})
