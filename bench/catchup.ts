/**
 * `make bench-catchup` (docs/PERFORMANCE.md "Catch-up benchmark"): how fast a wiped node catches up.
 * For each scenario it makes a 4-validator testnet in a temp dir, writes a valid certified chain
 * straight into node0's store (bench/catchup-chain.ts), starts node0 as a real `pbft start` process
 * to serve it, then starts node1 with an empty store and samples its height (RPC) and CPU (/proc)
 * every --interval ms until it reaches node0's tip. Reports blocks/s, tx/s and node1's CPU per
 * block and per tx (the comparable figure on a shared machine). Two scenarios: full blocks
 * (--full-blocks × --full-txs) and small ones (--small-blocks × --small-txs).
 *
 *   npx tsx bench/catchup.ts [--quick] [--only full|small] [--full-blocks 100] [--full-txs 2000]
 *     [--small-blocks 3000] [--small-txs 1] [--cli dist/cli.js] [--profile] [--keep]
 *     [--out bench/results] [--interval 100]
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import { rpc, type StatusResult } from '../test/e2e/harness.js'
import { waitFor } from '../test/helpers/wait.js'
import { parseBenchArgs } from './args.js'
import { writeChain } from './catchup-chain.js'
import { type CatchupFigures, type CatchupSample, catchupFigures } from './catchup-stats.js'
import {
  type BenchNode,
  cpuSeconds,
  createCluster,
  DEFAULT_CLI_PATH,
  killAllChildren,
  startNode,
  stopNode,
} from './cluster.js'
import { machineInfo } from './machine.js'
import { formatProfile, type ProfileSummary, summarizeProfile } from './profile.js'

const { values: args } = parseBenchArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'full-blocks': { type: 'string' },
    'full-txs': { type: 'string' },
    'small-blocks': { type: 'string' },
    'small-txs': { type: 'string' },
    senders: { type: 'string', default: '1000' },
    interval: { type: 'string', default: '100' },
    cli: { type: 'string', default: DEFAULT_CLI_PATH },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results' },
    help: { type: 'boolean', default: false },
  },
})

class BenchError extends Error {
  override name = 'BenchError'
}

function int(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback
  const v = Number(raw)
  if (!Number.isInteger(v) || v < min)
    throw new BenchError(`--${name} must be an integer >= ${min}, got ${raw}`)
  return v
}

interface Scenario {
  readonly name: 'full' | 'small'
  readonly blocks: number
  readonly txsPerBlock: number
}

interface ScenarioResult extends Scenario {
  readonly figures: CatchupFigures
  readonly writeSeconds: number
  readonly totalSeconds: number
  readonly profile?: ProfileSummary
}

const CHAIN_ID = 'catchup-chain'
/** A scenario gives up after this long (the slowest builds sync the full chain in well under it). */
const SYNC_TIMEOUT_MS = 300_000

