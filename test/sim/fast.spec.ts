import { expect } from 'chai'
import { MAX_PIPELINE_DEPTH } from '../../src/codec/limits.js'
import { BYZANTINE_FAULTS, NETWORK_FAULTS, parseFaults, runSimulation, type SimResult } from './simulation.js'

/**
 * The fast slice of the deterministic simulation (docs/CONSENSUS.md "Simulator"): ~400 seeds, n = 4 and 7, every fault kind,
 * at the node's default pipelining depth K = 4 and at K = 1 and 2.
 */
function runRange(
  from: number,
  to: number,
  validators: number,
  faults: string,
  depth = MAX_PIPELINE_DEPTH,
): string[] {
  const failed: string[] = []
  for (let seed = from; seed <= to; seed++) {
    const r = runSimulation({ seed, validators, faults: parseFaults(faults), pipelineDepth: depth })
    if (r.failures.length > 0) {
      failed.push(
        `seed ${seed}: ${r.failures[0]} — replay: npx tsx test/sim/cli.ts --seeds ${seed}..${seed} ` +
          `--validators ${validators} --faults ${faults} --depth ${depth} --trace`,
      )
    }
  }
  return failed
}

describe('sim: fast slice', function () {
  this.timeout(900_000)

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

  it('fault-free: every tx final, n = 4 and 7', () => {
    expect([...runRange(1, 10, 4, 'none'), ...runRange(1, 5, 7, 'none')]).to.deep.equal([])
  })

  it('n = 4, all fault kinds mixed: 150 seeds', () => {
    expect(runRange(1, 150, 4, 'all')).to.deep.equal([])
  })

  it('n = 7, all fault kinds mixed: 60 seeds', () => {
    expect(runRange(1, 60, 7, 'all')).to.deep.equal([])
  })

  it('n = 5, all fault kinds mixed (collude included): 30 seeds', () => {
    expect(runRange(1, 30, 5, 'all')).to.deep.equal([])
  })

  it('n = 6, all fault kinds mixed (collude included): 30 seeds', () => {
    expect(runRange(1, 30, 6, 'all')).to.deep.equal([])
  })

  it('pipelining reaches the high watermark: busy seeds have K = 4 heights in flight at once', () => {
    const depths = [3, 4, 8, 9].map(
      (seed) => runSimulation({ seed, validators: 4, faults: parseFaults('none') }).maxPipelined,
    )
    expect(Math.max(...depths)).to.equal(MAX_PIPELINE_DEPTH)
  })

  it('K = 1 (no pipelining) and K = 2, all fault kinds mixed: 40 + 40 seeds', () => {
    expect([...runRange(1, 40, 4, 'all', 1), ...runRange(41, 80, 4, 'all', 2)]).to.deep.equal([])
  })

  for (const byz of BYZANTINE_FAULTS) {
    it(`n = 4, Byzantine "${byz}" with network faults: 10 seeds`, () => {
      expect(runRange(1000, 1009, 4, [byz, ...NETWORK_FAULTS].join(','))).to.deep.equal([])
    })
  }
})
