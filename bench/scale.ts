/**
 * `make bench-scale` (docs/PERFORMANCE.md "The scale sweep"): cost versus network size and load.
 * For each validator count it starts a fresh local network of real node processes, measures idle
 * CPU per node with no load, then runs the load process once per offered rate (bench/load.ts, a
 * fresh set of client keys each time) and reads every node's CPU (/proc) and gossip receive
 * counters (net_info `gossip_received`) at the steady window's edges. Writes
 * <out>/scale-<ISO time>.json, .md (the table) and .svg (the chart). A validator count that fails
 * (e.g. too many nodes for the machine) is recorded as an error and the sweep goes on.
 *
 *   npx tsx bench/scale.ts [--validators 4,7,10,16,31] [--rates 20,100,300,1000,2000,0]
 *     [--duration 20] [--warmup 5] [--idle 5] [--clients 1000] [--window 4000] [--batch 100]
 *     [--concurrency 2] [--seed scale] [--set key=value ...] [--node-arg ARG ...] [--cli dist/cli.js]
 *     [--out bench/results] [--log-level info] [--keep] [--quick]
 *
 * Rate 0 is the closed loop (as fast as `--window` allows); `--rates none` measures idle only. `--quick`: validators 4,7, rates 100
 * and closed loop, 10 s each (3 s warm-up), 3 s idle — a check that the sweep works.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseBenchArgs } from './args.js'
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
import {
  idleFigures,
  idleTable,
  type ReceivedSnapshot,
  rateLabel,
  renderScaleChart,
  type ScaleRow,
  scaleTable,
  summarizeScaleRun,
} from './scale-report.js'
import { BenchError, checkAgreement, rpcCall, runLoad, waitUntilLive } from './steps.js'
import type { LoadConfig, LoadResult } from './types.js'

const { values: args } = parseBenchArgs({
  options: {
    validators: { type: 'string', default: '4,7,10,16,31' },
    rates: { type: 'string', default: '20,100,300,1000,2000,0' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    idle: { type: 'string', default: '5' },
    clients: { type: 'string', default: '1000' },
    window: { type: 'string', default: '4000' },
    batch: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '2' },
    seed: { type: 'string', default: 'scale' },
    cli: { type: 'string', default: DEFAULT_CLI_PATH },
    set: { type: 'string', multiple: true, default: [] },
    'node-arg': { type: 'string', multiple: true, default: [] },
    out: { type: 'string', default: 'bench/results' },
    'log-level': { type: 'string', default: 'info' },
    keep: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})

const CHAIN_ID = 'bench-chain'

function int(name: string, raw: string | undefined, min: number): number {
  const v = Number(raw)
  if (!Number.isInteger(v) || v < min)
    throw new BenchError(`--${name} must be an integer >= ${min}, got ${raw}`)
  return v
}

function intList(name: string, raw: string, min: number): number[] {
  const list = raw.split(',').map((s) => int(name, s.trim(), min))
  if (list.length === 0) throw new BenchError(`--${name} needs at least one value`)
  return list
}

const tmps = new Set<string>()
let cleaned = false
function cleanup(): void {
  if (cleaned) return
  cleaned = true
  killAllChildren()
  if (!args.keep) for (const t of tmps) rmSync(t, { recursive: true, force: true })
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\nbench-scale: ${sig}, stopping everything`)
    cleanup()
    process.exit(130)
  })
}

function log(msg: string): void {
  console.log(`bench-scale: ${msg}`)
}

function fmt(v: number | null | undefined, digits = 0): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits)
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Every node's net_info.gossip_received; undefined for a build without the counters (A/B runs). */
async function receivedSnapshots(nodes: readonly BenchNode[]): Promise<ReceivedSnapshot[] | undefined> {
  const all = await Promise.all(
    nodes.map((n) =>
      rpcCall<{ gossip_received?: ReceivedSnapshot }>(n.rpcUrl, 'net_info').then((r) => r.gossip_received),
    ),
  )
  return all.every((r) => r !== undefined) ? (all as ReceivedSnapshot[]) : undefined
}

interface SweepConfig {
  readonly validators: number[]
  readonly rates: number[]
  readonly durationSec: number
  readonly warmupSec: number
  readonly idleSec: number
  readonly clients: number
  readonly window: number
  readonly batch: number
  readonly concurrency: number
}

type IdleRow = { readonly validators: number } & ReturnType<typeof idleFigures>

interface SweepError {
  readonly validators: number
  readonly rate: number | null
  readonly error: string
}

