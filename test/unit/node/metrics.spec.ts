import { expect } from 'chai'
import type { CommitMsg, PrePrepareMsg, PrepareMsg } from '../../../src/codec/consensus.js'
import type { Block, CommitCertificate } from '../../../src/codec/types.js'
import type { EngineAction } from '../../../src/consensus/types.js'
import { Mempool } from '../../../src/mempool/mempool.js'
import { NodeMetrics } from '../../../src/node/metrics.js'
import { PhaseTimer, recordFinalBlock, viewChangeCause } from '../../../src/node/metrics-consensus.js'
import { createRpcServer } from '../../../src/rpc/server.js'
import { documentedMetrics, parseExposition } from '../../helpers/prometheus-text.js'
import { CHAIN_ID, FakeNonces, signedTx, signer } from '../mempool/fixtures.js'
import { startCluster, stopAll } from '../network/helpers.js'
import { FakeBackend } from '../rpc/fake-backend.js'
import { post } from '../rpc/helpers.js'

const sig = new Uint8Array(64)
const hash = new Uint8Array(32)
const block = (height: number, timestamp = 0) =>
  ({ header: { height, timestamp }, txs: [] }) as unknown as Block

function prePrepare(view: number, height: number): PrePrepareMsg {
  return { kind: 'preprepare', view, height, sender: 0, block: block(height), signature: sig }
}
const prepareRec = (view: number, height: number): EngineAction => ({
  type: 'persist',
  record: {
    kind: 'prepare',
    prePrepare: prePrepare(view, height),
    msg: { kind: 'prepare', view, height, blockHash: hash, sender: 1, signature: sig } satisfies PrepareMsg,
  },
})
const commitRec = (view: number, height: number): EngineAction => ({
  type: 'persist',
  record: {
    kind: 'commit',
    prepared: { view, height, block: block(height), prepares: [] } as never,
    msg: { kind: 'commit', view, height, blockHash: hash, sender: 1, signature: sig } satisfies CommitMsg,
  },
})
const certificate = (height: number, validators: number[]): CommitCertificate => ({
  height,
  view: 0,
  blockHash: hash,
  votes: validators.map((validator) => ({ validator, signature: sig })),
})
const commitAction = (height: number): EngineAction => ({
  type: 'commit',
  block: block(height),
  certificate: certificate(height, [0, 1, 2]),
})

async function series(m: NodeMetrics) {
  return parseExposition(await m.registry.metrics())
}

