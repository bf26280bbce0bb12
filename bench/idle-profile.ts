/**
 * Where an idle node's CPU goes (docs/PERFORMANCE.md "Idle cost"): starts a local network of n real
 * node processes, waits until it is live and settled, then takes a V8 CPU profile of node0 over an
 * idle window only (through the inspector, so startup is not in it) and prints self time grouped
 * by package/source file and by function. The .cpuprofile is written for Chrome DevTools. Also
 * prints every node's CPU per second over the window (/proc; the profiled node pays for the
 * profiler) and the gossip copies received meanwhile (nonzero: the window was not idle). With
 * `--no-profile` it only measures (no inspector), e.g. for an idle figure after a long settle.
 *
 *   npx tsx bench/idle-profile.ts [--validators 7] [--seconds 180] [--settle 5] [--cli dist/cli.js]
 *     [--out bench/results] [--top 40] [--no-profile]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
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
import { idleFigures, type ReceivedSnapshot, receivedBetween } from './scale-report.js'
import { BenchError, rpcCall, waitUntilLive } from './steps.js'

const { values: args } = parseBenchArgs({
  options: {
    validators: { type: 'string', default: '7' },
    seconds: { type: 'string', default: '180' },
    cli: { type: 'string', default: DEFAULT_CLI_PATH },
    out: { type: 'string', default: 'bench/results' },
    top: { type: 'string', default: '40' },
    settle: { type: 'string', default: '5' },
    'no-profile': { type: 'boolean', default: false },
  },
})

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** Every node's net_info.gossip_received (empty for a build without the counters). */
async function receivedSnapshots(nodes: readonly BenchNode[]): Promise<ReceivedSnapshot[]> {
  const all = await Promise.all(
    nodes.map((n) =>
      rpcCall<{ gossip_received?: ReceivedSnapshot }>(n.rpcUrl, 'net_info').then((r) => r.gossip_received),
    ),
  )
  return all.every((r) => r !== undefined) ? (all as ReceivedSnapshot[]) : []
}

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
async function cdp(url: string) {
  const ws = new WebSocket(url)
  await new Promise<void>((res, rej) => {
    ws.onopen = () => res()
    ws.onerror = () => rej(new BenchError(`cannot open the inspector at ${url}`))
  })
  let next = 1
  const waiting = new Map<number, (r: unknown) => void>()
  ws.onmessage = (ev) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown }
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg.result)
  }
  return {
    send(method: string, params: object = {}): Promise<unknown> {
      const id = next++
      ws.send(JSON.stringify({ id, method, params }))
      return new Promise((r) => waiting.set(id, r))
    },
    close: () => ws.close(),
  }
}

/** The package (node_modules/<scope>/<name>) or our own source file a frame belongs to. */
function bucket(url: string, fn: string): string {
  if (url === '')
    return fn === '(garbage collector)' || fn === '(program)' || fn === '(idle)' ? fn : `(native) ${fn}`
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url)
  }
  if (url.startsWith('node:')) return url
  const dist = url.indexOf('/dist/')
  return dist >= 0 ? url.slice(dist + 1) : url
}

function summarize(p: Profile, top: number): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfUs = new Map<number, number>()
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] as number
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i + 1] ?? 0))
  }
  const byBucket = new Map<string, number>()
  const byFn = new Map<string, number>()
  // "first own frame": the innermost frame of ours or of a package other than the bundled
  // dependencies, so that library self time is charged to what called it
  const byOwner = new Map<string, number>()
  let total = 0
  for (const [id, us] of selfUs) {
    const n = byId.get(id) as ProfileNode
    const { functionName, url, lineNumber } = n.callFrame
    total += us
    const b = bucket(url, functionName)
    byBucket.set(b, (byBucket.get(b) ?? 0) + us)
    const f = `${functionName || '(anonymous)'} ${b}:${lineNumber + 1}`
    byFn.set(f, (byFn.get(f) ?? 0) + us)
    // top-of-task: the outermost JS frame below the root, which says which timer/event ran
    let cur: number | undefined = id
    const chain: ProfileNode[] = []
    while (cur !== undefined) {
      const node = byId.get(cur) as ProfileNode
      chain.push(node)
      cur = parent.get(cur)
    }
    const outer = chain
      .reverse()
      .filter((x) => x.callFrame.url !== '' || x.callFrame.functionName.startsWith('('))
      .slice(0, 3)
      .map(
        (x) =>
          `${x.callFrame.functionName || '(anon)'}@${bucket(x.callFrame.url, x.callFrame.functionName)}:${x.callFrame.lineNumber + 1}`,
      )
      .join(' > ')
    byOwner.set(outer, (byOwner.get(outer) ?? 0) + us)
  }
  const secs = (p.endTime - p.startTime) / 1e6
  const fmt = (m: Map<string, number>, k: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(
        ([name, us]) =>
          `${((us / total) * 100).toFixed(1).padStart(5)} %  ${(us / 1000 / secs).toFixed(2).padStart(6)} ms/s  ${name}`,
      )
      .join('\n')
  return [
    `profile: ${secs.toFixed(0)} s, ${(total / 1000).toFixed(0)} ms sampled`,
    '\n== self time by package / file ==',
    fmt(byBucket, top),
    '\n== self time by function ==',
    fmt(byFn, top),
    '\n== self time by outermost frames (which task ran) ==',
    fmt(byOwner, top),
  ].join('\n')
}

