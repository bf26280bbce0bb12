import { MAX_PIPELINE_DEPTH } from '../../src/codec/limits.js'
import { parseFaults, runSimulation } from './simulation.js'

/** A contiguous run of seeds of one simulator configuration (docs/CONSENSUS.md "Simulator"). */
export interface SeedRange {
  from: number
  to: number
  validators: number
  faults: string
  depth?: number
}

/** Runs every seed of the range in this process; one line per failing seed, with its replay command. */
export function runRange({ from, to, validators, faults, depth = MAX_PIPELINE_DEPTH }: SeedRange): string[] {
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
