import { readFile, writeFile } from 'node:fs/promises'
import { isIPv4, isIPv6 } from 'node:net'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { issuePath, zodMessage } from '../chain/zod-issues.js'
import { MAX_BLOCK_BYTES, MAX_PIPELINE_DEPTH, MAX_TXS_PER_BLOCK } from '../codec/limits.js'

/** A bad config.json or flag value; the message names the field (e.g. `rpc.laddr`) or flag. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

export const CONFIG_FILE = 'config.json'

/** The node's options (SPEC §4) in code form; config.json holds the same tree in snake_case. */
export interface NodeConfig {
  readonly p2p: {
    /** multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/26656 */
    readonly listen: readonly string[]
    /** multiaddrs others should dial instead of the listen ones (NAT, port forwarding) */
    readonly announce: readonly string[]
    /** full /p2p/ multiaddrs dialled at start and re-dialled with backoff when lost */
    readonly bootstrap: readonly string[]
    readonly mdns: boolean
  }
  readonly rpc: { readonly laddr: string }
  readonly metrics: { readonly enabled: boolean; readonly laddr: string }
  readonly mempool: {
    readonly maxTxs: number
    readonly maxBytes: number
    /** how far beyond a sender's next nonce a tx may be and still wait in the mempool */
    readonly maxNonceAhead: number
    readonly ttlMs: number
  }
  readonly consensus: {
    /** first view-change timer; doubles on each failed view up to the max (PBFT §4.4 liveness) */
    readonly viewChangeTimeoutMs: number
    readonly viewChangeTimeoutMaxMs: number
    readonly maxBlockTxs: number
    readonly maxBlockBytes: number
    /** how long the primary waits after the first pending tx so one block batches many */
    readonly proposeDelayMs: number
    /**
     * K: heights agreed at once (PBFT watermarks; the primary proposes the next block before the
     * previous one is final). Every validator of a chain should use the same value.
     */
    readonly pipelineDepth: number
  }
  readonly log: { readonly level: LogLevel }
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export const DEFAULT_P2P_PORT = 26656
export const DEFAULT_RPC_PORT = 26657
export const DEFAULT_METRICS_PORT = 26660

// Lodestar style: every option has a default here, so config.json needs only what differs.
export const defaultMempoolOptions: NodeConfig['mempool'] = {
  maxTxs: 10_000,
  maxBytes: 64 * 1024 * 1024,
  maxNonceAhead: 64,
  ttlMs: 10 * 60_000,
}

export const defaultConsensusOptions: NodeConfig['consensus'] = {
  viewChangeTimeoutMs: 2_000,
  viewChangeTimeoutMaxMs: 30_000,
  maxBlockTxs: 2_000,
  maxBlockBytes: MAX_BLOCK_BYTES,
  proposeDelayMs: 10,
  pipelineDepth: MAX_PIPELINE_DEPTH,
}

/**
 * The default config. p2p listens on every interface (others must be able to dial in); RPC and
 * metrics bind to loopback only unless configured otherwise (SPEC §4).
 */
export function defaultConfig(
  opts: { p2pHost?: string; rpcHost?: string; p2pPort?: number; rpcPort?: number; metricsPort?: number } = {},
): NodeConfig {
  const host = opts.rpcHost ?? '127.0.0.1'
  const rpcHost = isIPv6(host) ? `[${host}]` : host
  return {
    p2p: {
      listen: [`/ip4/${opts.p2pHost ?? '0.0.0.0'}/tcp/${opts.p2pPort ?? DEFAULT_P2P_PORT}`],
      announce: [],
      bootstrap: [],
      mdns: false,
    },
    rpc: { laddr: `${rpcHost}:${opts.rpcPort ?? DEFAULT_RPC_PORT}` },
    metrics: { enabled: false, laddr: `${rpcHost}:${opts.metricsPort ?? DEFAULT_METRICS_PORT}` },
    mempool: { ...defaultMempoolOptions },
    consensus: { ...defaultConsensusOptions },
    log: { level: 'info' },
  }
}

// ---- field checks, shared by config.json and the command-line flags ----

const HOSTNAME_PATTERN =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** Splits `HOST:PORT` (IPv6 as `[::1]:PORT`); port 0 means "any free port". Throws ConfigError. */
export function parseHostPort(text: string): { host: string; port: number } {
  const bad = (why: string) =>
    new ConfigError(`must be HOST:PORT (e.g. 127.0.0.1:26657): ${why}, got ${JSON.stringify(text)}`)
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text)
  if (m === null) throw bad('malformed')
  const port = Number(m[3])
  if (port > 65535) throw bad('port out of range')
  if (m[1] !== undefined) {
    if (!isIPv6(m[1])) throw bad('invalid IPv6 address')
    return { host: m[1], port }
  }
  const host = m[2] as string
  const looksNumeric = /^[\d.]+$/.test(host)
  if (looksNumeric ? !isIPv4(host) : !HOSTNAME_PATTERN.test(host)) throw bad('invalid host')
  return { host, port }
}

