/**
 * `make bench-memory` (docs/PERFORMANCE.md "Memory"): a local network of real node processes
 * under a constant offered rate (bench/load.ts) until a target count of finalized txs or a
 * duration, whichever comes first. Every few seconds it samples each node's RSS (/proc/PID/status
 * VmRSS) and, from the node's Prometheus metrics, V8 heap used / total, external memory and the
 * txs in its final blocks. Reports per node RSS idle, at the tx target, at the end and at its peak,
 * and the growth slope over the second half of the run (MB per 10 min); writes
 * <out>/memory-<ISO time>.json (every sample; rewritten each minute while it runs), .md (tables)
 * and .svg (RSS and heap over time). Every process and temp dir it made is cleaned up.
 *
 *   npx tsx bench/memory.ts [--validators 4] [--rate 550] [--txs 1000000] [--duration 1800]
 *     [--interval 5] [--clients 1000] [--window 4000] [--batch 100] [--concurrency 2]
 *     [--seed memory] [--set key=value ...] [--node-arg ARG ...] [--node-arg-at I:ARG ...]
 *     [--cli dist/cli.js] [--out bench/results]
 *     [--log-level info] [--keep] [--quick]
 *
 * `--node-arg` passes an option to each node's node binary (e.g.
 * `--node-arg=--heapsnapshot-signal=SIGUSR2 --node-arg=--diagnostic-dir=/tmp/snaps` for heap
 * snapshots on `kill -USR2 PID`); `--node-arg-at 1:--max-semi-space-size=4` to node1 only (an A/B
 * inside one run). `--txs 0` runs for the duration only. `--quick`: 60 s at the given rate, no tx target, a sample
 * every 2 s — a check that the benchmark works.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseBenchArgs } from './args.js'
import {
  type BenchNode,
  cpuSeconds,
  createCluster,
  DEFAULT_CLI_PATH,
  killAllChildren,
  rssBytes,
  startNode,
  stopNode,
} from './cluster.js'
import { machineInfo } from './machine.js'
import {
  type MemoryRun,
  type MemorySample,
  memoryReport,
  metricValue,
  type NodeSamples,
  nodeArgsAt,
  nodeFigures,
} from './memory-report.js'
import { BenchError, checkAgreement, runLoad, waitUntilLive } from './steps.js'
import type { LoadConfig, LoadResult } from './types.js'

const { values: args } = parseBenchArgs({
  options: {
    validators: { type: 'string', default: '4' },
    rate: { type: 'string', default: '550' },
    txs: { type: 'string', default: '1000000' },
    duration: { type: 'string', default: '1800' },
    interval: { type: 'string', default: '5' },
    idle: { type: 'string', default: '10' },
    clients: { type: 'string', default: '1000' },
    window: { type: 'string', default: '4000' },
    batch: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '2' },
    seed: { type: 'string', default: 'memory' },
    cli: { type: 'string', default: DEFAULT_CLI_PATH },
    set: { type: 'string', multiple: true, default: [] },
    'node-arg': { type: 'string', multiple: true, default: [] },
    'node-arg-at': { type: 'string', multiple: true, default: [] },
    out: { type: 'string', default: 'bench/results' },
    'log-level': { type: 'string', default: 'info' },
    keep: { type: 'boolean', default: false },
    report: { type: 'string' },
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

let tmp: string | undefined
let cleaned = false
function cleanup(): void {
  if (cleaned) return
  cleaned = true
  killAllChildren()
  if (tmp !== undefined && !args.keep) rmSync(tmp, { recursive: true, force: true })
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\nbench-memory: ${sig}, stopping everything`)
    cleanup()
    process.exit(130)
  })
}

function log(msg: string): void {
  console.log(`bench-memory: ${msg}`)
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function sampleNode(node: BenchNode, t: number): Promise<MemorySample> {
  const rss = rssBytes(node.child?.pid) ?? null
  let text = ''
  try {
    const res = await fetch(node.metricsUrl, { signal: AbortSignal.timeout(15_000) })
    text = await res.text()
  } catch {
    // a node too busy to answer within 15 s: RSS still counts, the heap figures are missing
  }
  return {
    t,
    txs: metricValue(text, 'pbft_block_txs_sum'),
    rssBytes: rss,
    heapUsedBytes: metricValue(text, 'nodejs_heap_size_used_bytes'),
    heapTotalBytes: metricValue(text, 'nodejs_heap_size_total_bytes'),
    externalBytes: metricValue(text, 'nodejs_external_memory_bytes'),
    cpuSec: cpuSeconds(node.child?.pid) ?? null,
  }
}

async function main(): Promise<void> {
  if (args.help) {
    console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0])
    return
  }
  if (args.report !== undefined) {
    // the .md and .svg again from a run's JSON (e.g. of a run still going, or stopped)
    const path = resolve(args.report)
    const report = memoryReport(JSON.parse(readFileSync(path, 'utf8')) as MemoryRun)
    const base = path.replace(/\.json$/, '')
    writeFileSync(`${base}.md`, report.md)
    writeFileSync(`${base}.svg`, report.svg)
    console.log(report.md)
    log(`wrote ${base}.md and ${base}.svg`)
    return
  }
  const validators = int('validators', args.validators, 1)
  const rate = int('rate', args.rate, 1)
  const targetTxs = args.quick ? 0 : int('txs', args.txs, 0)
  const durationSec = args.quick ? 60 : int('duration', args.duration, 10)
  const intervalSec = args.quick ? 2 : int('interval', args.interval, 1)
  const idleSec = args.quick ? 4 : int('idle', args.idle, 0)
  const clients = int('clients', args.clients, 1)
  if (clients > 10_000) throw new BenchError('--clients above 10000 would overflow the node public-key cache')
  const cli = args.cli
  if (!existsSync(cli)) throw new BenchError(`${cli} not found: run \`make build\` first`)
  const hardDeadline = setTimeout(
    () => {
      console.error('bench-memory: hard deadline reached, aborting')
      cleanup()
      process.exit(1)
    },
    (durationSec + 600) * 1000,
  )
  hardDeadline.unref()

  const machine = machineInfo()
  log(
    `machine: ${machine.cpus} × ${machine.cpuModel}, node ${machine.node}, load avg ${machine.loadAvg1m.toFixed(2)}`,
  )
  const startedAt = new Date()
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
  const outDir = resolve(args.out)
  mkdirSync(outDir, { recursive: true })
  const base = join(outDir, `memory-${stamp}`)

  tmp = mkdtempSync(join(tmpdir(), 'pbft-bench-memory-'))
  const nodes = await createCluster({
    cli,
    dir: tmp,
    validators,
    chainId: CHAIN_ID,
    overrides: ['metrics.enabled=true', ...args.set],
  })
  const argsAt = nodeArgsAt(args['node-arg-at'], nodes.length)
  for (const [i, n] of nodes.entries()) {
    startNode(n, {
      cli,
      logLevel: args['log-level'],
      nodeArgs: [...args['node-arg'], ...(argsAt.get(i) ?? [])],
    })
  }
  log(`${validators} validators started in ${tmp}; waiting for a first final block`)
  await waitUntilLive(nodes, { chainId: CHAIN_ID, seed: args.seed })

  // ---- sampling: absolute times until the load's start is known, then t relative to it
  const raw: { at: number; samples: MemorySample[]; loadAvg1m: number }[] = []
  let loadStart: number | undefined
  let sampling = true
  const config = {
    validators,
    rate,
    targetTxs,
    durationSec,
    intervalSec,
    idleSec,
    clients,
    window: Number(args.window),
    batch: Number(args.batch),
    concurrency: Number(args.concurrency),
    seed: args.seed,
    overrides: args.set,
    cli,
  }
  const series = (): { nodes: NodeSamples[]; loadAvg: { t: number; loadAvg1m: number }[] } => {
    const t0 = loadStart ?? Number.POSITIVE_INFINITY
    const rel = (at: number): number => (at - t0) / 1000
    return {
      nodes: nodes.map((n, k) => ({
        node: n.name,
        samples: raw.map((r) => ({ ...(r.samples[k] as MemorySample), t: rel(r.at) })),
      })),
      loadAvg: raw.map((r) => ({ t: rel(r.at), loadAvg1m: r.loadAvg1m })),
    }
  }
  const writeJson = (extra: object): void => {
    const s = series()
    const figures = s.nodes.map((n) => nodeFigures(n, targetTxs))
    writeFileSync(
      `${base}.json`,
      `${JSON.stringify({ startedAt: startedAt.toISOString(), config, machine, figures, ...extra, ...s }, null, 1)}\n`,
    )
  }
  const sampler = (async () => {
    let lastReport = 0
    while (sampling) {
      const at = performance.now()
      const samples = await Promise.all(nodes.map((n) => sampleNode(n, 0)))
      raw.push({ at, samples, loadAvg1m: loadavg()[0] ?? 0 })
      if (loadStart !== undefined && at - lastReport >= 60_000) {
        lastReport = at
        const t = (at - loadStart) / 1000
        const txs = Math.max(0, ...samples.map((s) => s.txs ?? 0))
        log(
          `t=${t.toFixed(0)}s txs=${txs} RSS ${samples.map((s) => ((s.rssBytes ?? 0) / 1e6).toFixed(0)).join('/')} MB ` +
            `heap ${samples.map((s) => ((s.heapUsedBytes ?? 0) / 1e6).toFixed(0)).join('/')} MB load avg ${(loadavg()[0] ?? 0).toFixed(1)}`,
        )
        writeJson({ running: true })
      }
      const wait = intervalSec * 1000 - (performance.now() - at)
      if (wait > 0) await sleep(wait)
    }
  })()
  if (idleSec > 0) {
    log(`sampling ${idleSec} s idle`)
    await sleep(idleSec * 1000)
  }

  const resultPath = join(tmp, 'load-result.json')
  const loadConfig: LoadConfig = {
    rpcUrls: nodes.map((n) => n.rpcUrl),
    wsUrl: `${(nodes[0] as BenchNode).rpcUrl.replace(/^http/, 'ws')}/websocket`,
    chainId: CHAIN_ID,
    clients,
    seed: args.seed,
    durationSec,
    warmupSec: 0,
    rate,
    window: int('window', args.window, 1),
    batch: int('batch', args.batch, 1),
    concurrency: int('concurrency', args.concurrency, 1),
    // about 20 s of txs up front; the load process signs the rest as it goes
    poolTxs: Math.min(rate * 20, 50_000),
    drainSec: 10,
    out: resultPath,
    stopAfterFinalized: targetTxs,
  }
  const configPath = join(tmp, 'load-config.json')
  writeFileSync(configPath, JSON.stringify(loadConfig))
  log(
    `load: ${clients} clients, ${rate} tx/s offered until ${targetTxs > 0 ? `${targetTxs} txs are final or ` : ''}` +
      `${durationSec} s; a sample every ${intervalSec} s`,
  )
  await runLoad(configPath, nodes, (durationSec + 300) * 1000, {
    // warm-up 0: the steady window starts with the load
    atSteadyStart: () => {
      loadStart = performance.now()
    },
    quiet: true,
  })
  sampling = false
  await sampler
  // one last sample, after the drain
  raw.push({
    at: performance.now(),
    samples: await Promise.all(nodes.map((n) => sampleNode(n, 0))),
    loadAvg1m: loadavg()[0] ?? 0,
  })
  const load = JSON.parse(readFileSync(resultPath, 'utf8')) as LoadResult
  const agreement = await checkAgreement(nodes)
  await Promise.all(nodes.map((n) => stopNode(n)))

  const report = memoryReport({ ...series(), startedAt: startedAt.toISOString(), config, machine })
  const { figures, meanLoadAvg1m: meanLoadAvg } = report
  const loadSec = load.steady.toSec
  writeJson({
    running: false,
    load: {
      txPerSec: load.steady.txPerSec,
      seconds: loadSec,
      latencyMs: load.steady.latencyMs,
      totals: load.totals,
    },
    meanLoadAvg1m: meanLoadAvg,
    agreement,
  })
  writeFileSync(`${base}.md`, report.md)
  writeFileSync(`${base}.svg`, report.svg)

  const fmt = (v: number | null, d = 0): string => (v === null ? '-' : v.toFixed(d))
  console.log(
    [
      '',
      '================ pbft-node bench-memory ================',
      `network     ${validators} validators on ${machine.cpus} CPUs; load avg ${meanLoadAvg.toFixed(1)} on average during the load`,
      `load        ${rate} tx/s offered; ${load.totals.finalized} txs final in ${loadSec.toFixed(0)} s (${load.steady.txPerSec.toFixed(0)} tx/s), p50 ${load.steady.latencyMs.p50.toFixed(0)} ms`,
      ...figures.map(
        (f) =>
          `${f.node.padEnd(11)} RSS idle ${fmt(f.rssIdleMB)} MB, end ${fmt(f.rssEndMB)} MB, peak ${fmt(f.rssPeakMB)} MB` +
          `${targetTxs > 0 ? `, at ${targetTxs} txs ${fmt(f.rssAtTargetMB)} MB` : ''}; slope ${fmt(f.rssSlopeMBPer10Min, 1)} MB/10 min ` +
          `(heap ${fmt(f.heapUsedEndMB)} MB, floor ${fmt(f.heapFloorEndMB)} MB, floor slope ${fmt(f.heapFloorSlopeMBPer10Min, 1)})`,
      ),
      `agreement   ${agreement.agree ? 'all nodes agree' : 'NODES DISAGREE'} at height ${agreement.height}`,
      `results     ${base}.json, .md, .svg`,
      '========================================================',
    ].join('\n'),
  )
  if (!agreement.agree) throw new BenchError(`nodes disagree at height ${agreement.height}`)
}

main().then(
  () => {
    cleanup()
    process.exit(0)
  },
  (err: unknown) => {
    console.error(`bench-memory failed: ${err instanceof Error ? err.message : String(err)}`)
    if (tmp !== undefined) {
      for (const f of existsSync(tmp) ? readdirSync(tmp).filter((x) => x.endsWith('.log')) : []) {
        const text = readFileSync(join(tmp, f), 'utf8').trim().split('\n').slice(-15).join('\n')
        console.error(`--- ${f} ---\n${text}`)
      }
    }
    cleanup()
    process.exit(1)
  },
)
