import { expect } from 'chai'
import { ChainStore } from '../../../src/chain/store.js'
import { ProvenFaulty } from '../../../src/network/validation/index.js'
import { EvidencePool } from '../../../src/node/evidence-pool.js'
import { NodeMetrics } from '../../../src/node/metrics.js'
import type { TestValidators } from '../../fixtures/chain-builders.js'
import {
  CHAIN_ID,
  EVIDENCE_KINDS,
  equivocation,
  evidenceOf,
  evidenceValidators,
  prepare,
} from '../../fixtures/evidence.js'

const v: TestValidators = evidenceValidators()
const hash = (b: number): Uint8Array => new Uint8Array(32).fill(b)

/** The node's wiring (node.ts): the evidence pool tells a ProvenFaulty of every record it holds. */
describe('node: evidence → proven-faulty validators', () => {
  let store: ChainStore
  let clock: number
  const COOLDOWN = 600_000
  const wire = () => {
    const faulty = new ProvenFaulty(COOLDOWN, () => clock)
    const pool = new EvidencePool({
      store,
      chainId: CHAIN_ID,
      validators: v.set,
      now: () => clock,
      onProof: (validator, at) => faulty.prove(validator, at),
    })
    return { faulty, pool }
  }

  beforeEach(async () => {
    store = await ChainStore.memory()
    clock = 1_700_000_000_000
  })
  afterEach(async () => {
    await store.close()
  })

  it('verified evidence of any kind excludes exactly its sender', () => {
    for (const kind of EVIDENCE_KINDS) {
      const { faulty, pool } = wire()
      const e = equivocation(v, kind)
      expect(pool.add(e).status).to.equal('added')
      expect(faulty.list(), kind).to.deep.equal([e.sender])
    }
  })

  it('evidence the pool refuses excludes nobody: an honest validator is never excluded without proof', () => {
    const { faulty, pool } = wire()
    // the same vote twice (a retransmission), and a "conflict" whose second signature is forged
    const vote = prepare(v, 1, 0, 3, hash(1))
    expect(pool.add(evidenceOf(vote, vote)).status).to.equal('refused')
    const forged = { ...prepare(v, 1, 0, 3, hash(2)), signature: new Uint8Array(64).fill(9) }
    expect(pool.add(evidenceOf(vote, forged)).status).to.equal('refused')
    expect(faulty.list()).to.deep.equal([])
    expect(faulty.has(1)).to.equal(false)
  })

  it('reloaded evidence re-applies what is left of its cool-down after a restart, none once it is over', async () => {
    const first = wire()
    expect(first.pool.add(equivocation(v, 'prepare', { sender: 2 })).status).to.equal('added')
    clock += 100_000
    expect(first.pool.add(equivocation(v, 'viewchange', { sender: 3 })).status).to.equal('added')
    await first.pool.flush()

    clock += COOLDOWN - 50_000 // validator 2's proof is over, validator 3's has 50 s left
    const second = wire()
    expect((await second.pool.load()).loaded).to.equal(2)
    expect(second.faulty.list()).to.deep.equal([3])
    clock += 50_000
    expect(second.faulty.list()).to.deep.equal([])
  })

  it('pbft_validators_proven_faulty counts the validators excluded at each scrape', async () => {
    const { faulty, pool } = wire()
    const metrics = new NodeMetrics({ chainId: 'test-chain' })
    metrics.watchProvenFaulty(() => faulty.list().length)
    const gauge = async () => (await metrics.validatorsProvenFaulty.get()).values[0]?.value
    expect(await gauge()).to.equal(0)
    pool.add(equivocation(v, 'prepare', { sender: 2 }))
    pool.add(equivocation(v, 'viewchange', { sender: 3 }))
    expect(await gauge()).to.equal(2)
    clock += COOLDOWN
    expect(await gauge()).to.equal(0)
  })
})
