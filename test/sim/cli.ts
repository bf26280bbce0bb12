import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { MAX_PIPELINE_DEPTH } from '../../src/codec/limits.js'
import { parseFaults, runSimulation } from './simulation.js'

/**
 * `npx tsx test/sim/cli.ts --seeds A..B --validators N --faults LIST [--depth K] [--jobs J] [--trace]`
 * (docs/CONSENSUS.md "Simulator"). --depth is the engine's pipelining depth (default the node's
 * default, MAX_PIPELINE_DEPTH); --jobs runs the seeds in J processes (`make sim` uses one per core).
 * Prints one line per failing seed with the command that replays it, then `N passed, M failed`.
 */
function usage(): never {
  process.stderr.write(
    'usage: sim --seeds A..B [--validators N] [--faults all|none|f1,f2] [--depth K] [--jobs J] [--trace]\n',
  )
  process.exit(2)
}

function parseArgs(argv: string[]): {
  from: number
  to: number
  validators: number
  faults: string
  depth: number
  jobs: number
  trace: boolean
} {
  let seeds = '1..100'
  let validators = 4
  let faults = 'all'
  let trace = false
  let depth = MAX_PIPELINE_DEPTH
  let jobs = 1
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = (): string => argv[++i] ?? usage()
    if (a === '--seeds') seeds = next()
    else if (a === '--validators') validators = Number(next())
    else if (a === '--faults') faults = next()
    else if (a === '--depth') depth = Number(next())
    else if (a === '--jobs') jobs = Number(next())
    else if (a === '--trace') trace = true
    else if (a === '--help' || a === '-h') usage()
    else usage()
  }
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(seeds)
  if (m === null || !Number.isInteger(validators) || validators < 1 || validators > 64) usage()
  const from = Number(m[1])
  const to = m[2] === undefined ? from : Number(m[2])
  if (to < from || !Number.isInteger(depth) || depth < 1 || depth > MAX_PIPELINE_DEPTH) usage()
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) usage()
  return { from, to, validators, faults, depth, jobs, trace }
}

const args = parseArgs(process.argv.slice(2))
let faults: ReturnType<typeof parseFaults>
try {
  faults = parseFaults(args.faults)
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`)
  process.exit(2)
}
/**
 * --jobs J: the seed range in J contiguous parts, one child process each (the same command with
 * --jobs 1); their FAIL lines are passed through and their counts summed.
 */
async function runInParallel(): Promise<{ passed: number; failed: number }> {
  const total = args.to - args.from + 1
  const jobs = Math.min(args.jobs, total)
  const script = fileURLToPath(import.meta.url)
  const runs: Promise<{ passed: number; failed: number }>[] = []
  for (let j = 0; j < jobs; j++) {
    const a = args.from + Math.floor((total * j) / jobs)
    const b = args.from + Math.floor((total * (j + 1)) / jobs) - 1
    const childArgs = [
      '--seeds',
      `${a}..${b}`,
      '--validators',
      String(args.validators),
      '--faults',
      args.faults,
    ]
    childArgs.push('--depth', String(args.depth), '--jobs', '1')
    runs.push(
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [...process.execArgv, script, ...childArgs], {
          stdio: ['ignore', 'pipe', 'inherit'],
        })
        let out = ''
        let summary: { passed: number; failed: number } | undefined
        child.stdout.setEncoding('utf8')
        child.stdout.on('data', (chunk: string) => {
          out += chunk
          const lines = out.split('\n')
          out = lines.pop() ?? ''
          for (const line of lines) {
            const m = /^(\d+) passed, (\d+) failed$/.exec(line)
            if (m !== null) summary = { passed: Number(m[1]), failed: Number(m[2]) }
            else process.stdout.write(`${line}\n`)
          }
        })
        child.on('error', reject)
        child.on('close', (code) => {
          if (summary !== undefined && (code === 0 || code === 1)) resolve(summary)
          else reject(new Error(`sim worker for seeds ${a}..${b} exited with ${code} and no summary`))
        })
      }),
    )
  }
  const results = await Promise.all(runs)
  return results.reduce((s, r) => ({ passed: s.passed + r.passed, failed: s.failed + r.failed }))
}

if (args.jobs > 1 && !args.trace) {
  const { passed, failed } = await runInParallel()
  process.stdout.write(`${passed} passed, ${failed} failed\n`)
  process.exit(failed === 0 ? 0 : 1)
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
          `${r.invalidBlockKinds.length > 0 ? `, invalid blocks rejected: ${r.invalidBlockKinds.join(' ')}` : ''}` +
          `${r.colludeActs.length > 0 ? `, collusion: ${r.colludeActs.join(' ')}` : ''}` +
          `${r.tornWrites > 0 ? `, torn WAL writes recovered: ${r.tornWrites}` : ''}` +
          `, honest signatures ${r.honestSignatures}, max view ${r.maxHonestView} (bound ${r.viewBound})\n`,
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
