import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { loadNodeKey } from '../../../src/crypto/node-key.js'
import { waitFor } from '../../helpers/wait.js'
import { CLI, runCli, TestNode } from '../harness.js'

/**
 * Several "machines" on one Linux box: one network namespace per host, each with its own address
 * 127.0.100.<k>/24 on a veth whose other end is plugged into a bridge inside a private "switch"
 * namespace. Nothing is created in the root namespace, so the test traffic never leaves these
 * namespaces (FIELD-NOTES "Several hosts on one machine": lo shrunk to 127.0.0.1/32 and
 * route_localnet=1, so 127.0.100.0/24 is routed over the veth instead of being local).
 *
 * The test process (root namespace) reaches each node's RPC through a relay: a tiny forwarder
 * inside the host namespace listens on a filesystem Unix socket (those are not namespaced) and
 * a TCP listener on 127.0.0.1 in the test process pipes to it. RPC traffic therefore never
 * crosses a host's veth — the veth carries only p2p traffic, which the wire-privacy spec relies on.
 */

const execFileAsync = promisify(execFile)

/** Every name this harness creates starts with it; stale ones are found by it. */
export const NETNS_PREFIX = 'pbnx'
/** Same ports on every host: each host has its own address, as separate machines would. */
export const P2P_PORT = 26656
export const RPC_PORT = 26657
const SUBNET = '127.0.100'
const HOST_IF = 'eth0'
const MAIN_BRIDGE = 'br0'

/** Network namespaces cannot be used here (not root, no `ip`, kernel refuses); says why. */
export class NetnsUnavailableError extends Error {
  override name = 'NetnsUnavailableError'
}

export class NetnsCommandError extends Error {
  override name = 'NetnsCommandError'
}

async function ip(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('ip', args, { timeout: 10_000 })
    return stdout
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new NetnsCommandError(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`)
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function listNamespaces(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0)
}

/** Kills what runs inside a namespace and deletes it (its veths go with it). Synchronous. */
function destroyNamespaceSync(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
    for (const pid of pids
      .split('\n')
      .map(Number)
      .filter((p) => p > 0)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  } catch {
    // namespace already gone
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' })
  } catch {
    // already gone
  }
}

/** Deletes namespaces left by an earlier run of this harness whose process is dead. */
export function cleanStaleNamespaces(): string[] {
  const removed: string[] = []
  for (const ns of listNamespaces()) {
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)x\\d+-`).exec(ns)
    if (m === null || pidAlive(Number(m[1]))) continue
    destroyNamespaceSync(ns)
    removed.push(ns)
  }
  return removed
}

/** Throws NetnsUnavailableError with the reason when this machine cannot run the harness. */
export async function assertNetnsAvailable(): Promise<void> {
  if (process.platform !== 'linux') throw new NetnsUnavailableError(`needs Linux, got ${process.platform}`)
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new NetnsUnavailableError(`needs root for ip netns (uid ${process.getuid()})`)
  }
  try {
    await execFileAsync('ip', ['-V'])
  } catch (err) {
    throw new NetnsUnavailableError(`the ip command (iproute2) is not usable: ${(err as Error).message}`)
  }
  const probe = `${NETNS_PREFIX}${process.pid}x0-probe`
  try {
    await ip(['netns', 'add', probe])
  } catch (err) {
    throw new NetnsUnavailableError(`cannot create a network namespace: ${(err as Error).message}`)
  } finally {
    destroyNamespaceSync(probe)
  }
}

// Everything alive in this process, for the synchronous 'exit' safety net.
const liveNamespaces = new Set<string>()
const liveChildren = new Set<ChildProcess>()
const liveDirs = new Set<string>()
let exitHookInstalled = false

function emergencyCleanup(): void {
  for (const child of liveChildren) child.kill('SIGKILL')
  for (const ns of liveNamespaces) destroyNamespaceSync(ns)
  liveNamespaces.clear()
  if (process.env.PBFT_KEEP_E2E !== '1') {
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', emergencyCleanup)
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      emergencyCleanup()
      process.exit(sig === 'SIGINT' ? 130 : 143)
    })
  }
}

function track(child: ChildProcess): ChildProcess {
  liveChildren.add(child)
  child.once('exit', () => liveChildren.delete(child))
  return child
}

