/**
 * A local network of real `node dist/cli.js start` processes for the benchmark: homes from
 * `pbft testnet` in a temp dir, free ports on 127.0.0.1, logs to files, SIGTERM then SIGKILL on
 * stop. Every spawned pid is tracked so run.ts can kill them all on Ctrl-C or failure.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePortBlock } from '../test/e2e/harness.js'

/** The built CLI; `--cli PATH` in run.ts points at another build (A/B comparisons). */
export const DEFAULT_CLI_PATH = 'dist/cli.js'

export class BenchClusterError extends Error {
  override name = 'BenchClusterError'
}

export interface BenchNode {
  readonly name: string
  readonly home: string
  readonly rpcUrl: string
  /** the node's Prometheus endpoint (served only with `--set metrics.enabled=true`) */
  readonly metricsUrl: string
  readonly logPath: string
  child: ChildProcess | undefined
}

function runCliAt(cli: string, args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    children.add(child)
    let stderr = ''
    child.stderr?.on('data', (d) => {
      stderr += d
    })
    child.once('exit', (code) => {
      children.delete(child)
      resolve({ code, stderr })
    })
  })
}

/** Every child process spawned by the bench, for the exit-time safety net. */
export const children = new Set<ChildProcess>()

export function killAllChildren(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }
}

/** Sets a dotted path (e.g. "consensus.max_block_txs") in a config object; the value is JSON or a string. */
function setPath(obj: Record<string, unknown>, path: string, raw: string): void {
  const keys = path.split('.')
  let cur = obj
  for (const k of keys.slice(0, -1)) {
    const next = cur[k]
    if (typeof next !== 'object' || next === null) cur[k] = {}
    cur = cur[k] as Record<string, unknown>
  }
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    value = raw
  }
  cur[keys[keys.length - 1] as string] = value
}

export async function createCluster(opts: {
  cli: string
  dir: string
  validators: number
  chainId: string
  overrides: readonly string[]
}): Promise<BenchNode[]> {
  // p2p and RPC ports, then one metrics port per node (pbft testnet's layout)
  const basePort = await freePortBlock(3 * opts.validators)
  const out = join(opts.dir, 'net')
  const res = await runCliAt(opts.cli, [
    'testnet',
    '--validators',
    String(opts.validators),
    '--output',
    out,
    '--base-port',
    String(basePort),
    '--host',
    '127.0.0.1',
    '--chain-id',
    opts.chainId,
  ])
  if (res.code !== 0) throw new BenchClusterError(`pbft testnet failed: ${res.stderr.trim()}`)
  const nodes: BenchNode[] = []
  for (let i = 0; i < opts.validators; i++) {
    const home = join(out, `node${i}`)
    const configPath = join(home, 'config.json')
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>
    for (const o of opts.overrides) {
      const eq = o.indexOf('=')
      if (eq <= 0) throw new BenchClusterError(`--set wants KEY=VALUE, got ${o}`)
      setPath(config, o.slice(0, eq), o.slice(eq + 1))
    }
    writeFileSync(configPath, JSON.stringify(config, null, 2))
    const laddr = (config.rpc as { laddr: string }).laddr
    const metricsLaddr = (config.metrics as { laddr: string }).laddr
    nodes.push({
      name: `node${i}`,
      home,
      rpcUrl: `http://${laddr}`,
      metricsUrl: `http://${metricsLaddr}/metrics`,
      logPath: join(opts.dir, `node${i}.log`),
      child: undefined,
    })
  }
  return nodes
}

export function startNode(
  node: BenchNode,
  opts: { cli: string; logLevel: string; nodeArgs: readonly string[] },
): void {
  const log = createWriteStream(node.logPath, { flags: 'a' })
  const child = spawn(process.execPath, [...opts.nodeArgs, opts.cli, 'start', '--home', node.home], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PBFT_LOG_LEVEL: opts.logLevel, PBFT_LOG_PRETTY: '0' },
  })
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)
  children.add(child)
  child.once('exit', () => children.delete(child))
  node.child = child
}

export async function stopNode(node: BenchNode, timeoutMs = 10_000): Promise<void> {
  const child = node.child
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  await exited
  clearTimeout(timer)
}

/**
 * utime + stime of a process (all its threads) in seconds, from /proc (Linux); with `mainThread`,
 * of its main thread only. Undefined elsewhere or once it has exited.
 */
export function cpuSeconds(pid: number | undefined, mainThread = false): number | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8')
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    return ticks / 100
  } catch {
    return undefined
  }
}

/** Resident set size of a process in bytes, from /proc/PID/status VmRSS (Linux); undefined elsewhere or once it has exited. */
export function rssBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}

/**
 * Seconds the process's main thread (where JS runs) spent runnable but waiting for a CPU, from
 * /proc/PID/schedstat (Linux): how much other processes on the machine held the node back.
 */
export function runQueueWaitSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const fields = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ')
    const waitNs = Number(fields[1])
    return Number.isFinite(waitNs) ? waitNs / 1e9 : undefined
  } catch {
    return undefined
  }
}
