import { readFileSync } from 'node:fs'
import { expect } from 'chai'
import { signTx } from '../../src/codec/tx-sign.js'
import { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../src/crypto/hash.js'
import { documentedMetrics, type Exposition, familyOf, parseExposition } from '../helpers/prometheus-text.js'
import { metricsUrlOf, rpc, startMetricsNet, type TestNet, type TestNode, waitHeight } from './harness.js'

const CHAIN = 'e2e-chain'

async function scrape(node: TestNode): Promise<Exposition> {
  const res = await fetch(metricsUrlOf(node), { signal: AbortSignal.timeout(5_000) })
  expect(res.status).to.equal(200)
  return parseExposition(await res.text())
}

function sum(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  return e.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0)
}

const PHASES = ['pre_prepare_to_prepared', 'prepared_to_committed'] as const

/** the node timed both consensus phases of at least one block (it voted in one) */
function votedInABlock(e: Exposition): boolean {
  return PHASES.every((phase) => sum(e, 'pbft_consensus_phase_duration_seconds_count', { phase }) >= 1)
}

/**
 * docs/MONITORING.md against a running 4-validator devnet: the names it lists are exactly the
 * names served, with their types and labels, every series carries chain_id, and the consensus,
 * RPC and mempool series move when the chain does. Also the JSON log lines' base fields.
 */