// Runs inside a host namespace: Unix socket -> the node's RPC on the host address.
const FORWARDER = `
const net = require('node:net'), fs = require('node:fs')
const [sock, host, port] = process.argv.slice(1)
try { fs.unlinkSync(sock) } catch {}
net.createServer((c) => {
  const u = net.connect(Number(port), host)
  c.pipe(u); u.pipe(c)
  c.on('error', () => u.destroy()); u.on('error', () => c.destroy())
  c.on('close', () => u.destroy()); u.on('close', () => c.destroy())
}).listen(sock, () => console.log('ready'))
`

/** A node process running inside its host's namespace. */
export class HostNode extends TestNode {
  constructor(
    readonly host: Host,
    name: string,
    home: string,
    logDir: string,
  ) {
    super(name, home, logDir)
  }

  /** The relay in the test process; stable across restarts of the node. */
  override get rpcUrl(): string {
    return this.host.rpcUrl
  }

  /** `pbft start` in the host's namespace, joined by --bootstrap like a user on that machine. */
  override start(): void {
    const h = this.host
    const args = [
      'netns',
      'exec',
      h.ns,
      process.execPath,
      CLI,
      'start',
      '--home',
      this.home,
      '--p2p.listen',
      h.p2pListen,
      '--p2p.announce',
      h.p2pListen,
      '--rpc.laddr',
      `${h.address}:${RPC_PORT}`,
      ...(h.bootstrap.length > 0 ? ['--bootstrap', h.bootstrap.join(',')] : []),
      ...this.extraArgs,
    ]
    // A plain fd: the child writes straight to the log file, not through the test process.
    const out = openSync(this.logPath, 'a')
    // `ip netns exec` execs the program, so the child's pid is the node's and signals reach it.
    const child = spawn('ip', args, {
      stdio: ['ignore', out, out],
      env: { ...process.env, PBFT_LOG_LEVEL: process.env.PBFT_LOG_LEVEL ?? 'debug', PBFT_LOG_PRETTY: '0' },
    })
    closeSync(out)
    this.child = track(child)
  }
}

/** One "machine": its namespace, address and the node that runs on it. */
export class Host {
  /** the relay URL of the node's RPC in the test process (set once the relay listens) */
  rpcUrl = ''
  /** multiaddrs given to --bootstrap when the node starts */
  bootstrap: string[] = []
  readonly node: HostNode

  constructor(
    /** 1-based; the address is 127.0.100.<k> */
    readonly k: number,
    readonly ns: string,
    /** name of this host's veth end in the switch namespace */
    readonly port: string,
    readonly peerId: string,
    /** the node's key file, for the wire-privacy check */
    readonly nodeKeyFile: string,
    node: { name: string; home: string; logDir: string },
  ) {
    this.node = new HostNode(this, node.name, node.home, node.logDir)
  }

  get address(): string {
    return `${SUBNET}.${this.k}`
  }

  get p2pListen(): string {
    return `/ip4/${this.address}/tcp/${P2P_PORT}`
  }

  /** full /p2p/ multiaddr of the node on this host */
  get p2pAddr(): string {
    return `${this.p2pListen}/p2p/${this.peerId}`
  }
}

export interface ConsensusTimeouts {
  viewChangeTimeoutMs: number
  viewChangeTimeoutMaxMs: number
}

export interface HostNetOptions {
  validators: number
  observers?: number
  chainId?: string
  consensus?: Partial<ConsensusTimeouts>
  /** config.json `p2p` fields for every node, e.g. `{ gossip_relays: 'on_demand' }` */
  p2p?: Record<string, unknown>
}

let runCounter = 0

/**
 * One simulated LAN of hosts. create() makes homes (`pbft testnet`), namespaces, veths and the RPC
 * relays; nodes are started with start() or node.start(); close() removes everything.
 */
export class HostNet {
  readonly hosts: Host[] = []
  private readonly relays: Server[] = []
  private readonly relaySockets = new Set<Socket>()
  private readonly forwarders: ChildProcess[] = []
  private readonly bridges = new Set<string>([MAIN_BRIDGE])
  /** blackhole routes of cutBetween(), as (host namespace, destination address) */
  private readonly blackholes: { ns: string; to: string }[] = []
  private closed = false

  private constructor(
    readonly runId: string,
    readonly dir: string,
    readonly chainId: string,
  ) {}

  get switchNs(): string {
    return `${this.runId}-sw`
  }

  get nodes(): HostNode[] {
    return this.hosts.map((h) => h.node)
  }

