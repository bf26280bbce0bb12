import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { signTx } from '../../src/codec/tx-sign.js'
import { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../src/crypto/hash.js'
import { waitFor } from '../helpers/wait.js'

/** Real-process test harness: the built CLI (dist/cli.js), real libp2p over loopback, real LevelDB. */
export const CLI = resolve('dist/cli.js')

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/**
 * The lowest port the kernel hands out as a TCP source port (ip_local_port_range). Test ports stay
 * below it: a port inside that range can be taken while its node is down — by any outgoing
 * connection, or by a peer's re-dial to it, which Linux may turn into a self-connection from that very
 * port — and the node's restart then fails with EADDRINUSE.
 */
function ephemeralPortFloor(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    if (Number.isInteger(low) && low > 21_000) return low
  } catch {
    // not Linux: the IANA ephemeral range starts at 49152, Linux's default at 32768
  }
  return 32_768
}

/** A base port with `count` consecutive free ports below the ephemeral range, from a pid-derived start. */
export async function freePortBlock(count: number): Promise<number> {
  const top = ephemeralPortFloor()
  const span = Math.max(1, Math.floor((top - 20_000 - count) / 50))
  let base = 20_000 + ((process.pid * 37) % span) * 50
  for (let attempt = 0; attempt < 400; attempt++, base += count + 1) {
    if (base + count > top) base = 20_000
    let ok = true
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p)
    if (ok) return base
  }
  throw new Error('no free block of ports')
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

export function runCli(args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`pbft ${args.join(' ')} timed out`))
    }, timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolvePromise({ code, stdout, stderr })
    })
  })
}

export async function rpc<T = unknown>(url: string, method: string, params?: object): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(10_000),
  })
  const body = (await res.json()) as { result?: T; error?: { code: number; message: string } }
  if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code })
  return body.result as T
}

export interface StatusResult {
  node_info: { peer_id: string; chain_id: string; listen_addrs: string[]; version: string }
  sync_info: {
    latest_block_height: number
    latest_block_hash: string
    latest_app_hash: string
    latest_block_time: string
    catching_up: boolean
  }
  consensus: { view: number; primary: string; is_validator: boolean }
  mempool: { n_txs: number; total_bytes: number }
  n_peers: number
}

export class TestNode {
  child: ChildProcess | undefined
  readonly logPath: string
  constructor(
    readonly name: string,
    readonly home: string,
    readonly logDir: string,
    readonly extraArgs: string[] = [],
  ) {
    this.logPath = join(logDir, `${name}.log`)
  }

  get rpcUrl(): string {
    const config = JSON.parse(readFileSync(join(this.home, 'config.json'), 'utf8')) as {
      rpc: { laddr: string }
    }
    return `http://${config.rpc.laddr}`
  }

  start(): void {
    const log = createWriteStream(this.logPath, { flags: 'a' })
    const child = spawn(process.execPath, [CLI, 'start', '--home', this.home, ...this.extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PBFT_LOG_LEVEL: process.env.PBFT_LOG_LEVEL ?? 'debug', PBFT_LOG_PRETTY: '0' },
    })
    child.stdout?.pipe(log)
    child.stderr?.pipe(log)
    this.child = child
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    const child = this.child
    if (child === undefined || !this.running) return child?.exitCode ?? null
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    const code = await exited
    clearTimeout(timer)
    return code
  }

  status(): Promise<StatusResult> {
    return rpc<StatusResult>(this.rpcUrl, 'status')
  }

  async height(): Promise<number> {
    return (await this.status()).sync_info.latest_block_height
  }
}

/** A devnet of real node processes made with `pbft testnet`, torn down by close(). */
export class TestNet {
  readonly nodes: TestNode[] = []
  private constructor(
    readonly dir: string,
    readonly basePort: number,
  ) {}

  static async create(validators: number, observers = 0): Promise<TestNet> {
    const dir = mkdtempSync(join(tmpdir(), 'pbft-e2e-'))
    // p2p and RPC ports, then one metrics port per home (pbft testnet's layout)
    const basePort = await freePortBlock(3 * (validators + observers))
    const res = await runCli([
      'testnet',
      '--validators',
      String(validators),
      '--observers',
      String(observers),
      '--output',
      join(dir, 'net'),
      '--base-port',
      String(basePort),
      '--chain-id',
      'e2e-chain',
    ])
    if (res.code !== 0) throw new Error(`pbft testnet failed: ${res.stderr}`)
    const net = new TestNet(dir, basePort)
    for (let i = 0; i < validators; i++)
      net.nodes.push(new TestNode(`node${i}`, join(dir, 'net', `node${i}`), dir))
    for (let i = 0; i < observers; i++) {
      net.nodes.push(new TestNode(`observer${i}`, join(dir, 'net', `observer${i}`), dir))
    }
    return net
  }