function checkMultiaddr(text: string, kind: 'listen' | 'announce' | 'bootstrap'): string | undefined {
  let protos: string[]
  let peerId: string | null
  try {
    const ma = multiaddr(text)
    protos = ma.protoNames()
    peerId = ma.getPeerId()
  } catch (err) {
    return `invalid multiaddr ${JSON.stringify(text)}: ${(err as Error).message}`
  }
  // The node speaks TCP only (SPEC §7).
  if (!protos.includes('tcp')) return `${JSON.stringify(text)} has no /tcp/ part (only TCP is supported)`
  if (kind === 'bootstrap' && peerId === null) {
    return `${JSON.stringify(text)} must end in /p2p/<peer id> (see pbft show-node-id)`
  }
  if (kind === 'listen' && protos.includes('p2p')) return `${JSON.stringify(text)} must not contain /p2p/`
  return undefined
}

const multiaddrList = (kind: 'listen' | 'announce' | 'bootstrap') =>
  z.array(z.string()).superRefine((list, ctx) => {
    list.forEach((text, i) => {
      const problem = checkMultiaddr(text, kind)
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, path: [i] })
    })
  })

const hostPort = z.string().superRefine((text, ctx) => {
  try {
    parseHostPort(text)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
  }
})

const positiveInt = z.number().int().positive()
const nonNegativeInt = z.number().int().nonnegative()

// ---- config.json ----

const p2pFile = z
  .strictObject({
    listen: multiaddrList('listen').default(() => [...defaultConfig().p2p.listen]),
    announce: multiaddrList('announce').default(() => []),
    bootstrap: multiaddrList('bootstrap').default(() => []),
    mdns: z.boolean().default(false),
  })
  .prefault({})

const rpcFile = z.strictObject({ laddr: hostPort.default(defaultConfig().rpc.laddr) }).prefault({})

const metricsFile = z
  .strictObject({
    enabled: z.boolean().default(false),
    laddr: hostPort.default(defaultConfig().metrics.laddr),
  })
  .prefault({})

const mempoolFile = z
  .strictObject({
    max_txs: positiveInt.default(defaultMempoolOptions.maxTxs),
    max_bytes: positiveInt.default(defaultMempoolOptions.maxBytes),
    max_nonce_ahead: nonNegativeInt.default(defaultMempoolOptions.maxNonceAhead),
    ttl_ms: positiveInt.default(defaultMempoolOptions.ttlMs),
  })
  .prefault({})

const consensusFile = z
  .strictObject({
    view_change_timeout_ms: positiveInt.default(defaultConsensusOptions.viewChangeTimeoutMs),
    view_change_timeout_max_ms: positiveInt.default(defaultConsensusOptions.viewChangeTimeoutMaxMs),
    max_block_txs: positiveInt.max(MAX_TXS_PER_BLOCK).default(defaultConsensusOptions.maxBlockTxs),
    max_block_bytes: positiveInt.max(MAX_BLOCK_BYTES).default(defaultConsensusOptions.maxBlockBytes),
    propose_delay_ms: nonNegativeInt.default(defaultConsensusOptions.proposeDelayMs),
    pipeline_depth: positiveInt.max(MAX_PIPELINE_DEPTH).default(defaultConsensusOptions.pipelineDepth),
  })
  .superRefine((c, ctx) => {
    if (c.view_change_timeout_max_ms < c.view_change_timeout_ms) {
      ctx.addIssue({
        code: 'custom',
        path: ['view_change_timeout_max_ms'],
        message: `must be >= view_change_timeout_ms (${c.view_change_timeout_ms})`,
      })
    }
  })
  .prefault({})

const logFile = z.strictObject({ level: z.enum(LOG_LEVELS).default('info') }).prefault({})

const configFile = z.strictObject({
  p2p: p2pFile,
  rpc: rpcFile,
  metrics: metricsFile,
  mempool: mempoolFile,
  consensus: consensusFile,
  log: logFile,
})

export type ConfigFile = z.input<typeof configFile>

/** Validates a parsed config.json value (missing sections and fields take their defaults). */
export function parseConfig(value: unknown, source = CONFIG_FILE): NodeConfig {
  const parsed = configFile.safeParse(value, { error: zodMessage })
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue === undefined ? '' : issuePath(issue.path)
    throw new ConfigError(`${source}: ${path === '' ? '' : `${path}: `}${issue?.message ?? 'invalid'}`)
  }
  const f = parsed.data
  return {
    p2p: { listen: f.p2p.listen, announce: f.p2p.announce, bootstrap: f.p2p.bootstrap, mdns: f.p2p.mdns },
    rpc: { laddr: f.rpc.laddr },
    metrics: { enabled: f.metrics.enabled, laddr: f.metrics.laddr },
    mempool: {
      maxTxs: f.mempool.max_txs,
      maxBytes: f.mempool.max_bytes,
      maxNonceAhead: f.mempool.max_nonce_ahead,
      ttlMs: f.mempool.ttl_ms,
    },
    consensus: {
      viewChangeTimeoutMs: f.consensus.view_change_timeout_ms,
      viewChangeTimeoutMaxMs: f.consensus.view_change_timeout_max_ms,
      maxBlockTxs: f.consensus.max_block_txs,
      maxBlockBytes: f.consensus.max_block_bytes,
      proposeDelayMs: f.consensus.propose_delay_ms,
      pipelineDepth: f.consensus.pipeline_depth,
    },
    log: { level: f.log.level },
  }
}

