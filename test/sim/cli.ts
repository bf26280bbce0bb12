import { MAX_PIPELINE_DEPTH } from '../../src/codec/limits.js'
import { parseFaults, runSimulation } from './simulation.js'

/**
 * `npx tsx test/sim/cli.ts --seeds A..B --validators N --faults LIST [--depth K] [--trace]` (docs/CONSENSUS.md "Simulator").
 * --depth is the engine's pipelining depth (default the node's default, MAX_PIPELINE_DEPTH).
 * Prints one line per failing seed with the command that replays it, then `N passed, M failed`.
 */
function usage(): never {
  process.stderr.write(
    'usage: sim --seeds A..B [--validators N] [--faults all|none|f1,f2] [--depth K] [--trace]\n',
  )
  process.exit(2)
}

function parseArgs(argv: string[]): {
  from: number
  to: number
  validators: number
  faults: string
  depth: number
  trace: boolean
} {
  let seeds = '1..100'
  let validators = 4
  let faults = 'all'
  let trace = false
  let depth = MAX_PIPELINE_DEPTH
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = (): string => argv[++i] ?? usage()
    if (a === '--seeds') seeds = next()
    else if (a === '--validators') validators = Number(next())
    else if (a === '--faults') faults = next()
    else if (a === '--depth') depth = Number(next())
    else if (a === '--trace') trace = true
    else if (a === '--help' || a === '-h') usage()
    else usage()
  }
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(seeds)
  if (m === null || !Number.isInteger(validators) || validators < 1 || validators > 64) usage()
  const from = Number(m[1])
  const to = m[2] === undefined ? from : Number(m[2])
  if (to < from || !Number.isInteger(depth) || depth < 1 || depth > MAX_PIPELINE_DEPTH) usage()
  return { from, to, validators, faults, depth, trace }
}

const args = parseArgs(process.argv.slice(2))
let faults: ReturnType<typeof parseFaults>
try {
  faults = parseFaults(args.faults)
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`)
  process.exit(2)
}
let passed = 0
let failed = 0
for (let seed = args.from; seed <= args.to; seed++) {
  const trace = args.trace ? (line: string) => process.stdout.write(`${line}\n`) : undefined
  const r = runSimulation({ seed, validators: args.validators, faults, pipelineDepth: args.depth, trace })
  if (r.failures.length === 0) {
    passed++
    if (args.trace)
      process.stdout.write(
        `seed ${seed} ok: height ${r.finalHeight}, ${r.txs} txs, pipelined ${r.maxPipelined}, app_hash ${r.appHash}, digest ${r.digest}` +
          `${r.invalidBlockKinds.length > 0 ? `, invalid blocks rejected: ${r.invalidBlockKinds.join(' ')}` : ''}\n`,
      )
  } else {
    failed++
    process.stdout.write(
      `FAIL seed ${seed} [byzantine ${r.byzantine.join(' ') || 'none'}]: ${r.failures[0]} — replay: ` +
        `npx tsx test/sim/cli.ts --seeds ${seed}..${seed} --validators ${args.validators} --faults ${args.faults} --depth ${args.depth} --trace\n`,
    )
  }
}
process.stdout.write(`${passed} passed, ${failed} failed\n`)
process.exit(failed === 0 ? 0 : 1)
