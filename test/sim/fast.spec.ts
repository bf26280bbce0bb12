import { expect } from 'chai'
import { MAX_PIPELINE_DEPTH } from '../../src/codec/limits.js'
import { SimPool } from './pool.js'
import type { SeedRange } from './range.js'
import { BYZANTINE_FAULTS, NETWORK_FAULTS, parseFaults, runSimulation, type SimResult } from './simulation.js'

/**
 * The fast slice of the deterministic simulation (docs/CONSENSUS.md "Simulator"): ~500 seeds, n = 4 to 7, every fault kind,
 * at the node's default pipelining depth K = 4 and at K = 1 and 2. The seed ranges run in a pool of
 * worker processes (one per core) that starts with the suite; each test awaits its own ranges.
 */
const SLICE: Record<string, SeedRange[]> = {
  'fault-free: every tx final, n = 4 and 7': [
    { from: 1, to: 10, validators: 4, faults: 'none' },
    { from: 1, to: 5, validators: 7, faults: 'none' },
  ],
  'n = 4, all fault kinds mixed: 150 seeds': [{ from: 1, to: 150, validators: 4, faults: 'all' }],
  'n = 7, all fault kinds mixed: 60 seeds': [{ from: 1, to: 60, validators: 7, faults: 'all' }],
  'n = 5, all fault kinds mixed (collude included): 30 seeds': [
    { from: 1, to: 30, validators: 5, faults: 'all' },
  ],
  'n = 6, all fault kinds mixed (collude included): 30 seeds': [
    { from: 1, to: 30, validators: 6, faults: 'all' },
  ],
  'K = 1 (no pipelining) and K = 2, all fault kinds mixed: 40 + 40 seeds': [
    { from: 1, to: 40, validators: 4, faults: 'all', depth: 1 },
    { from: 41, to: 80, validators: 4, faults: 'all', depth: 2 },
  ],
  ...Object.fromEntries(
    BYZANTINE_FAULTS.map((byz) => [
      `n = 4, Byzantine "${byz}" with network faults: 10 seeds`,
      [{ from: 1000, to: 1009, validators: 4, faults: [byz, ...NETWORK_FAULTS].join(',') }],
    ]),
  ),
}

/**
 * PBFT_SIM_EARLY=1 (set by `make test`, which runs this file last): the pool starts when mocha loads
 * this file, at the lowest CPU priority, so the slice runs on the CPU the unit and e2e tests leave
 * idle and its tests mostly find their answers ready. Otherwise it starts with this suite.
 */
const EARLY = process.env.PBFT_SIM_EARLY === '1'
const pool = new SimPool(undefined, EARLY ? 19 : 0)
const results = new Map<string, Promise<string[]>>()

function startSlice(): void {
  if (results.size > 0) return
  for (const [name, ranges] of Object.entries(SLICE)) {
    const failed = Promise.all(ranges.map((r) => pool.run(r))).then((parts) => parts.flat())
    failed.catch(() => {}) // awaited by its test; this only keeps an early failure from being "unhandled"
    results.set(name, failed)
  }
}

if (EARLY) startSlice()

describe('sim: fast slice', function () {
  this.timeout(900_000)

  before(startSlice)
  after(() => pool.close())

  it('is deterministic: the same seed replays the same schedule and final hashes', () => {
    const a = runSimulation({ seed: 7, validators: 4, faults: parseFaults('all') })
    const b = runSimulation({ seed: 7, validators: 4, faults: parseFaults('all') })
    const strip = (r: SimResult) => ({
      digest: r.digest,
      appHash: r.appHash,
      events: r.events,
      ms: r.simulatedMs,
      h: r.finalHeight,
    })
    expect(strip(a)).to.deep.equal(strip(b))
    const c = runSimulation({ seed: 8, validators: 4, faults: parseFaults('all') })
    expect(c.digest).to.not.equal(a.digest)
  })

  it('pipelining reaches the high watermark: busy seeds have K = 4 heights in flight at once', () => {
    const depths = [3, 4, 8, 9].map(
      (seed) => runSimulation({ seed, validators: 4, faults: parseFaults('none') }).maxPipelined,
    )
    expect(Math.max(...depths)).to.equal(MAX_PIPELINE_DEPTH)
  })

  for (const name of Object.keys(SLICE)) {
    it(name, async () => {
      expect(await results.get(name)).to.deep.equal([])
    })
  }
})