describe('e2e: metrics and logs of a running devnet (docs/MONITORING.md)', function () {
  this.timeout(120_000)
  let net: TestNet | undefined
  const scrapes: Exposition[] = []
  const madeUp = ['no_such_method', 'x'.repeat(40), 'Status']

  before(async () => {
    // three blocks at least: a block interval needs two blocks above genesis
    net = await startMetricsNet(4, 'metrics-e2e-client', 3)
    const url = (net.nodes[0] as TestNode).rpcUrl
    // a rejection the mempool counts: a tx for another chain
    const signer = new Ed25519Signer(sha256(new TextEncoder().encode('metrics-e2e-foreign')))
    const foreign = toHex(signTx(signer, { chainId: 'other-chain', nonce: 3, op: { type: 'del', key: 'k' } }))
    await rpc(url, 'broadcast_tx_sync', { tx: foreign }).catch(() => undefined)
    for (const method of madeUp) await rpc(url, method).catch(() => undefined)
    // node0 answered once the blocks were final there; a replica may be a block or two behind
    // (a late vote, a sync round on a loaded machine): every node's figures are read at height 3
    const heights = await Promise.all(net.nodes.map((n) => n.height()))
    const t0 = performance.now()
    await waitHeight(net.nodes, 3)
    console.log(
      `      heights when node0 answered: ${heights.join(', ')}; all at 3 after ${(performance.now() - t0).toFixed(0)} ms`,
    )
    // A node whose peers did not know it had subscribed yet (a slow start on a loaded machine) got
    // the first blocks by block sync and voted in none, so it has timed no phase: one more block at a
    // time (at most 3) until every node voted in one.
    const extra = new Ed25519Signer(sha256(new TextEncoder().encode('metrics-e2e-extra')))
    for (let nonce = 0; ; nonce++) {
      scrapes.splice(0, scrapes.length, ...(await Promise.all(net.nodes.map(scrape))))
      if (nonce === 3 || scrapes.every(votedInABlock)) break
      const tx = toHex(
        signTx(extra, { chainId: CHAIN, nonce, op: { type: 'set', key: `x${nonce}`, value: 'v' } }),
      )
      const { height } = await rpc<{ height: number }>(url, 'broadcast_tx_commit', { tx, timeout_ms: 30_000 })
      await waitHeight(net.nodes, height)
      console.log(`      a node had voted in no block yet: one more, height ${height}`)
    }
  })

  after(async () => {
    await net?.close()
  })

  it('serves exactly the metric names docs/MONITORING.md lists, with their types and labels', () => {
    const documented = documentedMetrics()
    const served = scrapes[0] as Exposition
    const doc = new Map(documented.map((m) => [m.name, m]))
    expect(doc.size, 'a name listed twice').to.equal(documented.length)
    const missing = [...doc.keys()].filter((n) => !served.types.has(n))
    const undocumented = [...served.types.keys()].filter((n) => !doc.has(n))
    expect(missing, 'listed in docs/MONITORING.md, not served').to.deep.equal([])
    expect(undocumented, 'served, not listed in docs/MONITORING.md').to.deep.equal([])
    for (const [name, type] of served.types) expect(doc.get(name)?.type, name).to.equal(type)
    // the pbft_* series' labels are ours: each documented label and no other
    for (const m of documented.filter((d) => d.name.startsWith('pbft_'))) {
      const seen = new Set<string>()
      for (const s of served.samples)
        if (familyOf(s.name, served.types) === m.name)
          for (const l of Object.keys(s.labels)) if (l !== 'chain_id' && l !== 'le') seen.add(l)
      if (seen.size > 0) expect([...seen].sort(), m.name).to.deep.equal([...m.labels].sort())
    }
  })

  it('puts chain_id on every series of every node', () => {
    for (const e of scrapes) {
      expect(e.samples.length).to.be.greaterThan(100)
      const without = e.samples.filter((s) => s.labels.chain_id !== CHAIN).map((s) => s.name)
      expect(without).to.deep.equal([])
    }
  })

  it('times consensus phases and block intervals, and counts certificates', () => {
    for (const e of scrapes) {
      expect(sum(e, 'pbft_height')).to.be.at.least(3)
      expect(sum(e, 'pbft_block_interval_seconds_count')).to.be.at.least(1)
      for (const phase of PHASES)
        expect(sum(e, 'pbft_consensus_phase_duration_seconds_count', { phase }), phase).to.be.at.least(1)
      // 4 validators, a certificate of at least 2f+1 = 3 COMMITs: at most one is missing
      expect(sum(e, 'pbft_certificate_missing_validators')).to.be.within(0, 1)
      const missed = e.samples.filter((s) => s.name === 'pbft_validator_missed_certificates_total')
      expect(missed.map((s) => s.labels.validator).sort()).to.deep.equal(['0', '1', '2', '3'])
      expect(sum(e, 'pbft_peers')).to.equal(3)
      expect(sum(e, 'libp2p_connection_manager_connections')).to.be.at.least(3)
      expect(sum(e, 'nodejs_eventloop_lag_p99_seconds')).to.be.greaterThan(0)
    }
  })

  it('rebuilds the compact PRE-PREPAREs it receives, and never gives one up', () => {
    // Every proposal goes out compact (p2p.compact_proposals defaults to true): the three blocks'
    // replicas rebuilt theirs from their mempools or by fetching, and none was left unbuilt.
    const rebuilt = scrapes.map(
      (e) =>
        sum(e, 'pbft_compact_proposals_total', { outcome: 'local' }) +
        sum(e, 'pbft_compact_proposals_total', { outcome: 'fetched' }),
    )
    expect(rebuilt.reduce((a, b) => a + b, 0)).to.be.at.least(3)
    for (const e of scrapes) expect(sum(e, 'pbft_compact_proposals_total', { outcome: 'failed' })).to.equal(0)
  })

  it('counts RPC calls by method and outcome, made-up method names as one value', () => {
    const e = scrapes[0] as Exposition
    expect(sum(e, 'pbft_rpc_requests_total', { method: 'broadcast_tx_commit', outcome: 'ok' })).to.equal(3)
    expect(
      sum(e, 'pbft_rpc_request_duration_seconds_count', { method: 'broadcast_tx_commit', outcome: 'ok' }),
    ).to.equal(3)
    expect(sum(e, 'pbft_rpc_requests_total', { method: 'broadcast_tx_sync', outcome: 'error' })).to.equal(1)
    expect(sum(e, 'pbft_rpc_requests_total', { method: 'unknown', outcome: 'error' })).to.equal(madeUp.length)
    const methods = new Set(e.samples.map((s) => s.labels.method).filter((m) => m !== undefined))
    for (const m of madeUp) expect(methods.has(m), m).to.equal(false)
  })

  it('counts mempool rejections by reason', () => {
    expect(
      sum(scrapes[0] as Exposition, 'pbft_mempool_rejections_total', { reason: 'wrong_chain' }),
    ).to.equal(1)
  })

  it('writes JSON log lines with ISO time, chain_id, node, module, and full hashes', () => {
    const node = (net as TestNet).nodes[1] as TestNode
    const lines = readFileSync(node.logPath, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.length).to.be.greaterThan(10)
    const modules = new Set<string>()
    for (const line of lines) {
      expect(line.time, JSON.stringify(line)).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      expect(line.chain_id, JSON.stringify(line)).to.equal(CHAIN)
      expect(line.node, JSON.stringify(line)).to.equal('node1')
      expect(line.module, JSON.stringify(line)).to.be.a('string')
      modules.add(line.module as string)
      expect(line, 'one name for a peer id: peer').to.not.have.any.keys('peerId', 'peer_id')
    }
    for (const m of ['node', 'consensus', 'network', 'rpc', 'chain']) expect([...modules]).to.include(m)
    const finalized = lines.filter((l) => l.msg === 'finalized block')
    expect(finalized.length).to.be.at.least(3)
    for (const l of finalized) expect(l.hash).to.match(/^0x[0-9a-f]{64}$/)
    const started = lines.find((l) => l.msg === 'node started')
    expect(started?.peer).to.match(/^12D3KooW/)
  })
})