  get validators(): HostNode[] {
    return this.nodes.filter((n) => n.name.startsWith('node'))
  }

  rpcUrls(): string[] {
    return this.hosts.map((h) => h.rpcUrl)
  }

  static async create(opts: HostNetOptions): Promise<HostNet> {
    await assertNetnsAvailable()
    installExitHook()
    const stale = cleanStaleNamespaces()
    if (stale.length > 0) console.error(`netns harness: removed stale namespaces ${stale.join(', ')}`)
    const runId = `${NETNS_PREFIX}${process.pid}x${++runCounter}`
    const dir = mkdtempSync(join(tmpdir(), 'pbft-netns-'))
    liveDirs.add(dir)
    const chainId = opts.chainId ?? 'netns-chain'
    const net = new HostNet(runId, dir, chainId)
    try {
      await net.build(opts)
    } catch (err) {
      await net.close()
      throw err
    }
    return net
  }

  private async build(opts: HostNetOptions): Promise<void> {
    const observers = opts.observers ?? 0
    const total = opts.validators + observers
    const res = await runCli([
      'testnet',
      '--validators',
      String(opts.validators),
      '--observers',
      String(observers),
      '--output',
      join(this.dir, 'net'),
      '--chain-id',
      this.chainId,
    ])
    if (res.code !== 0) throw new Error(`pbft testnet failed: ${res.stderr}`)

    liveNamespaces.add(this.switchNs)
    await ip(['netns', 'add', this.switchNs])
    await ip(['-n', this.switchNs, 'link', 'add', MAIN_BRIDGE, 'type', 'bridge'])
    await ip(['-n', this.switchNs, 'link', 'set', MAIN_BRIDGE, 'up'])

    for (let i = 0; i < total; i++) {
      const k = i + 1
      const name = i < opts.validators ? `node${i}` : `observer${i - opts.validators}`
      const home = join(this.dir, 'net', name)
      this.tuneConfig(home, opts.consensus, opts.p2p)
      const ns = `${this.runId}-h${k}`
      const port = `h${k}`
      await this.makeHostNamespace(ns, port, `${SUBNET}.${k}`)
      const keyFile = join(home, 'node_key.json')
      const key = await loadNodeKey(keyFile)
      const host = new Host(k, ns, port, key.peerId, keyFile, { name, home, logDir: this.dir })
      host.rpcUrl = await this.startRelay(host)
      this.hosts.push(host)
    }
    // Every node is told the validators' addresses, as a user would list the known peers; an
    // observer is a late joiner nobody knows about until it dials in.
    const validatorAddrs = this.hosts.filter((h) => h.node.name.startsWith('node')).map((h) => h.p2pAddr)
    for (const h of this.hosts) h.bootstrap = validatorAddrs.filter((a) => a !== h.p2pAddr)
  }

  private tuneConfig(
    home: string,
    consensus: Partial<ConsensusTimeouts> | undefined,
    p2p: Record<string, unknown> | undefined,
  ): void {
    const path = join(home, 'config.json')
    const cfg = JSON.parse(readFileSync(path, 'utf8')) as {
      consensus: Record<string, number>
      p2p: Record<string, unknown>
    }
    cfg.consensus.view_change_timeout_ms = consensus?.viewChangeTimeoutMs ?? 1_000
    cfg.consensus.view_change_timeout_max_ms = consensus?.viewChangeTimeoutMaxMs ?? 8_000
    cfg.p2p = { ...cfg.p2p, ...p2p }
    writeFileSync(path, JSON.stringify(cfg, null, 2))
  }

  private async makeHostNamespace(ns: string, port: string, address: string): Promise<void> {
    liveNamespaces.add(ns)
    await ip(['netns', 'add', ns])
    await ip([
      'link',
      'add',
      port,
      'netns',
      this.switchNs,
      'type',
      'veth',
      'peer',
      'name',
      HOST_IF,
      'netns',
      ns,
    ])
    await ip(['-n', this.switchNs, 'link', 'set', port, 'master', MAIN_BRIDGE])
    await ip(['-n', this.switchNs, 'link', 'set', port, 'up'])
    await ip(['-n', ns, 'link', 'set', 'lo', 'up'])
    // lo must not claim 127.0.0.0/8, or 127.0.100.x would be delivered locally, never sent.
    await ip(['-n', ns, 'addr', 'del', '127.0.0.1/8', 'dev', 'lo'])
    await ip(['-n', ns, 'addr', 'add', '127.0.0.1/32', 'dev', 'lo'])
    await ip(['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=1'])
    await ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', HOST_IF])
    await ip(['-n', ns, 'link', 'set', HOST_IF, 'up'])
  }