/** One validator count: a fresh network, its idle figures, then one load run per rate. */
async function sweepValidators(
  n: number,
  cfg: SweepConfig,
  rows: ScaleRow[],
  idles: IdleRow[],
  errors: SweepError[],
): Promise<void> {
  const cli = args.cli
  const tmp = mkdtempSync(join(tmpdir(), 'pbft-scale-'))
  tmps.add(tmp)
  const nodes = await createCluster({ cli, dir: tmp, validators: n, chainId: CHAIN_ID, overrides: args.set })
  try {
    for (const node of nodes)
      startNode(node, { cli, logLevel: args['log-level'], nodeArgs: args['node-arg'] })
    log(`n=${n}: started in ${tmp}; waiting for a first final block`)
    await waitUntilLive(nodes, { chainId: CHAIN_ID, seed: `${args.seed}-n${n}` })
    // let the readiness block's votes and the startup gossip settle before measuring idle
    await sleep(2_000)
    // the RPC reads sit outside the CPU window: the window holds only the nodes' own idle work
    const idleRecv0 = await receivedSnapshots(nodes)
    const idleCpu0 = nodes.map((x) => cpuSeconds(x.child?.pid))
    await sleep(cfg.idleSec * 1000)
    const idleCpu1 = nodes.map((x) => cpuSeconds(x.child?.pid))
    const idleRecv1 = await receivedSnapshots(nodes)
    const idle = idleFigures(cfg.idleSec, idleCpu0, idleCpu1, idleRecv0 ?? [], idleRecv1 ?? [])
    idles.push({ validators: n, ...idle })
    log(
      `n=${n}: idle ${fmt(idle.cpuMsPerSecPerNode, 1)} ms CPU per s per node, ` +
        `${fmt(idle.gossipCopiesPerSecPerNode, 1)} gossip copies per s per node`,
    )
    for (const rate of cfg.rates) {
      try {
        rows.push(await oneRate(n, rate, nodes, tmp, idle, cfg))
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err)
        log(`n=${n}, ${rateLabel(rate)}: FAILED: ${msg}`)
        errors.push({ validators: n, rate, error: msg })
      }
    }
  } finally {
    await Promise.all(nodes.map((x) => stopNode(x)))
    if (!args.keep) {
      rmSync(tmp, { recursive: true, force: true })
      tmps.delete(tmp)
    }
  }
}

async function oneRate(
  n: number,
  rate: number,
  nodes: readonly BenchNode[],
  tmp: string,
  idle: ReturnType<typeof idleFigures>,
  cfg: SweepConfig,
): Promise<ScaleRow> {
  const tag = `n${n}-r${rate}`
  const resultPath = join(tmp, `load-result-${tag}.json`)
  const loadConfig: LoadConfig = {
    rpcUrls: nodes.map((x) => x.rpcUrl),
    wsUrl: `${(nodes[0] as BenchNode).rpcUrl.replace(/^http/, 'ws')}/websocket`,
    chainId: CHAIN_ID,
    clients: cfg.clients,
    // fresh client keys per run: the previous run's nonces are used on this chain
    seed: `${args.seed}-${tag}`,
    durationSec: cfg.durationSec,
    warmupSec: cfg.warmupSec,
    rate,
    window: cfg.window,
    batch: cfg.batch,
    concurrency: cfg.concurrency,
    poolTxs: Math.ceil((rate > 0 ? rate : 3_000) * cfg.durationSec * 1.05),
    drainSec: 5,
    out: resultPath,
  }
  const configPath = join(tmp, `load-config-${tag}.json`)
  writeFileSync(configPath, JSON.stringify(loadConfig))
  log(
    `n=${n}, ${rate === 0 ? `closed loop (window ${cfg.window})` : `${rate} tx/s offered`}, ${cfg.durationSec} s`,
  )
  let before: Promise<ReceivedSnapshot[] | undefined> | undefined
  let after: Promise<ReceivedSnapshot[] | undefined> | undefined
  const outcome = await runLoad(configPath, nodes, (cfg.durationSec + 180) * 1000, {
    quiet: true,
    atSteadyStart: () => {
      before = receivedSnapshots(nodes)
      before.catch(() => {})
    },
    atSteadyEnd: () => {
      after = receivedSnapshots(nodes)
      after.catch(() => {})
    },
  })
  if (before === undefined || after === undefined)
    throw new BenchError('the load process gave no steady window')
  const load = JSON.parse(readFileSync(resultPath, 'utf8')) as LoadResult
  const agreement = await checkAgreement(nodes)
  const row = summarizeScaleRun({
    validators: n,
    rate,
    steady: load.steady,
    cpuSec: outcome.cpuSec,
    steadyWallSec: outcome.steadyWallSec,
    receivedBefore: (await before) ?? [],
    receivedAfter: (await after) ?? [],
    idle,
    agree: agreement.agree,
  })
  const c = row.consensusPerBlockPerNode
  log(
    `  ${fmt(row.txPerSec)} tx/s, p50 ${fmt(row.latencyMs.p50)} ms, p99 ${fmt(row.latencyMs.p99)} ms, ` +
      `${fmt(row.blocksPerSec, 1)} blocks/s, CPU/block/node ${fmt(row.cpuMsPerBlockPerNode)} ms, ` +
      `consensus msgs/block/node ${c === null ? '-' : `${fmt(c.messages, 1)} + ${fmt(c.duplicates, 1)} dup`}` +
      `${agreement.agree ? '' : '  NODES DISAGREE'}`,
  )
  if (!agreement.agree) throw new BenchError(`n=${n}: nodes disagree at height ${agreement.height}`)
  return row
}