const temps: string[] = []
let cleaned = false
function cleanup(): void {
  if (cleaned) return
  cleaned = true
  killAllChildren()
  if (!args.keep) for (const t of temps) rmSync(t, { recursive: true, force: true })
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\ncatchup: ${sig}, stopping everything`)
    cleanup()
    process.exit(130)
  })
}

function log(msg: string): void {
  console.log(`catchup: ${msg}`)
}

async function height(node: BenchNode): Promise<number> {
  return (await rpc<StatusResult>(node.rpcUrl, 'status')).sync_info.latest_block_height
}

async function runScenario(
  s: Scenario,
  cli: string,
  senders: number,
  intervalMs: number,
): Promise<ScenarioResult> {
  const dir = mkdtempSync(join(tmpdir(), `pbft-catchup-${s.name}-`))
  temps.push(dir)
  const nodes = await createCluster({ cli, dir, validators: 4, chainId: CHAIN_ID, overrides: [] })
  const [server, syncer] = nodes as [BenchNode, BenchNode]
  const w0 = performance.now()
  const tip = await writeChain(
    nodes.map((n) => n.home),
    { blocks: s.blocks, txsPerBlock: s.txsPerBlock, senders },
  )
  const writeSeconds = (performance.now() - w0) / 1000
  log(
    `${s.name}: wrote ${tip} blocks of ${s.txsPerBlock} txs into ${server.name} in ${writeSeconds.toFixed(1)} s`,
  )
  const profileDir = join(dir, 'profiles')
  try {
    startNode(server, { cli, logLevel: 'info', nodeArgs: [] })
    await waitFor(async () => (await height(server)) === tip, {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: `${server.name} to serve height ${tip}`,
    })
    const t0 = performance.now()
    startNode(syncer, {
      cli,
      logLevel: 'info',
      nodeArgs: args.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
    })
    const samples: CatchupSample[] = []
    const deadline = t0 + SYNC_TIMEOUT_MS
    for (;;) {
      if (performance.now() > deadline) throw new BenchError(`${syncer.name} did not reach ${tip} in time`)
      if (syncer.child?.exitCode !== null)
        throw new BenchError(`${syncer.name} exited; see ${syncer.logPath}`)
      const h = await height(syncer).catch(() => undefined)
      const cpu = cpuSeconds(syncer.child?.pid)
      const main = cpuSeconds(syncer.child?.pid, true)
      if (h !== undefined && cpu !== undefined && main !== undefined)
        samples.push({ tMs: performance.now(), cpuSec: cpu, mainCpuSec: main, height: h })
      if (h !== undefined && h >= tip) break
      await delay(intervalMs) // the sampling period itself, not a wait for a condition
    }
    const totalSeconds = (performance.now() - t0) / 1000
    const figures = catchupFigures(samples, 0, tip, s.txsPerBlock)
    await stopNode(syncer)
    await stopNode(server)
    let profile: ProfileSummary | undefined
    if (args.profile && existsSync(profileDir)) {
      const f = readdirSync(profileDir).find((x) => x.endsWith('.cpuprofile'))
      if (f !== undefined) profile = summarizeProfile(join(profileDir, f))
    }
    return { ...s, figures, writeSeconds, totalSeconds, ...(profile === undefined ? {} : { profile }) }
  } finally {
    await Promise.all([stopNode(syncer), stopNode(server)])
  }
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

function row(r: ScenarioResult): string {
  const f = r.figures
  return [
    r.name,
    `${r.blocks} × ${r.txsPerBlock}`,
    fmt(f.blocksPerSec, 1),
    fmt(f.txPerSec),
    `${fmt(f.cpuShare * 100)} %`,
    fmt(f.cpuMsPerBlock, 2),
    f.cpuUsPerTx === null ? '–' : fmt(f.cpuUsPerTx, 1),
    fmt(f.mainCpuMsPerBlock, 2),
    fmt(r.totalSeconds, 1),
  ].join(' | ')
}

async function main(): Promise<void> {
  if (args.help) {
    console.log(readUsage())
    return
  }
  const quick = args.quick === true
  const scenarios: Scenario[] = [
    {
      name: 'full',
      blocks: int('full-blocks', args['full-blocks'], quick ? 8 : 100, 2),
      txsPerBlock: int('full-txs', args['full-txs'], quick ? 500 : 2000, 0),
    },
    {
      name: 'small',
      blocks: int('small-blocks', args['small-blocks'], quick ? 200 : 3000, 2),
      txsPerBlock: int('small-txs', args['small-txs'], 1, 0),
    },
  ].filter((s) => args.only === undefined || s.name === args.only) as Scenario[]
  if (scenarios.length === 0) throw new BenchError(`--only must be full or small, got ${args.only}`)
  const cli = resolve(args.cli as string)
  if (!existsSync(cli)) throw new BenchError(`${cli} does not exist (npm run build first)`)
  const senders = int('senders', args.senders, 1000, 1)
  const intervalMs = int('interval', args.interval, 100, 10)
  const machine = machineInfo()
  log(`${machine.cpus} CPUs (${machine.cpuModel}), load average ${machine.loadAvg1m.toFixed(1)}, ${cli}`)
  const results: ScenarioResult[] = []
  for (const s of scenarios) {
    const r = await runScenario(s, cli, senders, intervalMs)
    results.push(r)
    log(`${s.name}: ${fmt(r.figures.blocksPerSec, 1)} blocks/s, ${fmt(r.figures.txPerSec)} tx/s`)
    if (r.profile !== undefined) console.log(formatProfile(`${s.name} (syncing node)`, r.profile))
  }
  console.log(
    '\nscenario | blocks × txs | blocks/s | tx/s | sync CPU | CPU ms/block | CPU µs/tx | main thread ms/block | wall s (start → tip)',
  )
  for (const r of results) console.log(row(r))
  console.log(`load average (1 min) at the end: ${fmt(loadavg()[0] ?? 0, 1)}`)
  const outDir = resolve(args.out as string)
  mkdirSync(outDir, { recursive: true })
  const file = join(outDir, `catchup-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(
    file,
    JSON.stringify(
      {
        machine,
        cli,
        loadAvgEnd: loadavg()[0],
        results: results.map(({ profile, ...r }) => ({ ...r, profileTop: profile?.byFunction.slice(0, 25) })),
      },
      null,
      2,
    ),
  )
  log(`report: ${file}`)
}

function readUsage(): string {
  return [
    'usage: npx tsx bench/catchup.ts [--quick] [--only full|small]',
    '  [--full-blocks 100] [--full-txs 2000] [--small-blocks 3000] [--small-txs 1] [--senders 1000]',
    '  [--interval 100] [--cli dist/cli.js] [--profile] [--keep] [--out bench/results]',
  ].join('\n')
}

main().then(
  () => {
    cleanup()
  },
  (err: unknown) => {
    console.error(`catchup: ${(err as Error).message}`)
    cleanup()
    process.exit(1)
  },
)