  private async startRelay(host: Host): Promise<string> {
    const sock = join(this.dir, `rpc-h${host.k}.sock`)
    const fwd = track(
      spawn(
        'ip',
        ['netns', 'exec', host.ns, process.execPath, '-e', FORWARDER, sock, host.address, String(RPC_PORT)],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      ),
    )
    this.forwarders.push(fwd)
    await new Promise<void>((resolve, reject) => {
      fwd.once('exit', (code) => reject(new Error(`RPC forwarder in ${host.ns} exited with ${code}`)))
      fwd.stdout?.once('data', () => resolve())
    })
    const server = createServer((client) => {
      const upstream = tcpConnect({ path: sock })
      this.relaySockets.add(client)
      client.once('close', () => this.relaySockets.delete(client))
      client.pipe(upstream)
      upstream.pipe(client)
      client.on('error', () => upstream.destroy())
      upstream.on('error', () => client.destroy())
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    })
    this.relays.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const addr = server.address()
    if (addr === null || typeof addr === 'string') throw new Error('relay has no TCP address')
    return `http://127.0.0.1:${addr.port}`
  }

  node(name: string): HostNode {
    return this.host(name).node
  }

  host(name: string | HostNode): Host {
    const h = this.hosts.find((x) => x.node === name || x.node.name === name)
    if (h === undefined) throw new Error(`no host ${typeof name === 'string' ? name : name.name}`)
    return h
  }

  /** Starts the given nodes (default: all validators) and waits until each serves RPC. */
  async start(nodes: HostNode[] = this.validators, timeoutMs = 30_000): Promise<void> {
    for (const n of nodes) n.start()
    await waitFor(
      async () => {
        for (const n of nodes) {
          if (!n.running) throw new Error(`${n.name} exited: ${this.logsTail(20, [n])}`)
        }
        await Promise.all(nodes.map((n) => n.status()))
        return true
      },
      { timeoutMs, intervalMs: 200, message: `${nodes.map((n) => n.name).join(',')} serving RPC` },
    )
  }

  // ---- faults: all done on the switch side, so a host sees a silent cable cut, not an error ----

  /** Pulls the host's cable: its packets are dropped silently until restore(). */
  async cut(node: HostNode): Promise<void> {
    await ip(['-n', this.switchNs, 'link', 'set', this.host(node).port, 'down'])
  }

  async restore(node: HostNode): Promise<void> {
    await ip(['-n', this.switchNs, 'link', 'set', this.host(node).port, 'up'])
  }

  /**
   * Splits the LAN: group i is plugged into its own bridge, so hosts talk only within their
   * group. Hosts in no group stay with group 0.
   */
  async partition(groups: HostNode[][]): Promise<void> {
    for (const [i, group] of groups.entries()) {
      const bridge = i === 0 ? MAIN_BRIDGE : `br${i}`
      if (!this.bridges.has(bridge)) {
        await ip(['-n', this.switchNs, 'link', 'add', bridge, 'type', 'bridge'])
        await ip(['-n', this.switchNs, 'link', 'set', bridge, 'up'])
        this.bridges.add(bridge)
      }
      for (const n of group)
        await ip(['-n', this.switchNs, 'link', 'set', this.host(n).port, 'master', bridge])
    }
  }

