import { Writable } from 'node:stream'
import { expect } from 'chai'
import { pino } from 'pino'
import { ChainStore } from '../../../src/chain/store.js'
import { blockHash } from '../../../src/codec/chain.js'
import type { ConsensusMessage } from '../../../src/codec/consensus.js'
import type { Evidence } from '../../../src/consensus/types.js'
import { StatusReporter } from '../../../src/node/consensus.js'
import { EvidencePool } from '../../../src/node/evidence-pool.js'
import { NodeMetrics } from '../../../src/node/metrics.js'
import {
  CHAIN,
  GENESIS_HASH,
  makeBlock,
  makeEngine,
  makeSigners,
  makeValidators,
  ofType,
  signPrePrepare,
  signPrepare,
} from '../consensus/harness.js'

/**
 * The node's evidence port (src/node/consensus.ts StatusReporter) over the real engine's evidence
 * actions and a real pool: what the engine reports is what the pool accepts.
 */
describe('node/consensus evidence port', () => {
  const signers = makeSigners(4)
  const s = (i: number) => signers[i] as (typeof signers)[number]
  let store: ChainStore
  let pool: EvidencePool
  let metrics: NodeMetrics
  let lines: { level: number; msg: string; reason?: string }[]
  let reporter: StatusReporter

  beforeEach(async () => {
    store = await ChainStore.memory()
    metrics = new NodeMetrics({ chainId: 'test-chain' })
    pool = new EvidencePool({ store, chainId: CHAIN, validators: makeValidators(signers), metrics })
    lines = []
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)))
        done()
      },
    })
    reporter = new StatusReporter(metrics, pool, pino({ level: 'debug' }, sink))
  })
  afterEach(async () => {
    await pool.close()
    await store.close()
  })

  function engineEvidence(first: ConsensusMessage, second: ConsensusMessage): Evidence {
    const engine = makeEngine(signers, 1)
    engine.step({ type: 'message', msg: first })
    const ev = ofType(engine.step({ type: 'message', msg: second }), 'evidence')
    expect(ev).to.have.length(1)
    return (ev[0] as (typeof ev)[number]).evidence
  }

  it('stores what the engine reports (PRE-PREPARE, PREPARE), logs and counts it once', async () => {
    const proposals = engineEvidence(
      signPrePrepare(s(0), 0, 0, 1, makeBlock(s(0), 0, 1, GENESIS_HASH, 1)),
      signPrePrepare(s(0), 0, 0, 1, makeBlock(s(0), 0, 1, GENESIS_HASH, 2)),
    )
    const votes = engineEvidence(
      signPrepare(s(2), 2, 0, 1, blockHash(makeBlock(s(0), 0, 1, GENESIS_HASH, 1).header)),
      signPrepare(s(2), 2, 0, 1, blockHash(makeBlock(s(0), 0, 1, GENESIS_HASH, 2).header)),
    )
    for (const e of [proposals, votes, proposals]) reporter.evidence(e)
    expect(pool.list({ limit: 10 }).records.map((r) => [r.sender, r.kind])).to.deep.equal([
      [2, 'prepare'],
      [0, 'preprepare'],
    ])
    expect(lines.map((l) => l.msg)).to.deep.equal([
      'equivocation evidence: a validator signed two conflicting messages',
      'equivocation evidence: a validator signed two conflicting messages',
    ])
    const counted = (await metrics.evidence.get()).values.map((v) => [v.labels.kind, v.value])
    expect(counted).to.have.deep.members([
      ['preprepare', 1],
      ['prepare', 1],
    ])
    await pool.flush()
    expect(await store.evidenceEntries()).to.have.length(2)
  })

  it('logs a refusal as an error with its reason', () => {
    const e = engineEvidence(
      signPrepare(s(2), 2, 0, 1, new Uint8Array(32).fill(1)),
      signPrepare(s(2), 2, 0, 1, new Uint8Array(32).fill(2)),
    )
    reporter.evidence({ ...e, view: 5 })
    expect(pool.size).to.equal(0)
    expect(lines).to.have.length(1)
    expect(lines[0]).to.include({ level: 50, reason: 'inconsistent' })
  })
})
