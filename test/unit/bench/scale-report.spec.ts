import { expect } from 'chai'
import {
  idleFigures,
  idleTable,
  perBlockPerNode,
  type ReceivedSnapshot,
  receivedBetween,
  renderScaleChart,
  type ScaleRunInput,
  scaleTable,
  summarizeScaleRun,
} from '../../../bench/scale-report.js'

const counters = (messages: number, bytes: number, duplicates: number, duplicateBytes: number) => ({
  messages,
  bytes,
  duplicates,
  duplicate_bytes: duplicateBytes,
})

function input(overrides: Partial<ScaleRunInput> = {}): ScaleRunInput {
  return {
    validators: 4,
    rate: 100,
    steady: {
      txPerSec: 100,
      latencyMs: { count: 1000, mean: 300, p50: 250, p90: 400, p99: 700, max: 900 },
      blocks: 10,
      blocksPerSec: 1,
      meanTxsPerBlock: 100,
      finalizedTxs: 1000,
    },
    // 4 nodes, 2 s of CPU each in a 10 s window
    cpuSec: [2, 2, 2, 2],
    steadyWallSec: 10,
    receivedBefore: [{}, {}, {}, {}],
    receivedAfter: [
      {
        prepare: counters(30, 3000, 60, 6000),
        commit: counters(30, 3000, 60, 6000),
        tx: counters(5, 50_000, 1, 10_000),
      },
      { prepare: counters(30, 3000, 60, 6000), commit: counters(30, 3000, 60, 6000) },
      { prepare: counters(30, 3000, 60, 6000), commit: counters(30, 3000, 60, 6000) },
      { prepare: counters(30, 3000, 60, 6000), commit: counters(30, 3000, 60, 6000) },
    ],
    idle: { seconds: 5, cpuMsPerSecPerNode: 12.5, gossipCopiesPerSecPerNode: 3 },
    agree: true,
    ...overrides,
  }
}

describe('bench/scale-report', () => {
  it('receivedBetween subtracts per topic and treats a topic missing before as zero', () => {
    const before: ReceivedSnapshot = { prepare: counters(10, 100, 5, 50) }
    const after: ReceivedSnapshot = { prepare: counters(15, 160, 9, 90), commit: counters(2, 20, 1, 10) }
    expect(receivedBetween(before, after, ['prepare', 'commit', 'newview'])).to.deep.equal({
      messages: 7,
      bytes: 80,
      duplicates: 5,
      duplicateBytes: 50,
    })
    expect(receivedBetween(before, after, ['tx'])).to.deep.equal({
      messages: 0,
      bytes: 0,
      duplicates: 0,
      duplicateBytes: 0,
    })
  })

  it('per block per node is the mean over nodes divided by the blocks, null without blocks', () => {
    const before = [{}, {}]
    const after = [{ commit: counters(8, 800, 4, 400) }, { commit: counters(4, 400, 0, 0) }]
    expect(perBlockPerNode(before, after, ['commit'], 2)).to.deep.equal({
      messages: 3,
      bytes: 300,
      duplicates: 1,
      duplicateBytes: 100,
    })
    expect(perBlockPerNode(before, after, ['commit'], 0)).to.equal(null)
    expect(perBlockPerNode([{}], after, ['commit'], 2)).to.equal(null)
  })

  it('summarizes a run: CPU per tx over all nodes, CPU per block per node, consensus apart from tx gossip', () => {
    const row = summarizeScaleRun(input())
    expect(row.nodeCpuMsPerTx).to.equal(8) // 8 s of CPU / 1000 txs
    expect(row.cpuMsPerBlockPerNode).to.equal(200) // 2 s per node / 10 blocks
    expect(row.cpuSharePerNode).to.equal(0.2)
    expect(row.idleCpuMsPerSecPerNode).to.equal(12.5)
    expect(row.consensusPerBlockPerNode).to.deep.equal({
      messages: 6,
      bytes: 600,
      duplicates: 12,
      duplicateBytes: 1200,
    })
    expect(row.txGossipPerBlockPerNode).to.deep.equal({
      messages: 0.125,
      bytes: 1250,
      duplicates: 0.025,
      duplicateBytes: 250,
    })
    expect(row.latencyMs).to.deep.equal({ p50: 250, p99: 700 })
  })

  it('leaves CPU figures out when a node could not be read', () => {
    const row = summarizeScaleRun(input({ cpuSec: [2, undefined, 2, 2] }))
    expect(row.nodeCpuMsPerTx).to.equal(null)
    expect(row.cpuMsPerBlockPerNode).to.equal(null)
    expect(row.cpuSharePerNode).to.equal(null)
  })

  it('idle figures: CPU ms per second and gossip copies per second, mean per node', () => {
    const idle = idleFigures(
      4,
      [1, 2],
      [1.04, 2.08],
      [{ prepare: counters(1, 10, 1, 10) }, {}],
      [{ prepare: counters(3, 30, 3, 30) }, { tx: counters(2, 20, 2, 20) }],
    )
    expect(idle.cpuMsPerSecPerNode).to.be.closeTo(15, 1e-9) // (40 + 80) / 2 / 4
    expect(idle.gossipCopiesPerSecPerNode).to.equal(1) // (4 + 4) / 2 / 4
    expect(idleFigures(4, [1, undefined], [2, 3], [], []).cpuMsPerSecPerNode).to.equal(null)
    const table = idleTable([{ validators: 7, ...idle }])
      .trim()
      .split('\n')
    expect(table[2]).to.equal('| 7 | 15.0 | 1.0 | 4 s |')
  })

  it('renders one table row per run and a chart with a line per validator count', () => {
    const rows = [
      summarizeScaleRun(input()),
      summarizeScaleRun(input({ rate: 0 })),
      summarizeScaleRun(input({ validators: 7, agree: false })),
    ]
    const table = scaleTable(rows).trim().split('\n')
    expect(table).to.have.length(2 + 3)
    expect(table[2]).to.match(
      /^\| 4 \| 100 \| 100 \| 250 \| 700 \| 1\.0 \| 100 \| 8\.00 \| 200 \| 12\.5 \| 6\.0 \+ 12\.0 \| 0\.6 \+ 1\.2 \|$/,
    )
    expect(table[3]).to.contain('| closed loop |')
    expect(table[4]).to.contain('NODES DISAGREE')
    const svg = renderScaleChart(rows, 'test <sweep>')
    expect(svg.startsWith('<svg')).to.equal(true)
    expect(svg).to.contain('test &lt;sweep&gt;')
    expect(svg).to.contain('n=4')
    expect(svg).to.contain('n=7')
    expect(svg).to.contain('closed')
    expect(svg.trim().endsWith('</svg>')).to.equal(true)
  })
})
