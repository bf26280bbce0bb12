import { memoizeEd25519 } from './crypto-memo.js'

/**
 * `npx tsx test/model/cli.ts [--bound small|large] [--views V] [--heights H] [--drops D]
 * [--byzantine B] [--depth L] [--max-states S]` (docs/CONSENSUS.md "Model checking"). Prints the
 * bounds, the states explored and either `no violation` or the counterexample's schedule; exit 1 on
 * a violation, 2 on bad usage.
 */
memoizeEd25519()
const { explore } = await import('./explore.js')
const { BOUNDS } = await import('./bounds.js')
type MutableBounds = import('./bounds.js').MutableBounds
const { World, Violation, parseTransition } = await import('./world.js')

const args = process.argv.slice(2)
let bounds: MutableBounds = { ...BOUNDS.small }
let replay: string | undefined
for (let i = 0; i < args.length; i++) {
  const a = args[i]
  const next = Number(args[++i])
  const known: Record<string, Exclude<keyof MutableBounds, 'canaryHeight'>> = {
    '--views': 'views',
    '--heights': 'heights',
    '--drops': 'drops',
    '--byzantine': 'byzantine',
    '--depth': 'depth',
    '--max-states': 'maxStates',
  }
  if (a === '--replay') {
    replay = args[i] ?? usage()
  } else if (a === '--canary') {
    bounds = { ...bounds, canaryHeight: next }
  } else if (a === '--bound') {
    const name = args[i] as keyof typeof BOUNDS
    if (BOUNDS[name] === undefined) usage()
    bounds = { ...BOUNDS[name] }
  } else if (a !== undefined && known[a] !== undefined && Number.isInteger(next) && next >= 0) {
    bounds[known[a]] = next
  } else {
    usage()
  }
}

function usage(): never {
  process.stderr.write(
    'usage: check-model [--bound small|large] [--views V] [--heights H] [--drops D] [--byzantine B] [--depth L] [--max-states S] [--canary H] [--replay FILE]\n',
  )
  process.exit(2)
}

if (replay !== undefined) {
  // A counterexample's schedule (one transition a line, as printed below) run again step by step.
  const { readFileSync } = await import('node:fs')
  const lines = readFileSync(replay, 'utf8')
    .split('\n')
    .map((l) => l.replace(/^\s*\d+\.\s*/, '').trim())
  const schedule = lines
    .filter((l) => /^(deliver|drop|byz|timeout|propose|sync) /.test(l))
    .map(parseTransition)
  try {
    World.replay(bounds, schedule)
  } catch (err) {
    if (err instanceof Violation) {
      process.stdout.write(`replayed ${schedule.length} transitions: VIOLATION: ${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
  process.stdout.write(`replayed ${schedule.length} transitions: no violation\n`)
  process.exit(0)
}

const started = performance.now()
const r = explore(bounds, (states) =>
  process.stderr.write(`  ${states} states, ${((performance.now() - started) / 1000).toFixed(0)} s\n`),
)
const seconds = ((performance.now() - started) / 1000).toFixed(1)
process.stdout.write(
  `model n=4 K=2 byzantine=1 views<=${bounds.views} heights<=${bounds.heights} drops<=${bounds.drops} ` +
    `byzantine-msgs<=${bounds.byzantine} depth<=${bounds.depth}\n` +
    `${r.states} states, ${r.transitions} transitions, ${r.steps} engine steps, max depth ${r.maxDepth}, ` +
    `all honest final at height ${r.maxFinal} somewhere, ${r.cut} schedules cut at the depth bound` +
    `${r.truncated ? ', stopped at max-states' : ''}, ${seconds} s\n`,
)
if (r.counterexample !== null) {
  process.stdout.write(`VIOLATION: ${r.counterexample.message}\nschedule:\n`)
  for (const [i, s] of r.counterexample.schedule.entries()) process.stdout.write(`  ${i + 1}. ${s}\n`)
  process.exit(1)
}
process.stdout.write('no violation\n')