async function main(): Promise<number> {
  const n = Number(args.validators)
  const seconds = Number(args.seconds)
  if (!Number.isInteger(n) || n < 1)
    throw new BenchError(`--validators must be a positive integer, got ${args.validators}`)
  if (!(seconds > 0)) throw new BenchError(`--seconds must be positive, got ${args.seconds}`)
  const settle = Number(args.settle)
  if (!(settle >= 0)) throw new BenchError(`--settle must be >= 0, got ${args.settle}`)
  const profiling = !args['no-profile']
  const tmp = mkdtempSync(join(tmpdir(), 'pbft-idleprof-'))
  try {
    const nodes = await createCluster({
      cli: args.cli,
      dir: tmp,
      validators: n,
      chainId: 'bench-chain',
      overrides: [],
    })
    nodes.forEach((node, i) => {
      startNode(node, {
        cli: args.cli,
        logLevel: 'info',
        nodeArgs: i === 0 && profiling ? ['--inspect=127.0.0.1:0'] : [],
      })
    })
    await waitUntilLive(nodes, { chainId: 'bench-chain', seed: 'idle-profile' })
    await new Promise((r) => setTimeout(r, settle * 1000))
    let client: Awaited<ReturnType<typeof cdp>> | undefined
    if (profiling) {
      // --inspect=…:0 picks a free port and says which on stderr (node0's log)
      const wsUrl = /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(readFileSync(nodes[0]?.logPath ?? '', 'utf8'))?.[0]
      if (wsUrl === undefined) throw new BenchError("node0's log names no inspector address")
      client = await cdp(wsUrl)
      await client.send('Profiler.enable')
      await client.send('Profiler.setSamplingInterval', { interval: 200 })
    }
    // the RPC reads sit outside the CPU window, as in scale.ts
    const recv0 = await receivedSnapshots(nodes)
    const cpu0 = nodes.map((x) => cpuSeconds(x.child?.pid))
    const load0 = loadavg()[0] as number
    await client?.send('Profiler.start')
    await new Promise((r) => setTimeout(r, seconds * 1000))
    const stopped = (await client?.send('Profiler.stop')) as { profile: Profile } | undefined
    const cpu1 = nodes.map((x) => cpuSeconds(x.child?.pid))
    const recv1 = await receivedSnapshots(nodes)
    client?.close()
    const perNode = cpu0.map((c, i) => (((cpu1[i] ?? 0) - (c ?? 0)) / seconds) * 1000)
    const idle = idleFigures(seconds, cpu0, cpu1, recv0, recv1)
    const others = profiling ? perNode.slice(1) : perNode
    const meanOthers = others.reduce((a, b) => a + b, 0) / Math.max(1, others.length)
    console.log(
      `n=${n}, ${seconds} s idle after ${settle} s; load average ${load0.toFixed(1)} → ${(loadavg()[0] as number).toFixed(1)}; ` +
        `CPU per node (ms/s): ${perNode.map((x) => x.toFixed(1)).join(' ')}` +
        `${profiling ? ' (node0 profiled)' : ''}; mean ${profiling ? 'of the others ' : ''}${meanOthers.toFixed(1)} ms/s; ` +
        `gossip copies per s per node ${idle.gossipCopiesPerSecPerNode?.toFixed(1) ?? '?'}`,
    )
    if (recv1.length > 0 && recv0.length === recv1.length) {
      // which topics the copies came on (first copies + duplicates, per node per second)
      const topics = Object.keys(recv1[0] ?? {})
      const perTopic = topics.map((t) => {
        let sum = 0
        recv1.forEach((after, k) => {
          const r = receivedBetween(recv0[k] as ReceivedSnapshot, after, [t])
          sum += r.messages + r.duplicates
        })
        return `${t} ${(sum / recv1.length / seconds).toFixed(1)}`
      })
      console.log(`gossip copies per s per node by topic: ${perTopic.join(', ')}`)
    }
    if (stopped !== undefined) {
      mkdirSync(args.out, { recursive: true })
      const file = join(args.out, `idle-n${n}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`)
      writeFileSync(file, JSON.stringify(stopped.profile))
      console.log(summarize(stopped.profile, Number(args.top)))
      console.log(`\nwritten: ${file}`)
    }
    await Promise.all(nodes.map((x) => stopNode(x)))
    return 0
  } finally {
    killAllChildren()
    rmSync(tmp, { recursive: true, force: true })
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    killAllChildren()
    process.exit(1)
  },
)
