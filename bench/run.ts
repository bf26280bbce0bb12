/**
 * `make bench` (docs/PERFORMANCE.md "Running the benchmark"): starts a local network of real node processes, drives signed txs
 * through JSON-RPC from a separate load process (bench/load.ts), and reports finalized tx/s,
 * commit latency p50/p99, blocks/s and the machine's own Ed25519-verify ceiling measured in
 * the same run. Writes bench/results/<ISO time>.json and .svg. Bounded in time; every process
 * and temp dir it made is cleaned up, also on Ctrl-C or failure.
 *
 *   npx tsx bench/run.ts [--validators 4] [--duration 30] [--warmup 5] [--clients 1000]
 *     [--rate 0] [--window 4000] [--batch 100] [--concurrency 2] [--seed bench]
 *     [--set consensus.max_block_txs=4000 ...] [--profile] [--keep] [--out bench/results]
 *     [--cli dist/cli.js (another build, for A/B runs)] [--log-level info]
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { rpc, type StatusResult } from '../test/e2e/harness.js'
import { parseBenchArgs } from './args.js'
import { renderChart } from './chart.js'
import {
  type BenchNode,
  createCluster,
  DEFAULT_CLI_PATH,
  killAllChildren,
  startNode,
  stopNode,
} from './cluster.js'
import { machineInfo, measureCryptoCeiling } from './machine.js'
import { formatProfile, type ProfileSummary, summarizeProfile } from './profile.js'
import { BenchError, checkAgreement, runLoad, waitUntilLive } from './steps.js'
import type { LoadConfig, LoadResult } from './types.js'

const { values: args } = parseBenchArgs({
  options: {
    validators: { type: 'string', default: '4' },
    duration: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    clients: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '0' },
    window: { type: 'string', default: '4000' },
    batch: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '2' },
    pool: { type: 'string' },
    seed: { type: 'string', default: 'bench' },
    cli: { type: 'string', default: DEFAULT_CLI_PATH },
    set: { type: 'string', multiple: true, default: [] },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results' },
    'log-level': { type: 'string', default: 'info' },
    help: { type: 'boolean', default: false },
  },
})

function int(name: string, raw: string | undefined, min: number): number {
  const v = Number(raw)
  if (!Number.isInteger(v) || v < min)
    throw new BenchError(`--${name} must be an integer >= ${min}, got ${raw}`)
  return v
}

const CHAIN_ID = 'bench-chain'

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
    console.error(`\nbench: ${sig}, stopping everything`)
    cleanup()
    process.exit(130)
  })
}

function log(msg: string): void {
  console.log(`bench: ${msg}`)
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-'
}

async function main(): Promise<void> {
  if (args.help) {
    console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0])
    return
  }
  const validators = int('validators', args.validators, 1)
  const durationSec = int('duration', args.duration, 2)
  const warmupSec = int('warmup', args.warmup, 0)
  if (warmupSec >= durationSec) throw new BenchError('--warmup must be shorter than --duration')
  const clients = int('clients', args.clients, 1)
  const rate = int('rate', args.rate, 0)
  const window = int('window', args.window, 1)
  const batch = int('batch', args.batch, 1)
  const concurrency = int('concurrency', args.concurrency, 1)
  if (clients > 10_000) throw new BenchError('--clients above 10000 would overflow the node public-key cache')
  const cli = args.cli
  if (!existsSync(cli)) throw new BenchError(`${cli} not found: run \`make build\` first`)
  // Enough signed txs for the offered rate, or (closed loop) for ~4k tx/s; more are signed on demand.
  const poolTxs =
    args.pool !== undefined
      ? int('pool', args.pool, 1)
      : Math.ceil((rate > 0 ? rate : 4_000) * durationSec * 1.05)
  const hardDeadline = setTimeout(
    () => {
      console.error('bench: hard deadline reached, aborting')
      cleanup()
      process.exit(1)
    },
    (durationSec + 240) * 1000,
  )
  hardDeadline.unref()

  const machine = machineInfo()
  log(
    `machine: ${machine.cpus} × ${machine.cpuModel}, node ${machine.node}, load avg ${machine.loadAvg1m.toFixed(2)}`,
  )
  const crypto = measureCryptoCeiling()
  log(
    `Ed25519 verify ceiling: ${fmt(crypto.verifyPerSec)} /s per CPU-second of one core ` +
      `(${fmt(crypto.verifyPerWallSec)} /s of wall time; sign ${fmt(crypto.signPerSec)} /s, sha256 ${fmt(crypto.sha256PerSec)} /s)`,
  )

  tmp = mkdtempSync(join(tmpdir(), 'pbft-bench-'))
  const nodes = await createCluster({ cli, dir: tmp, validators, chainId: CHAIN_ID, overrides: args.set })
  const profileDir = join(tmp, 'profiles')
  const nodeArgs = args.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []
  for (const n of nodes) startNode(n, { cli, logLevel: args['log-level'], nodeArgs })
  log(`${validators} validators started in ${tmp}; waiting for a first final block`)
  await waitUntilLive(nodes, { chainId: CHAIN_ID, seed: args.seed })

  const resultPath = join(tmp, 'load-result.json')
  const loadConfig: LoadConfig = {
    rpcUrls: nodes.map((n) => n.rpcUrl),
    wsUrl: `${(nodes[0] as BenchNode).rpcUrl.replace(/^http/, 'ws')}/websocket`,
    chainId: CHAIN_ID,
    clients,
    seed: args.seed,
    durationSec,
    warmupSec,
    rate,
    window,
    batch,
    concurrency,
    poolTxs,
    drainSec: 5,
    out: resultPath,
  }
  const configPath = join(tmp, 'load-config.json')
  writeFileSync(configPath, JSON.stringify(loadConfig))
  log(
    `load: ${clients} clients, ${rate === 0 ? `closed loop, window ${window}` : `${rate} tx/s offered`}, ` +
      `batches of ${batch}, ${concurrency} requests in flight per node, ${durationSec} s (${warmupSec} s warm-up)`,
  )
  const { cpuSec, waitSec, steadyWallSec } = await runLoad(configPath, nodes, (durationSec + 180) * 1000)
  const load = JSON.parse(readFileSync(resultPath, 'utf8')) as LoadResult
  const loadAvgEnd = loadavg()[0] ?? 0
  const agreement = await checkAgreement(nodes)
  const statuses = await Promise.all(nodes.map((n) => rpc<StatusResult>(n.rpcUrl, 'status')))
  await Promise.all(nodes.map((n) => stopNode(n)))

  const startedAt = new Date()
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
  const outDir = resolve(args.out)
  mkdirSync(outDir, { recursive: true })
  const profiles: { node: string; summary: ProfileSummary }[] = []
  if (args.profile && existsSync(profileDir)) {
    // node --cpu-prof names files CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: map the pid
    // back to the node; thread 0 is the main thread, any other a worker (signature pool), kept apart.
    for (const f of readdirSync(profileDir).filter((x) => x.endsWith('.cpuprofile'))) {
      const [pid, tid] = f.split('.').slice(3, 5).map(Number)
      const node = nodes.find((n) => n.child?.pid === pid)?.name ?? f
      const name = tid === 0 || tid === undefined ? node : `${node}-worker${tid}`
      const kept = join(outDir, `${stamp}-${name}.cpuprofile`)
      copyFileSync(join(profileDir, f), kept)
      const summary = summarizeProfile(kept)
      profiles.push({ node: name, summary })
      console.log(formatProfile(kept, summary))
    }
  }

  const s = load.steady
  const nodeCpu = nodes.map((n, k) => ({
    node: n.name,
    cpuSec: cpuSec[k] ?? null,
    cpuShare: cpuSec[k] === undefined || steadyWallSec === 0 ? null : (cpuSec[k] as number) / steadyWallSec,
    /** share of the window the node's main thread was ready to run but had no CPU */
    runQueueShare:
      waitSec[k] === undefined || steadyWallSec === 0 ? null : (waitSec[k] as number) / steadyWallSec,
  }))
  const verifyBound = (machine.cpus * crypto.verifyPerSec) / validators
  // CPU the nodes spent per finalized tx: less sensitive than tx/s to other load on a shared machine.
  const knownCpu = nodeCpu.filter((c) => c.cpuSec !== null)
  const nodeCpuMsPerTx =
    knownCpu.length === nodeCpu.length && s.finalizedTxs > 0
      ? (knownCpu.reduce((sum, c) => sum + (c.cpuSec as number), 0) * 1000) / s.finalizedTxs
      : null
  const report = {
    startedAt: startedAt.toISOString(),
    config: {
      validators,
      durationSec,
      warmupSec,
      clients,
      rate,
      window,
      batch,
      concurrency,
      poolTxs,
      seed: args.seed,
      overrides: args.set,
      profile: args.profile,
      cli,
    },
    machine: { ...machine, loadAvg1mEnd: loadAvgEnd },
    crypto,
    /** no design that verifies each tx once per node can pass this on this machine */
    verifyBoundTxPerSec: verifyBound,
    results: {
      txPerSec: s.txPerSec,
      txPerSecBetweenBlocks: s.txPerSecBetweenBlocks,
      latencyMs: s.latencyMs,
      blocksPerSec: s.blocksPerSec,
      meanTxsPerBlock: s.meanTxsPerBlock,
      steadyWindowSec: [s.fromSec, s.toSec],
      finalizedTxs: s.finalizedTxs,
      nodeCpuMsPerTx,
    },
    totals: load.totals,
    nodes: nodeCpu,
    loadProcess: load.loadProcess,
    agreement,
    finalHeights: statuses.map((st) => st.sync_info.latest_block_height),
    series: load.series,
    blocks: load.blocks,
    profiles: profiles.map((p) => ({
      node: p.node,
      busyMs: p.summary.busyMs,
      byArea: p.summary.byArea,
      byFunction: p.summary.byFunction,
    })),
  }
  const jsonPath = join(outDir, `${stamp}.json`)
  const svgPath = join(outDir, `${stamp}.svg`)
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(
    svgPath,
    renderChart({
      title: `pbft-node bench — ${fmt(s.txPerSec)} tx/s finalized, p50 ${fmt(s.latencyMs.p50)} ms, p99 ${fmt(s.latencyMs.p99)} ms`,
      subtitle:
        `${validators} validators, ${clients} clients, ${rate === 0 ? `closed loop (window ${window})` : `${rate} tx/s offered`}, ` +
        `${machine.cpus} CPUs, node ${machine.node}, verify ceiling ${fmt(crypto.verifyPerSec)}/s/core, ${startedAt.toISOString()}`,
      series: load.series,
      blocks: load.blocks,
      warmupSec,
    }),
  )

  const t = load.totals
  const rejected = Object.entries(t.rejected)
    .map(([code, n]) => `${code}×${n}`)
    .join(' ')
  console.log(
    [
      '',
      '================ pbft-node bench ================',
      `network        ${validators} validators on ${machine.cpus} CPUs (${machine.cpuModel}); load avg ${machine.loadAvg1m.toFixed(1)} before, ${loadAvgEnd.toFixed(1)} after (other processes share these cores)`,
      `load           ${clients} clients, ${rate === 0 ? `closed loop, window ${window}` : `${rate} tx/s offered`}, ${durationSec} s (first ${warmupSec} s excluded)`,
      `finalized      ${fmt(s.txPerSec)} tx/s  (${s.finalizedTxs} txs in ${s.toSec - s.fromSec} s; ${s.txPerSecBetweenBlocks === null ? '-' : fmt(s.txPerSecBetweenBlocks)} tx/s between its first and last block)`,
      `latency        p50 ${fmt(s.latencyMs.p50)} ms   p90 ${fmt(s.latencyMs.p90)} ms   p99 ${fmt(s.latencyMs.p99)} ms   max ${fmt(s.latencyMs.max)} ms`,
      `blocks         ${fmt(s.blocksPerSec, 1)} blocks/s, ${fmt(s.meanTxsPerBlock, 0)} txs/block on average`,
      `verify ceiling ${fmt(crypto.verifyPerSec)} Ed25519 verifies per CPU-second (${fmt(crypto.verifyPerWallSec)}/s wall) → at most ${fmt(verifyBound)} tx/s for ${validators} nodes on ${machine.cpus} cores`,
      `node CPU       ${nodeCpu.map((c) => `${c.node} ${c.cpuShare === null ? '-' : `${fmt(c.cpuShare * 100)}%`}`).join('  ')}  (of one core, steady window)`,
      `CPU wait       ${nodeCpu.map((c) => `${c.node} ${c.runQueueShare === null ? '-' : `${fmt(c.runQueueShare * 100)}%`}`).join('  ')}  (main thread ready but waiting for a core)`,
      `CPU per tx     ${nodeCpuMsPerTx === null ? '-' : `${fmt(nodeCpuMsPerTx, 2)} ms`} of node CPU per finalized tx, all nodes together (the floor is ${fmt((validators * 1000) / crypto.verifyPerSec, 2)} ms: one verify per node)`,
      `load process   ${fmt(load.loadProcess.cpuUserSec + load.loadProcess.cpuSystemSec, 1)} s CPU (${fmt(load.loadProcess.signSec, 1)} s signing)`,
      `submitted      ${t.submitted} accepted ${t.accepted} final ${t.finalized} outstanding at end ${t.outstandingAtEnd}${rejected === '' ? '' : `  rejected ${rejected}`}${t.httpErrors > 0 ? `  http errors ${t.httpErrors}` : ''}`,
      `agreement      ${agreement.agree ? 'all nodes agree' : 'NODES DISAGREE'} at height ${agreement.height}`,
      `results        ${jsonPath}`,
      `chart          ${svgPath}`,
      '=================================================',
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
    console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`)
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
