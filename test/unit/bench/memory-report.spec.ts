import { expect } from 'chai'
import {
  figuresTable,
  floorSeries,
  type MemorySample,
  memoryTable,
  metricValue,
  type NodeSamples,
  nodeArgsAt,
  nodeFigures,
  renderMemoryChart,
  slope,
  tableStep,
} from '../../../bench/memory-report.js'

const MB = 1e6

/** A sample every 10 s from t = -10 (idle) to t = 600: RSS = 100 MB + `perSec` bytes/s of load. */
function linear(node: string, perSec: number, heapMB = 40): NodeSamples {
  const samples: MemorySample[] = []
  for (let t = -10; t <= 600; t += 10) {
    samples.push({
      t,
      txs: t < 0 ? 0 : t * 500,
      rssBytes: 100 * MB + Math.max(0, t) * perSec,
      heapUsedBytes: heapMB * MB,
      heapTotalBytes: 2 * heapMB * MB,
      externalBytes: 5 * MB,
      cpuSec: t < 0 ? 1 : 1 + t * 0.25,
    })
  }
  return { node, samples }
}

describe('bench/memory-report', () => {
  it('slope: the least-squares slope, null without two distinct x', () => {
    expect(
      slope([
        [0, 1],
        [1, 3],
        [2, 5],
      ]),
    ).to.be.closeTo(2, 1e-12)
    // noise around y = 10 - x
    expect(
      slope([
        [0, 10.5],
        [1, 8.5],
        [2, 8.5],
        [3, 6.5],
      ]),
    ).to.be.closeTo(-1.2, 1e-12)
    expect(slope([[1, 1]])).to.equal(null)
    expect(
      slope([
        [1, 1],
        [1, 2],
      ]),
    ).to.equal(null)
  })

  it('nodeFigures: idle, end, peak, at target, and the slope over the second half in MB per 10 min', () => {
    // 1 MB a minute: 10 MB per 10 min
    const f = nodeFigures(linear('node0', MB / 60), 100_000)
    expect(f.rssIdleMB).to.equal(100)
    expect(f.rssEndMB).to.be.closeTo(110, 1e-9)
    expect(f.rssPeakMB).to.be.closeTo(110, 1e-9)
    expect(f.rssSlopeMBPer10Min).to.be.closeTo(10, 1e-9)
    expect(f.heapSlopeMBPer10Min).to.be.closeTo(0, 1e-9)
    expect(f.heapUsedEndMB).to.equal(40)
    // 100,000 txs at 500 tx/s: t = 200 s
    expect(f.targetReachedSec).to.equal(200)
    expect(f.rssAtTargetMB).to.be.closeTo(100 + 200 / 60, 1e-9)
    // 0.25 CPU-s per s at 500 tx/s
    expect(f.cpuMsPerTx).to.be.closeTo(0.5, 1e-9)
  })

  it('nodeFigures: growth in the first half only gives a flat second half', () => {
    const n = linear('node0', 0)
    const samples = n.samples.map((s) => ({
      ...s,
      rssBytes: 100 * MB + Math.min(Math.max(0, s.t), 200) * MB,
    }))
    const f = nodeFigures({ node: 'node0', samples }, 0)
    expect(f.rssPeakMB).to.equal(300)
    expect(f.rssSlopeMBPer10Min).to.be.closeTo(0, 1e-9)
    expect(f.rssAtTargetMB).to.equal(null)
    expect(f.targetReachedSec).to.equal(null)
  })

  it('nodeFigures: a failed sample (null) is skipped, not read as 0', () => {
    const n = linear('node0', 0)
    const samples = n.samples.map((s, k) =>
      k === n.samples.length - 1 ? { ...s, rssBytes: null, heapUsedBytes: null } : s,
    )
    const f = nodeFigures({ node: 'node0', samples }, 0)
    expect(f.rssEndMB).to.equal(100)
    expect(f.heapUsedEndMB).to.equal(40)
    expect(f.rssSlopeMBPer10Min).to.be.closeTo(0, 1e-9)
  })

  it('metricValue: a series with or without labels, null when absent or not a number', () => {
    const text = [
      '# HELP nodejs_heap_size_used_bytes Process heap size used from Node.js in bytes.',
      '# TYPE nodejs_heap_size_used_bytes gauge',
      'nodejs_heap_size_used_bytes{chain_id="c"} 81234567',
      'pbft_block_txs_sum 2000',
      'pbft_block_txs_sum_other 1',
      'nodejs_external_memory_bytes{chain_id="c"} NaN',
    ].join('\n')
    expect(metricValue(text, 'nodejs_heap_size_used_bytes')).to.equal(81234567)
    expect(metricValue(text, 'pbft_block_txs_sum')).to.equal(2000)
    expect(metricValue(text, 'nodejs_external_memory_bytes')).to.equal(null)
    expect(metricValue(text, 'nodejs_heap_size_total_bytes')).to.equal(null)
    expect(metricValue('', 'pbft_block_txs_sum')).to.equal(null)
  })

  it('floorSeries and the heap floor: the least value of each whole minute, its slope', () => {
    // heap used saw-tooths between 40 + k and 90 + k MB in minute k: the floor grows 1 MB a minute
    const samples: MemorySample[] = []
    for (let t = 0; t <= 600; t += 10) {
      const minute = Math.floor(t / 60)
      samples.push({
        t,
        txs: t * 100,
        rssBytes: 200 * MB,
        heapUsedBytes: (t % 60 === 30 ? 40 + minute : 90 + minute) * MB,
        heapTotalBytes: null,
        externalBytes: null,
      })
    }
    const floor = floorSeries(samples, (s) => s.heapUsedBytes)
    expect(floor).to.have.length(10) // the sample at t = 600 starts an 11th minute, left out
    expect(floor[0]).to.deep.equal([30, 40 * MB])
    expect(floor[9]).to.deep.equal([570, 49 * MB])
    const f = nodeFigures({ node: 'node0', samples }, 0)
    expect(f.heapFloorEndMB).to.equal(49)
    expect(f.heapFloorSlopeMBPer10Min).to.be.closeTo(10, 1e-9)
    expect(f.rssSlopeMBPer10Min).to.be.closeTo(0, 1e-9)
  })

  it('tableStep: about ten rows', () => {
    expect(tableStep(60)).to.equal(10)
    expect(tableStep(1800)).to.equal(300)
    expect(tableStep(100_000)).to.equal(600)
  })

  it('memoryTable: the idle row, one row per step, the last sample', () => {
    const table = memoryTable([linear('node0', MB / 60), linear('node1', 0)], 300).split('\n')
    expect(table[0]).to.equal('| t (min:s) | txs final | node0 RSS | node1 RSS | node0 heap | node1 heap |')
    expect(table.slice(2)).to.deep.equal([
      '| idle | 0 | 100 | 100 | 40 | 40 |',
      '| 0:00 | 0 | 100 | 100 | 40 | 40 |',
      '| 5:00 | 150000 | 105 | 100 | 40 | 40 |',
      '| 10:00 | 300000 | 110 | 100 | 40 | 40 |',
    ])
  })

  it('figuresTable and the chart name every node', () => {
    const nodes = [linear('node0', 0), linear('node1', 0)]
    const md = figuresTable(
      nodes.map((n) => nodeFigures(n, 0)),
      0,
    )
    expect(md).to.contain('| node0 | 100 |')
    const svg = renderMemoryChart(nodes, 'title', 'subtitle')
    expect(svg.startsWith('<svg')).to.equal(true)
    expect(svg).to.contain('node1')
    expect(svg).to.contain('Resident set size')
  })

  it('reads --node-arg-at NODE:ARG per node, and refuses a node out of range or no ARG', () => {
    const at = nodeArgsAt(['1:--max-semi-space-size=4', '3:--optimize-for-size', '1:--a=b:c'], 4)
    expect([...at.entries()]).to.deep.equal([
      [1, ['--max-semi-space-size=4', '--a=b:c']],
      [3, ['--optimize-for-size']],
    ])
    expect(() => nodeArgsAt(['4:--x'], 4)).to.throw('NODE below 4, got 4:--x')
    expect(() => nodeArgsAt(['--x'], 4)).to.throw('NODE:ARG')
    expect(() => nodeArgsAt(['1:'], 4)).to.throw('NODE:ARG')
  })
})
