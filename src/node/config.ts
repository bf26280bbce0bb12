import { readFile, writeFile } from 'node:fs/promises'
import { isIPv4, isIPv6 } from 'node:net'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { issuePath, zodMessage } from '../chain/zod-issues.js'
import { MAX_BLOCK_BYTES, MAX_PIPELINE_DEPTH, MAX_TXS_PER_BLOCK } from '../codec/limits.js'
import { defaultMempoolOptions } from '../mempool/options.js'
import {
  defaultGossipOptions,
  defaultProvenFaultyCooldownMs,
  defaultValidatorBudgets,
} from '../network/options.js'
import { originProblem } from '../rpc/cors.js'
import { DEFAULT_RPC_LIMITS } from '../rpc/options.js'

/** A bad config.json or flag value; the message names the field (e.g. `rpc.laddr`) or flag. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** A bad value of a flag (or of its environment variable); the message names it. */
export class FlagError extends ConfigError {
  override name = 'FlagError'
}

export const CONFIG_FILE = 'config.json'

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
/** auto: pretty in a terminal (or with PBFT_LOG_PRETTY=1), JSON lines otherwise */
const LOG_FORMATS = ['auto', 'json', 'pretty'] as const

const DEFAULT_P2P_PORT = 26656
const DEFAULT_RPC_PORT = 26657
const DEFAULT_METRICS_PORT = 26660

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
  // The node speaks TCP only (docs/PROTOCOL.md).
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