  /**
   * Takes down the link between two hosts only: each drops whatever it would send to the other (a
   * blackhole route in its namespace), so the two cannot reach each other while both still reach
   * every other host.
   */
  async cutBetween(a: HostNode, b: HostNode): Promise<void> {
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      const ns = this.host(from).ns
      const dest = this.host(to).address
      await ip(['-n', ns, 'route', 'add', 'blackhole', `${dest}/32`])
      this.blackholes.push({ ns, to: dest })
    }
  }

  /** Every host back on one bridge with its cable in, and every link cut by cutBetween() back. */
  async heal(): Promise<void> {
    for (const { ns, to } of this.blackholes.splice(0))
      await ip(['-n', ns, 'route', 'del', 'blackhole', `${to}/32`])
    for (const h of this.hosts) {
      await ip(['-n', this.switchNs, 'link', 'set', h.port, 'master', MAIN_BRIDGE])
      await ip(['-n', this.switchNs, 'link', 'set', h.port, 'up'])
    }
  }

  /** Toggles the host's cable every periodMs until durationMs has passed; ends with it plugged in. */
  async flap(node: HostNode, periodMs: number, durationMs: number): Promise<number> {
    const deadline = Date.now() + durationMs
    let toggles = 0
    let up = true
    try {
      while (Date.now() < deadline) {
        up = !up
        await (up ? this.restore(node) : this.cut(node))
        toggles++
        // the flapping rhythm is the scenario, not a wait for a condition
        await new Promise((r) => setTimeout(r, periodMs))
      }
    } finally {
      await this.restore(node)
    }
    return toggles
  }

  /** Runs a command inside a host's namespace (e.g. tcpdump); killed by close() or at exit. */
  spawnIn(node: HostNode, command: string, args: string[]): ChildProcess {
    return track(spawn('ip', ['netns', 'exec', this.host(node).ns, command, ...args], { stdio: 'pipe' }))
  }

  /**
   * Starts tcpdump on an interface of the node's host ('eth0' = its cable, 'lo' = traffic within
   * the host, e.g. RPC) and resolves once it is listening; stop() ends it and returns the pcap.
   */
  async startCapture(
    node: HostNode,
    opts: { iface: 'eth0' | 'lo'; filter: string; name: string },
  ): Promise<Capture> {
    const file = join(this.dir, `${opts.name}.pcap`)
    // --immediate-mode: libpcap otherwise holds packets in a ring block for up to 1 s and drops
    // that block on SIGINT; -U writes each packet at once; -s 0 whole packets; -n no lookups
    const child = this.spawnIn(node, 'tcpdump', [
      '-i',
      opts.iface,
      '--immediate-mode',
      '-U',
      '-n',
      '-s',
      '0',
      '-w',
      file,
      opts.filter,
    ])
    let stderr = ''
    child.stderr?.on('data', (d) => {
      stderr += d
    })
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`tcpdump exited ${child.exitCode}: ${stderr.trim()}`)
        return stderr.includes('listening on')
      },
      { timeoutMs: 10_000, intervalMs: 50, message: `tcpdump listening on ${opts.iface} of ${node.name}` },
    )
    return {
      file,
      stop: async () => {
        child.kill('SIGINT')
        const code = await exited
        if (code !== 0) throw new Error(`tcpdump ended with ${code}: ${stderr.trim()}`)
        return readFileSync(file)
      },
    }
  }

  /** Last lines of the nodes' logs, for a failing test's message. */
  logsTail(lines = 30, nodes: HostNode[] = this.nodes): string {
    return nodes
      .map((n) => {
        try {
          const text = readFileSync(n.logPath, 'utf8').trim().split('\n')
          return `--- ${n.name} (${n.host.address}) ---\n${text.slice(-lines).join('\n')}`
        } catch {
          return `--- ${n.name} --- (no log)`
        }
      })
      .join('\n')
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all(this.nodes.map((n) => n.stop('SIGKILL')))
    for (const f of this.forwarders) f.kill('SIGKILL')
    for (const r of this.relays) r.close()
    // close() waits for open connections, and fetch keeps some alive
    for (const s of this.relaySockets) s.destroy()
    for (const h of this.hosts) {
      destroyNamespaceSync(h.ns)
      liveNamespaces.delete(h.ns)
    }
    destroyNamespaceSync(this.switchNs)
    liveNamespaces.delete(this.switchNs)
    // namespaces whose creation failed half-way are still tracked under this run's prefix
    for (const ns of [...liveNamespaces].filter((n) => n.startsWith(`${this.runId}-`))) {
      destroyNamespaceSync(ns)
      liveNamespaces.delete(ns)
    }
    if (process.env.PBFT_KEEP_E2E !== '1') rmSync(this.dir, { recursive: true, force: true })
    liveDirs.delete(this.dir)
  }

  /** Names of this run's namespaces that still exist (teardown check). */
  leftovers(): string[] {
    return listNamespaces().filter((n) => n.startsWith(`${this.runId}-`))
  }
}

/** A running tcpdump; stop() flushes and returns the pcap bytes. */
export interface Capture {
  readonly file: string
  stop(): Promise<Buffer>
}
