import { memoizeEd25519 } from './crypto-memo.js'

/**
 * `npx tsx test/model/cli.ts [--bound small|large|viewchange] [--views V] [--heights H] [--drops D]
 * [--byzantine B] [--depth L] [--max-states S] [--max-seconds T] [--canary H] [--no-reduction] [--insertion-order]
 * [--keep-dead] [--keep-transient] [--replay-states] [--mutant NAME] [--replay FILE]` (docs/CONSENSUS.md "Model checking"). Prints the bounds, the states explored and
 * either `no violation` or the counterexample's schedule; exit 1 on a violation, 2 on bad usage.
 */
memoizeEd25519()
const { createHash } = await import('node:crypto')
const { explore } = await import('./explore.js')
const { BOUNDS } = await import('./bounds.js')
type MutableBounds = import('./bounds.js').MutableBounds
const { World, Violation, parseTransition, digestTransientFields } = await import('./world.js')
const { MUTANTS } = await import('./mutants.js')
type MutantName = import('./mutants.js').MutantName

const args = process.argv.slice(2)
let bounds: MutableBounds = { ...BOUNDS.small }
let replay: string | undefined
let mutant: MutantName | undefined
let reduce = true
let keepTransient = false
let successors: 'clone' | 'replay' = 'clone'
for (let i = 0; i < args.length; i++) {
  const a = args[i]
  if (a === '--no-reduction') {
    reduce = false
    continue
  }
  if (a === '--insertion-order') {
    World.digestMode = 'insertion'
    continue
  }
  if (a === '--keep-dead') {
    World.deadMessages = false
    continue
  }
  if (a === '--keep-transient') {
    digestTransientFields(true)
    keepTransient = true
    continue
  }
  if (a === '--replay-states') {
    successors = 'replay'
    continue
  }
  if (a === '--mutant') {
    const name = args[++i] as MutantName
    if (MUTANTS[name] === undefined) usage()
    mutant = name
    continue
  }
  const next = Number(args[++i])
  const known: Record<string, Exclude<keyof MutableBounds, 'canaryHeight'>> = {
    '--max-seconds': 'maxSeconds',
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
    'usage: check-model [--bound small|large|viewchange] [--views V] [--heights H] [--drops D] [--byzantine B] [--depth L] [--max-states S] [--max-seconds T] [--canary H] [--no-reduction] [--insertion-order] [--keep-dead] [--keep-transient] [--replay-states] [--mutant forged-vote|echo-commit] [--replay FILE]\n',
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
    .filter((l) => /^(deliver|drop|byz|timeout|propose|sync|txs) /.test(l))
    .map(parseTransition)
  try {
    World.replay(bounds, schedule, mutant === undefined ? undefined : MUTANTS[mutant])
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
const cpuStart = process.cpuUsage()
const r = explore(bounds, {
  reduce,
  successors,
  ...(mutant === undefined ? {} : { root: () => MUTANTS[mutant](bounds) }),
  progress: (states) =>
    process.stderr.write(`  ${states} states, ${((performance.now() - started) / 1000).toFixed(0)} s\n`),
})
const cpu = process.cpuUsage(cpuStart)
const { loadavg } = await import('node:os')
const seconds = ((performance.now() - started) / 1000).toFixed(1)
process.stdout.write(
  `model n=4 K=2 byzantine=1 views<=${bounds.views} heights<=${bounds.heights} drops<=${bounds.drops} ` +
    `byzantine-msgs<=${bounds.byzantine} depth<=${bounds.depth} ${reduce ? 'sleep sets' : 'no reduction'}, ` +
    `states by ${World.digestMode === 'canonical' ? 'canonical digest' : 'insertion-order digest'}` +
    `${World.deadMessages ? ', dead messages out' : ''}${keepTransient ? ', transient fields kept' : ''}, ` +
    `successors by ${successors}${mutant === undefined ? '' : `, MUTANT ${mutant}`}\n` +
    `${r.states} states, ${r.transitions} transitions (${r.slept} slept, ${r.revisits} revisits), ` +
    `${r.steps} engine steps, max depth ${r.maxDepth}, ${r.terminal} terminal states, ` +
    `${r.outcomes.size} outcomes, all honest final at height ${r.maxFinal} somewhere, ` +
    `${r.cut} states cut at the depth bound, ${r.cycles} cycles\n` +
    `${r.counterexample !== null ? 'stopped at the first violation' : r.truncated ? 'NOT EXHAUSTED: stopped at max-states or max-seconds' : r.cut > 0 ? 'NOT EXHAUSTED: depth bound hit' : 'exhausted'}, ` +
    `${seconds} s, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU, load ${loadavg()[0]?.toFixed(1)}\n` +
    `outcomes digest ${createHash('sha256')
      .update([...r.outcomes].sort().join('\n'))
      .digest('hex')
      .slice(0, 16)}\n`,
)
if (r.counterexample !== null) {
  process.stdout.write(`VIOLATION: ${r.counterexample.message}\nschedule:\n`)
  for (const [i, s] of r.counterexample.schedule.entries()) process.stdout.write(`  ${i + 1}. ${s}\n`)
  process.exit(1)
}
process.stdout.write('no violation\n')