async function main(): Promise<number> {
  if (args.help) {
    console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0])
    return 0
  }
  const quick = args.quick
  const cfg: SweepConfig = {
    validators: quick ? [4, 7] : intList('validators', args.validators, 1),
    rates: quick ? [100, 0] : args.rates.trim() === 'none' ? [] : intList('rates', args.rates, 0),
    durationSec: quick ? 10 : int('duration', args.duration, 2),
    warmupSec: quick ? 3 : int('warmup', args.warmup, 0),
    idleSec: quick ? 3 : int('idle', args.idle, 1),
    clients: int('clients', args.clients, 1),
    window: int('window', args.window, 1),
    batch: int('batch', args.batch, 1),
    concurrency: int('concurrency', args.concurrency, 1),
  }
  if (cfg.warmupSec >= cfg.durationSec) throw new BenchError('--warmup must be shorter than --duration')
  if (cfg.clients > 10_000)
    throw new BenchError('--clients above 10000 would overflow the node public-key cache')
  const perRunSec = cfg.durationSec + 30
  const budgetSec = cfg.validators.reduce(
    (s, n) => s + 90 + 5 * n + cfg.idleSec + cfg.rates.length * perRunSec,
    0,
  )
  const hardDeadline = setTimeout(() => {
    console.error('bench-scale: hard deadline reached, aborting')
    cleanup()
    process.exit(1)
  }, budgetSec * 1000)
  hardDeadline.unref()
  const machine = machineInfo()
  log(
    `machine: ${machine.cpus} × ${machine.cpuModel}, load avg ${machine.loadAvg1m.toFixed(2)}; ` +
      `validators ${cfg.validators.join(',')} × rates ${cfg.rates.map(rateLabel).join(', ')}, ${cfg.durationSec} s each`,
  )
  const startedAt = new Date()
  const rows: ScaleRow[] = []
  const idles: IdleRow[] = []
  const errors: SweepError[] = []
  for (const n of cfg.validators) {
    try {
      await sweepValidators(n, cfg, rows, idles, errors)
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      log(`n=${n}: FAILED: ${msg}`)
      errors.push({ validators: n, rate: null, error: msg })
    }
  }
  const loadAvgEnd = loadavg()[0] ?? 0
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
  const outDir = resolve(args.out)
  mkdirSync(outDir, { recursive: true })
  const subtitle =
    `${machine.cpus} CPUs (${machine.cpuModel}), node ${machine.node}, load avg ${machine.loadAvg1m.toFixed(1)} → ` +
    `${loadAvgEnd.toFixed(1)}, ${cfg.durationSec} s per run (${cfg.warmupSec} s warm-up), all nodes on this machine`
  const table = `${rows.length === 0 ? '' : scaleTable(rows)}${rows.length === 0 ? '' : '\n'}${idleTable(idles)}`
  const base = join(outDir, `scale-${stamp}`)
  writeFileSync(
    `${base}.json`,
    `${JSON.stringify({ startedAt: startedAt.toISOString(), config: { ...cfg, quick, seed: args.seed, overrides: args.set, cli: args.cli }, machine: { ...machine, loadAvg1mEnd: loadAvgEnd }, rows, idle: idles, errors }, null, 2)}\n`,
  )
  writeFileSync(
    `${base}.md`,
    `# pbft-node scale sweep, ${startedAt.toISOString()}\n\n${subtitle}\n\n${table}${errors.length === 0 ? '' : `\nErrors:\n\n${errors.map((e) => `- n=${e.validators}${e.rate === null ? '' : `, ${rateLabel(e.rate)}`}: ${e.error}`).join('\n')}\n`}`,
  )
  if (rows.length > 0) writeFileSync(`${base}.svg`, renderScaleChart(rows, subtitle))
  console.log(`\n${table}`)
  log(`results ${base}.json, table ${base}.md, chart ${base}.svg`)
  if (errors.length > 0) log(`${errors.length} run(s) failed: see the table's errors`)
  return errors.length === 0 && (rows.length > 0 || (cfg.rates.length === 0 && idles.length > 0)) ? 0 : 1
}

main().then(
  (code) => {
    cleanup()
    process.exit(code)
  },
  (err: unknown) => {
    console.error(`bench-scale failed: ${err instanceof Error ? err.message : String(err)}`)
    cleanup()
    process.exit(1)
  },
)