  node(name: string): TestNode {
    const n = this.nodes.find((x) => x.name === name)
    if (n === undefined) throw new Error(`no node ${name}`)
    return n
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop('SIGKILL')))
    if (process.env.PBFT_KEEP_E2E === '1') return
    rmSync(this.dir, { recursive: true, force: true })
  }

  /** Last lines of every node's log, for a failing test's message. */
  logsTail(lines = 30): string {
    return this.nodes
      .map((n) => {
        try {
          const text = readFileSync(n.logPath, 'utf8').trim().split('\n')
          return `--- ${n.name} ---\n${text.slice(-lines).join('\n')}`
        } catch {
          return `--- ${n.name} --- (no log)`
        }
      })
      .join('\n')
  }
}

// ---- additions for the fault-tolerance suites (faults, byzantine, soak) ----

/** The parts of HOME/config.json the fault suites adjust; the rest is kept as read. */
export interface ConfigJson {
  consensus: Record<string, number>
  metrics: { enabled: boolean; laddr: string }
  mempool: Record<string, number>
  [field: string]: unknown
}

/** Reads HOME/config.json, lets `edit` change it, writes it back. */
export function patchConfig(home: string, edit: (cfg: ConfigJson) => void): void {
  const path = join(home, 'config.json')
  const cfg = JSON.parse(readFileSync(path, 'utf8')) as ConfigJson
  edit(cfg)
  writeFileSync(path, JSON.stringify(cfg, null, 2))
}

/** Short consensus timers (fast view changes in tests) and metrics on, for every node of `net`. */
export function useFastConsensus(net: TestNet, viewChangeMs = 1000, viewChangeMaxMs = 8000): void {
  for (const n of net.nodes) {
    patchConfig(n.home, (cfg) => {
      cfg.consensus.view_change_timeout_ms = viewChangeMs
      cfg.consensus.view_change_timeout_max_ms = viewChangeMaxMs
      cfg.metrics.enabled = true
    })
  }
}

export function genesisPathOf(node: TestNode): string {
  return join(node.home, 'genesis.json')
}

export function metricsUrlOf(node: TestNode): string {
  const cfg = JSON.parse(readFileSync(join(node.home, 'config.json'), 'utf8')) as ConfigJson
  return `http://${cfg.metrics.laddr}/metrics`
}

/** Sum of pbft_gossip_messages_total samples matching result (and topic / reason when given). */
export async function gossipCount(
  node: TestNode,
  filter: { result: 'accept' | 'ignore' | 'reject'; topic?: string; reason?: string },
): Promise<number> {
  const text = await (await fetch(metricsUrlOf(node), { signal: AbortSignal.timeout(5_000) })).text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith('pbft_gossip_messages_total{')) continue
    if (!line.includes(`result="${filter.result}"`)) continue
    if (filter.topic !== undefined && !line.includes(`topic="${filter.topic}"`)) continue
    if (filter.reason !== undefined && !line.includes(`reason="${filter.reason}"`)) continue
    sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

/** Starts every node of `nodes` and waits until each serves RPC with at least `peers` peers. */
export async function startAll(nodes: TestNode[], peers: number, timeoutMs = 30_000): Promise<void> {
  for (const n of nodes) n.start()
  await waitFor(
    async () => (await Promise.all(nodes.map((n) => n.status()))).every((s) => s.n_peers >= peers),
    {
      timeoutMs,
      intervalMs: 100,
      message: `${nodes.map((n) => n.name).join(',')} serving RPC with ${peers} peers`,
    },
  )
}

/** Waits until every node in `nodes` is at `height` or above. */
export async function waitHeight(nodes: TestNode[], height: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => (await Promise.all(nodes.map((n) => n.height()))).every((h) => h >= height), {
    timeoutMs,
    intervalMs: 100,
    message: `height ${height} on ${nodes.map((n) => n.name).join(',')}`,
  })
}

/**
 * A devnet of `validators` nodes with the metrics endpoint on, started, with `txs` set txs from one
 * client (seeded by `clientSeed`) final, one after the other: each block interval needs two blocks.
 */
export async function startMetricsNet(validators: number, clientSeed: string, txs: number): Promise<TestNet> {
  const net = await TestNet.create(validators)
  try {
    for (const n of net.nodes)
      patchConfig(n.home, (cfg) => {
        cfg.metrics.enabled = true
      })
    await startAll(net.nodes, validators - 1)
    const url = (net.nodes[0] as TestNode).rpcUrl
    const signer = new Ed25519Signer(sha256(new TextEncoder().encode(clientSeed)))
    for (let nonce = 0; nonce < txs; nonce++) {
      const op = { type: 'set' as const, key: `k${nonce}`, value: 'v' }
      const tx = toHex(signTx(signer, { chainId: 'e2e-chain', nonce, op }))
      await rpc(url, 'broadcast_tx_commit', { tx, timeout_ms: 30_000 })
    }
    return net
  } catch (err) {
    await net.close()
    throw err
  }
}