describe('node/metrics', () => {
  it('registers exactly the pbft_* series docs/MONITORING.md lists, each with chain_id', async () => {
    const m = new NodeMetrics({ chainId: 'c-1', validatorCount: 4 })
    const e = await series(m)
    const served = [...e.types.keys()].sort()
    const documented = documentedMetrics()
      .filter((d) => d.name.startsWith('pbft_'))
      .map((d) => d.name)
      .sort()
    expect(served).to.deep.equal(documented)
    for (const s of e.samples) expect(s.labels.chain_id, s.name).to.equal('c-1')
  })

  it('lets several nodes collect process and libp2p metrics in one process, each in its own registry', async () => {
    const a = new NodeMetrics({ chainId: 'a', collect: true })
    const b = new NodeMetrics({ chainId: 'b', collect: true })
    const off = new NodeMetrics({ chainId: 'c' })
    expect(a.libp2pMetrics()).to.be.a('function')
    expect(off.libp2pMetrics()).to.equal(undefined)
    for (const [m, chain] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      const e = await series(m)
      expect(e.types.get('process_cpu_seconds_total')).to.equal('counter')
      expect(e.types.has('nodejs_eventloop_lag_p99_seconds')).to.equal(true)
      for (const s of e.samples) expect(s.labels.chain_id).to.equal(chain)
    }
    expect((await series(off)).types.has('process_cpu_seconds_total')).to.equal(false)
  })

  it('serves GET /metrics, and says which setting is wrong when its address is taken', async () => {
    const a = new NodeMetrics({ chainId: 'a' })
    const b = new NodeMetrics({ chainId: 'b' })
    try {
      const { port } = await a.serve('127.0.0.1', 0)
      const res = await fetch(`http://127.0.0.1:${port}/metrics`)
      expect(res.status).to.equal(200)
      expect(await res.text()).to.include('pbft_height{chain_id="a"} 0')
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).to.equal(404)
      const err = await b.start({ enabled: true, laddr: `127.0.0.1:${port}` }).then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(err?.message).to.equal(
        `metrics.laddr 127.0.0.1:${port}: cannot serve metrics: the address is already in use`,
      )
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it("keeps two in-process libp2p nodes' metrics apart, each in its node's registry", async () => {
    const metrics = [
      new NodeMetrics({ chainId: 'a', collect: true }),
      new NodeMetrics({ chainId: 'b', collect: true }),
    ]
    const nets = await startCluster(2, (k) => ({ metrics: { libp2p: metrics[k]?.libp2pMetrics() } }))
    try {
      for (const [k, m] of metrics.entries()) {
        const e = await series(m)
        const connections = e.samples.filter((s) => s.name === 'libp2p_connection_manager_connections')
        const open = connections
          .filter((s) =>
            ['inbound', 'outbound'].includes(s.labels.libp2p_connection_manager_connections ?? ''),
          )
          .reduce((a, s) => a + s.value, 0)
        expect(open, `node ${k}`).to.equal(1)
        const sent = e.samples.find(
          (s) => s.name === 'libp2p_data_transfer_bytes_total' && s.labels.protocol === 'global sent',
        )
        expect(sent?.value, `node ${k}`).to.be.greaterThan(0)
        for (const s of e.samples) expect(s.labels.chain_id).to.equal(k === 0 ? 'a' : 'b')
      }
    } finally {
      await stopAll(nets)
    }
  })

  it('times pre-prepare → prepared → committed per height, within one view', async () => {
    const m = new NodeMetrics({ chainId: 'c' })
    let now = 100
    const timer = new PhaseTimer(m, () => now)
    timer.action(prepareRec(0, 1))
    now += 0.25
    timer.action(prepareRec(0, 1)) // a re-sent PREPARE does not restart the clock
    now += 0.25
    timer.action(commitRec(0, 1))
    now += 2
    timer.action(commitAction(1))
    const e = await series(m)
    const sum = (phase: string) =>
      e.samples.find(
        (s) => s.name === 'pbft_consensus_phase_duration_seconds_sum' && s.labels.phase === phase,
      )?.value
    expect(sum('pre_prepare_to_prepared')).to.be.closeTo(0.5, 1e-9)
    expect(sum('prepared_to_committed')).to.be.closeTo(2, 1e-9)
    expect(timer.size).to.equal(0)
  })

  it('restarts the phase clock in a new view and keeps no more than a bounded number of heights', async () => {
    const m = new NodeMetrics({ chainId: 'c' })
    let now = 0
    const timer = new PhaseTimer(m, () => now)
    timer.action(prepareRec(0, 5))
    now = 10
    timer.action(prepareRec(1, 5))
    now = 11
    timer.action(commitRec(1, 5))
    const e = await series(m)
    const s = e.samples.find(
      (x) =>
        x.name === 'pbft_consensus_phase_duration_seconds_sum' &&
        x.labels.phase === 'pre_prepare_to_prepared',
    )
    expect(s?.value).to.equal(1)
    for (let h = 100; h < 300; h++) timer.action(prepareRec(0, h))
    expect(timer.size).to.be.at.most(64)
  })

  it('names the cause of a view change from the event that moved the view', () => {
    const msg = (kind: string) => ({ type: 'message', msg: { kind } }) as never
    expect(viewChangeCause({ type: 'timeout', view: 0, height: 1 })).to.equal('timeout')
    expect(viewChangeCause(msg('viewchange'))).to.equal('view_change_votes')
    expect(viewChangeCause(msg('newview'))).to.equal('new_view')
    expect(viewChangeCause(msg('commit'))).to.equal('certificate')
    expect(viewChangeCause({ type: 'block_synced' } as never)).to.equal('certificate')
    expect(viewChangeCause({ type: 'start' })).to.equal('other')
  })

  it('records block intervals from header timestamps and the validators a certificate lacks', async () => {
    const m = new NodeMetrics({ chainId: 'c', validatorCount: 4 })
    recordFinalBlock(m, block(1, 5_000), certificate(1, [0, 1, 2, 3]), 0)
    recordFinalBlock(m, block(2, 6_500), certificate(2, [0, 2, 3]), 5_000)
    recordFinalBlock(m, block(3, 7_000), certificate(3, [0, 2, 3]), 6_500)
    const e = await series(m)
    const value = (name: string, labels: Record<string, string> = {}) =>
      e.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        ?.value
    // height 1's interval (from genesis time) is not a block interval
    expect(value('pbft_block_interval_seconds_count')).to.equal(2)
    expect(value('pbft_block_interval_seconds_sum')).to.equal(2)
    expect(value('pbft_certificate_missing_validators')).to.equal(1)
    expect(value('pbft_validator_missed_certificates_total', { validator: '1' })).to.equal(2)
    expect(value('pbft_validator_missed_certificates_total', { validator: '0' })).to.equal(0)
  })

  it('counts mempool rejections by reason', async () => {
    const m = new NodeMetrics({ chainId: 'c' })
    const mempool = new Mempool({
      chainId: CHAIN_ID,
      state: new FakeNonces(),
      now: () => 0,
      onReject: (code) => m.mempoolRejected(code),
    })
    expect(() => mempool.add(signedTx(signer(1), 0, undefined, 'elsewhere'))).to.throw()
    expect(() => mempool.add(new Uint8Array([1, 2, 3]))).to.throw()
    const e = await series(m)
    const reasons = e.samples
      .filter((s) => s.name === 'pbft_mempool_rejections_total')
      .map((s) => s.labels.reason)
    expect(reasons.sort()).to.deep.equal(['malformed', 'wrong_chain'])
  })

  it('labels RPC calls by method and outcome; unknown method names share one label value', async () => {
    const m = new NodeMetrics({ chainId: 'c' })
    const server = createRpcServer({
      port: 0,
      backend: new FakeBackend(),
      onCall: (method, ok, s) => m.rpcCall(method, ok, s),
    })
    await server.start()
    try {
      const { host, port } = server.address()
      const url = `http://${host}:${port}/`
      await post(url, { jsonrpc: '2.0', id: 1, method: 'status' })
      for (let i = 0; i < 50; i++) await post(url, { jsonrpc: '2.0', id: i, method: `made_up_${i}` })
      await post(url, { jsonrpc: '2.0', id: 1, method: 'block', params: { height: 'x' } })
      const e = await series(m)
      const requests = e.samples.filter((s) => s.name === 'pbft_rpc_requests_total')
      const byLabel = Object.fromEntries(
        requests.map((s) => [`${s.labels.method}/${s.labels.outcome}`, s.value]),
      )
      expect(byLabel).to.deep.equal({ 'status/ok': 1, 'unknown/error': 50, 'block/error': 1 })
      // the CometBFT dialect's calls have label values of their own, also bounded
      await post(`${url}comet`, { jsonrpc: '2.0', id: 1, method: 'health' })
      await post(`${url}comet`, { jsonrpc: '2.0', id: 2, method: 'made_up' })
      const after = (await series(m)).samples.filter((s) => s.name === 'pbft_rpc_requests_total')
      const labels = Object.fromEntries(after.map((s) => [`${s.labels.method}/${s.labels.outcome}`, s.value]))
      expect(labels['comet/health/ok']).to.equal(1)
      expect(labels['comet/unknown/error']).to.equal(1)
      expect(labels['status/ok']).to.equal(1)
    } finally {
      await server.stop()
    }
  })
})