/** Web origins for CORS; the RPC server owns the rule (docs/RPC.md "CORS and browser origins"). */
const originList = z.array(z.string()).superRefine((list, ctx) => {
  list.forEach((text, i) => {
    const problem = originProblem(text)
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
const positiveNumber = z.number().positive()
const nonNegativeInt = z.number().int().nonnegative()

interface AddressOptions {
  p2pHost?: string
  rpcHost?: string
  p2pPort?: number
  rpcPort?: number
  metricsPort?: number
}

/**
 * The default addresses. p2p listens on every interface (others must be able to dial in); RPC and
 * metrics bind to loopback only unless configured otherwise (docs/HOME.md).
 */
function defaultAddresses(o: AddressOptions = {}) {
  const host = o.rpcHost ?? '127.0.0.1'
  const local = isIPv6(host) ? `[${host}]` : host
  return {
    p2pListen: `/ip4/${o.p2pHost ?? '0.0.0.0'}/tcp/${o.p2pPort ?? DEFAULT_P2P_PORT}`,
    rpcLaddr: `${local}:${o.rpcPort ?? DEFAULT_RPC_PORT}`,
    metricsLaddr: `${local}:${o.metricsPort ?? DEFAULT_METRICS_PORT}`,
  }
}

// ---- the options (docs/HOME.md) ----

// Each option is declared once, here: its config.json key (snake_case; the code sees it in
// camelCase, see NodeConfig), its check and its default. Lodestar style: every option has a
// default, so config.json needs only what differs. A missing section is an empty one.
const sections = {
  p2p: z
    .strictObject({
      /** multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/26656 */
      listen: multiaddrList('listen').default(() => [defaultAddresses().p2pListen]),
      /** multiaddrs others should dial instead of the listen ones (NAT, port forwarding) */
      announce: multiaddrList('announce').default(() => []),
      /** full /p2p/ multiaddrs dialled at start and re-dialled with backoff when lost */
      bootstrap: multiaddrList('bootstrap').default(() => []),
      mdns: z.boolean().default(false),
      // What one genesis validator's consensus messages may cost this node (docs/PROTOCOL.md §2.5).
      // The network layer owns the defaults and says why they are what they are (ValidatorBudgets).
      /** PRE-PREPARE/PREPARE/COMMIT/REJECT per second sustained, per validator */
      validator_msg_rate: positiveNumber.default(defaultValidatorBudgets.votes.ratePerSec),
      /** … and at once, after a quiet spell */
      validator_msg_burst: positiveInt.default(defaultValidatorBudgets.votes.burst),
      /** VIEW-CHANGE/NEW-VIEW per second sustained, per validator */
      validator_view_change_rate: positiveNumber.default(defaultValidatorBudgets.viewChanges.ratePerSec),
      validator_view_change_burst: positiveInt.default(defaultValidatorBudgets.viewChanges.burst),
      /** how long verified equivocation evidence excludes its validator, ms; 0: never excluded */
      faulty_validator_cooldown_ms: nonNegativeInt.default(defaultProvenFaultyCooldownMs),
      /** publish own PRE-PREPAREs in the compact form (header and tx hashes; docs/PROTOCOL.md §3.6) */
      compact_proposals: z.boolean().default(true),
      // How consensus messages and tx batches spread (docs/PROTOCOL.md §2.2). The network layer owns
      // the defaults and says why they are what they are (GossipOptions).
      /** gossipsub D: peers a node relays each topic's messages to; 0: no eager relays (IHAVE only) */
      gossip_mesh_degree: nonNegativeInt.default(defaultGossipOptions.D),
      /** Dlo: below this many mesh peers the heartbeat grafts more */
      gossip_mesh_degree_low: nonNegativeInt.default(defaultGossipOptions.Dlo),
      /** Dhi: above this many it prunes down to D */
      gossip_mesh_degree_high: nonNegativeInt.default(defaultGossipOptions.Dhi),
      /**
       * on_demand: the mesh above only while a validator is unreachable (none of one's own while all
       * are connected: no duplicate relays); always: gossipsub's mesh all the time
       */
      gossip_relays: z.enum(['on_demand', 'always']).default(defaultGossipOptions.relays),
      /** Dlazy: non-mesh peers sent IHAVE gossip each heartbeat */
      gossip_lazy_degree: nonNegativeInt.default(defaultGossipOptions.Dlazy),
      /** a node's own messages go to every topic peer, not only its mesh */
      gossip_flood_publish: z.boolean().default(defaultGossipOptions.floodPublish),
      /** IDONTWANT for first-seen messages of at least this many bytes; 0: none */
      gossip_idontwant_min_bytes: nonNegativeInt.default(defaultGossipOptions.idontwantMinBytes),
    })
    .superRefine((p, ctx) => {
      if (p.gossip_mesh_degree_low > p.gossip_mesh_degree) {
        ctx.addIssue({
          code: 'custom',
          path: ['gossip_mesh_degree_low'],
          message: `must be <= gossip_mesh_degree (${p.gossip_mesh_degree})`,
        })
      }
      if (p.gossip_mesh_degree_high < p.gossip_mesh_degree) {
        ctx.addIssue({
          code: 'custom',
          path: ['gossip_mesh_degree_high'],
          message: `must be >= gossip_mesh_degree (${p.gossip_mesh_degree})`,
        })
      }
    })
    .prefault({}),
  // The RPC server owns these defaults and documents each limit (RpcLimits); this is their file form.
  rpc: z
    .strictObject({
      laddr: hostPort.default(() => defaultAddresses().rpcLaddr),
      /** one address cannot hold more than this many of the server's connections (docs/RPC.md "Limits") */
      max_connections_per_ip: positiveInt
        .max(DEFAULT_RPC_LIMITS.maxConnections)
        .default(DEFAULT_RPC_LIMITS.maxConnectionsPerIp),
      header_timeout_ms: positiveInt.default(DEFAULT_RPC_LIMITS.headerTimeoutMs),
      body_timeout_ms: positiveInt.default(DEFAULT_RPC_LIMITS.bodyTimeoutMs),
      /** web pages that may call the RPC from a browser; none by default, `*` for any */
      cors_allowed_origins: originList.default(() => []),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      enabled: z.boolean().default(false),
      laddr: hostPort.default(() => defaultAddresses().metricsLaddr),
    })
    .prefault({}),
  // The mempool owns its defaults and documents each option (MempoolOptions); this is their file form.
  mempool: z
    .strictObject({
      max_txs: positiveInt.default(defaultMempoolOptions.maxTxs),
      max_bytes: positiveInt.default(defaultMempoolOptions.maxBytes),
      max_nonce_ahead: nonNegativeInt.default(defaultMempoolOptions.maxNonceAhead),
      ttl_ms: positiveInt.default(defaultMempoolOptions.ttlMs),
    })
    .prefault({}),
  consensus: z
    .strictObject({
      /** first view-change timer; doubles on each failed view up to the max (PBFT §4.4 liveness) */
      view_change_timeout_ms: positiveInt.default(2_000),
      view_change_timeout_max_ms: positiveInt.default(30_000),
      /**
       * added to a height's progress timer per tx of the block this node accepted for it (else of the
       * last final block): it is built, validated and executed before the votes come
       */
      view_change_timeout_per_tx_ms: z.number().nonnegative().max(100).default(1),
      max_block_txs: positiveInt.max(MAX_TXS_PER_BLOCK).default(2_000),
      max_block_bytes: positiveInt.max(MAX_BLOCK_BYTES).default(MAX_BLOCK_BYTES),
      /** how long the primary waits after the first pending tx so one block batches many */
      propose_delay_ms: nonNegativeInt.default(10),
      /**
       * K: heights agreed at once (PBFT watermarks; the primary proposes the next block before the
       * previous one is final). Every validator of a chain should use the same value.
       */
      pipeline_depth: positiveInt.max(MAX_PIPELINE_DEPTH).default(MAX_PIPELINE_DEPTH),
      /**
       * Most peer consensus messages waiting for the engine; when full, the oldest waiting one is let go
       * and counted (pbft_consensus_messages_shed_total): a node that cannot keep up holds a bounded queue.
       */
      max_queued_messages: positiveInt.default(10_000),
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
    .prefault({}),
  log: z
    .strictObject({ level: z.enum(LOG_LEVELS).default('info'), format: z.enum(LOG_FORMATS).default('auto') })
    .prefault({}),
  // How the process uses memory (src/node/runtime.ts owns what each option does).
  runtime: z
    .strictObject({
      /** 0: V8's adaptive heap policy; N: the heap grows to (1 + N/100) × the live data between full GCs */
      heap_growth_percent: nonNegativeInt.max(1000).default(0),
    })
    .prefault({}),
}

const configFile = z.strictObject(sections)

type ConfigFile = z.input<typeof configFile>

/** `max_nonce_ahead` → `maxNonceAhead`, as a type; `camelCase` below is the same at run time. */
type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S

type CamelSection<T> = { readonly [K in keyof T & string as CamelCase<K>]: Readonly<T[K]> }

/** The node's options (docs/HOME.md) in code form: config.json's tree with camelCase field names. */
export type NodeConfig = {
  readonly [S in keyof z.output<typeof configFile>]: CamelSection<z.output<typeof configFile>[S]>
}

const camelCase = (key: string): string => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())

/** The schema's output in code form: camelCase field names. */
function toNodeConfig(data: z.output<typeof configFile>): NodeConfig {
  const sectionsOut: Record<string, unknown> = {}
  for (const [name, fields] of Object.entries(data)) {
    sectionsOut[name] = Object.fromEntries(Object.entries(fields).map(([key, v]) => [camelCase(key), v]))
  }
  // The schema above is the type's source, and CamelCase mirrors camelCase.
  return sectionsOut as NodeConfig
}

/** Validates a parsed config.json value (missing sections and fields take their defaults). */
export function parseConfig(value: unknown, source = CONFIG_FILE): NodeConfig {
  const parsed = configFile.safeParse(value, { error: zodMessage })
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue === undefined ? '' : issuePath(issue.path)
    throw new ConfigError(`${source}: ${path === '' ? '' : `${path}: `}${issue?.message ?? 'invalid'}`)
  }
  return toNodeConfig(parsed.data)
}

/** The default config: the schema's defaults, with the given hosts and ports in the addresses. */
export function defaultConfig(opts: AddressOptions = {}): NodeConfig {
  const base = parseConfig({})
  const addr = defaultAddresses(opts)
  return {
    ...base,
    p2p: { ...base.p2p, listen: [addr.p2pListen] },
    rpc: { ...base.rpc, laddr: addr.rpcLaddr },
    metrics: { ...base.metrics, laddr: addr.metricsLaddr },
  }
}

/** config.json's tree for a config: every field of the schema, in its order, under its snake_case key. */
export function configToFile(c: NodeConfig): ConfigFile {
  const file: Record<string, Record<string, unknown>> = {}
  for (const [name, schema] of Object.entries(sections)) {
    const fields: Readonly<Record<string, unknown>> = c[name as keyof NodeConfig]
    file[name] = Object.fromEntries(
      Object.keys(schema.unwrap().shape).map((key) => {
        const v = fields[camelCase(key)]
        return [key, Array.isArray(v) ? [...v] : v]
      }),
    )
  }
  return file as ConfigFile
}

function configPath(home: string): string {
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

type ConfigOutput = z.output<typeof configFile>
type SectionName = keyof ConfigOutput & string

/** A config field by its config.json path, `section.key`: `mempool.max_txs`, `rpc.laddr`. */
export type ConfigPath = { [S in SectionName]: `${S}.${keyof ConfigOutput[S] & string}` }[SectionName]

type FieldValue<P extends ConfigPath> = P extends `${infer S extends SectionName}.${infer K}`
  ? K extends keyof ConfigOutput[S]
    ? ConfigOutput[S][K]
    : never
  : never

/**
 * Values that override config.json for one run (`pbft start`'s flags and their PBFT_* variables,
 * docs/HOME.md "Flags override config.json"), by config path, in config.json's types.
 */
export type NodeFlags = { readonly [P in ConfigPath]?: FieldValue<P> }

/** How a field's value is written on a command line. */
export type ConfigFieldKind = 'list' | 'boolean' | 'integer' | 'number' | 'string'

/** One config.json field, as the CLI offers it for a flag. */
export interface ConfigField {
  readonly path: ConfigPath
  readonly kind: ConfigFieldKind
  /** the allowed values of an enum field */
  readonly choices?: readonly string[]
}

function fieldOf(path: ConfigPath, schema: z.ZodType): ConfigField {
  const inner = schema instanceof z.ZodDefault ? schema.unwrap() : schema
  if (inner instanceof z.ZodArray) return { path, kind: 'list' }
  if (inner instanceof z.ZodBoolean) return { path, kind: 'boolean' }
  if (inner instanceof z.ZodNumber) return { path, kind: inner.isInt ? 'integer' : 'number' }
  if (inner instanceof z.ZodEnum) return { path, kind: 'string', choices: inner.options.map(String) }
  return { path, kind: 'string' }
}

/** Every field of config.json, in the schema's order: what `pbft start` offers a flag for. */
export const CONFIG_FIELDS: readonly ConfigField[] = Object.entries(sections).flatMap(([name, section]) =>
  Object.entries(section.unwrap().shape as Record<string, z.ZodType>).map(([key, schema]) =>
    // The keys come from the schema that defines ConfigPath.
    fieldOf(`${name}.${key}` as ConfigPath, schema),
  ),
)

/**
 * The flag of a field: `--` and its path (`--mempool.max_txs`), but for the two that had short
 * names first, `--bootstrap` (p2p.bootstrap) and `--mdns` (p2p.mdns).
 */
export function flagName(path: ConfigPath): string {
  if (path === 'p2p.bootstrap') return '--bootstrap'
  if (path === 'p2p.mdns') return '--mdns'
  return `--${path}`
}

/**
 * Returns config with the given flags applied; each list flag replaces the configured list. The
 * values go through config.json's own schema, so they are checked exactly as the file is, and an
 * error names the flag: `name(path)` (by default its flag; the CLI passes the environment variable
 * when the value came from there).
 */
export function applyFlags(
  config: NodeConfig,
  flags: NodeFlags,
  name: (path: ConfigPath) => string = flagName,
): NodeConfig {
  const file = configToFile(config) as Record<string, Record<string, unknown>>
  const given = new Set<string>()
  for (const [path, value] of Object.entries(flags)) {
    if (value === undefined) continue
    const [section = '', key = ''] = path.split('.')
    const fields = file[section]
    if (fields === undefined || !Object.hasOwn(fields, key))
      throw new FlagError(`unknown config field ${path}`)
    fields[key] = Array.isArray(value) ? [...value] : value
    given.add(path)
  }
  const parsed = configFile.safeParse(file, { error: zodMessage })
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const [section, key] = issue?.path ?? []
    const path = `${String(section)}.${String(key)}`
    const message = issue?.message ?? 'invalid'
    // A check across fields can fail on one the flags did not set: name that field then.
    if (!given.has(path)) throw new FlagError(`${path} (config.json): ${message}`)
    throw new FlagError(`${name(path as ConfigPath)}: ${message}`)
  }
  return toNodeConfig(parsed.data)
}