export function configToFile(c: NodeConfig): ConfigFile {
  return {
    p2p: {
      listen: [...c.p2p.listen],
      announce: [...c.p2p.announce],
      bootstrap: [...c.p2p.bootstrap],
      mdns: c.p2p.mdns,
    },
    rpc: { laddr: c.rpc.laddr },
    metrics: { enabled: c.metrics.enabled, laddr: c.metrics.laddr },
    mempool: {
      max_txs: c.mempool.maxTxs,
      max_bytes: c.mempool.maxBytes,
      max_nonce_ahead: c.mempool.maxNonceAhead,
      ttl_ms: c.mempool.ttlMs,
    },
    consensus: {
      view_change_timeout_ms: c.consensus.viewChangeTimeoutMs,
      view_change_timeout_max_ms: c.consensus.viewChangeTimeoutMaxMs,
      max_block_txs: c.consensus.maxBlockTxs,
      max_block_bytes: c.consensus.maxBlockBytes,
      propose_delay_ms: c.consensus.proposeDelayMs,
      pipeline_depth: c.consensus.pipelineDepth,
    },
    log: { level: c.log.level },
  }
}

export function configPath(home: string): string {
  return join(home, CONFIG_FILE)
}

/** Reads and validates HOME/config.json. */
export async function loadConfig(home: string): Promise<NodeConfig> {
  const path = configPath(home)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const hint = code === 'ENOENT' ? ' (is this a node home? create one with pbft init)' : ''
    throw new ConfigError(`cannot read config ${path}: ${code ?? (err as Error).message}${hint}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`config ${path}: invalid JSON: ${(err as Error).message}`)
  }
  return parseConfig(value, `config ${path}`)
}

/** Writes HOME/config.json (validated first, so a bad config never reaches disk). */
export async function saveConfig(
  home: string,
  config: NodeConfig,
  opts: { overwrite?: boolean } = {},
): Promise<void> {
  const file = configToFile(config)
  parseConfig(file, 'config')
  const path = configPath(home)
  try {
    await writeFile(path, `${JSON.stringify(file, null, 2)}\n`, {
      flag: opts.overwrite === true ? 'w' : 'wx',
    })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new ConfigError(`config ${path} already exists`)
    throw new ConfigError(`cannot write config ${path}: ${code ?? (err as Error).message}`)
  }
}

// ---- command-line overrides ----

/** Options of `pbft start` that override config.json (SPEC §3: flags win). */
export interface NodeFlags {
  bootstrap?: readonly string[]
  p2pListen?: readonly string[]
  p2pAnnounce?: readonly string[]
  rpcLaddr?: string
  mdns?: boolean
}

function checkFlagAddrs(
  flag: string,
  kind: 'listen' | 'announce' | 'bootstrap',
  list: readonly string[],
): string[] {
  for (const text of list) {
    const problem = checkMultiaddr(text, kind)
    if (problem !== undefined) throw new ConfigError(`${flag}: ${problem}`)
  }
  return [...list]
}

/** Returns config with the given flags applied; each list flag replaces the configured list. */
export function applyFlags(config: NodeConfig, flags: NodeFlags): NodeConfig {
  let rpcLaddr = config.rpc.laddr
  if (flags.rpcLaddr !== undefined) {
    try {
      parseHostPort(flags.rpcLaddr)
    } catch (err) {
      throw new ConfigError(`--rpc.laddr: ${(err as Error).message}`)
    }
    rpcLaddr = flags.rpcLaddr
  }
  return {
    ...config,
    p2p: {
      listen:
        flags.p2pListen === undefined
          ? config.p2p.listen
          : checkFlagAddrs('--p2p.listen', 'listen', flags.p2pListen),
      announce:
        flags.p2pAnnounce === undefined
          ? config.p2p.announce
          : checkFlagAddrs('--p2p.announce', 'announce', flags.p2pAnnounce),
      bootstrap:
        flags.bootstrap === undefined
          ? config.p2p.bootstrap
          : checkFlagAddrs('--bootstrap', 'bootstrap', flags.bootstrap),
      mdns: flags.mdns === true ? true : config.p2p.mdns,
    },
    rpc: { laddr: rpcLaddr },
  }
}
