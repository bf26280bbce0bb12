/**
 * The flags of `pbft start` that override config.json, one per config field and derived from its
 * schema (CONFIG_FIELDS), each also read from a PBFT_* environment variable: docs/HOME.md "Flags
 * override config.json". Precedence: flag > environment > config.json > default.
 */
import { type Command, InvalidArgumentError, Option } from 'commander'
import { CONFIG_FIELDS, type ConfigField, type ConfigPath, flagName, type NodeFlags } from '../node/config.js'
import { booleanOption, listOption } from './options.js'

/** The variable of a flag: PBFT_, then the flag without its dashes, upper case, `.` and `-` as `_`. */
export function envName(flag: string): string {
  return `PBFT_${flag.replace(/^-+/, '').replace(/[.-]/g, '_').toUpperCase()}`
}

/** Each field's argument name and help; a new config field does not compile until it has one. */
const FLAG_HELP: Record<ConfigPath, { arg: string; help: string }> = {
  'p2p.listen': { arg: '<addrs>', help: 'comma-separated multiaddrs to listen on (TCP, no /p2p/)' },
  'p2p.announce': { arg: '<addrs>', help: 'comma-separated multiaddrs peers should dial instead (NAT)' },
  'p2p.bootstrap': {
    arg: '<multiaddrs>',
    help: "comma-separated /p2p/ multiaddrs of peers to dial ('' for none)",
  },
  'p2p.mdns': { arg: '[bool]', help: 'discover peers on the local network with mDNS' },
  'p2p.validator_msg_rate': {
    arg: '<n>',
    help: "votes per second relayed from one validator (its budget's rate)",
  },
  'p2p.validator_msg_burst': { arg: '<n>', help: 'votes one validator may send at once above its rate' },
  'p2p.validator_view_change_rate': {
    arg: '<n>',
    help: 'VIEW-CHANGE/NEW-VIEW per second from one validator',
  },
  'p2p.validator_view_change_burst': {
    arg: '<n>',
    help: 'VIEW-CHANGE/NEW-VIEW one validator may send at once',
  },
  'p2p.faulty_validator_cooldown_ms': {
    arg: '<ms>',
    help: 'ignore a validator proven to equivocate for this long (0: never)',
  },
  'p2p.compact_proposals': {
    arg: '[bool]',
    help: 'publish own PRE-PREPAREs as header and tx hashes (false: the full block)',
  },
  'p2p.gossip_mesh_degree': {
    arg: '<n>',
    help: 'gossipsub D: mesh peers each message is relayed to (0, with _low and _high 0: no relays)',
  },
  'p2p.gossip_mesh_degree_low': { arg: '<n>', help: 'gossipsub Dlo: graft more mesh peers below this' },
  'p2p.gossip_mesh_degree_high': { arg: '<n>', help: 'gossipsub Dhi: prune mesh peers above this' },
  'p2p.gossip_relays': {
    arg: '<mode>',
    help: "on_demand: a mesh only while a validator is unreachable; always: gossipsub's mesh all the time",
  },
  'p2p.gossip_lazy_degree': { arg: '<n>', help: 'gossipsub Dlazy: peers sent IHAVE gossip per heartbeat' },
  'p2p.gossip_flood_publish': { arg: '[bool]', help: "send this node's own messages to every topic peer" },
  'p2p.gossip_idontwant_min_bytes': {
    arg: '<n>',
    help: 'send IDONTWANT for messages of at least this many bytes (0: never)',
  },
  'rpc.laddr': { arg: '<host:port>', help: 'JSON-RPC listen address (port 0: any free port)' },
  'rpc.max_connections_per_ip': { arg: '<n>', help: 'most open RPC connections from one address (1-4096)' },
  'rpc.header_timeout_ms': { arg: '<ms>', help: "a request's headers must arrive within this" },
  'rpc.body_timeout_ms': { arg: '<ms>', help: "a request's body must arrive within this after its headers" },
  'rpc.cors_allowed_origins': {
    arg: '<origins>',
    help: "comma-separated origins browsers may call the RPC from ('*' for any, '' for none)",
  },
  'metrics.enabled': { arg: '[bool]', help: 'serve Prometheus metrics at GET /metrics' },
  'metrics.laddr': { arg: '<host:port>', help: 'metrics listen address' },
  'mempool.max_txs': { arg: '<n>', help: 'most pending txs held at once' },
  'mempool.max_bytes': { arg: '<n>', help: 'most encoded bytes of pending txs held at once' },
  'mempool.max_nonce_ahead': { arg: '<n>', help: "how far above a sender's next nonce a tx may wait" },
  'mempool.ttl_ms': { arg: '<ms>', help: 'a tx pending longer is dropped (expired)' },
  'consensus.view_change_timeout_ms': { arg: '<ms>', help: 'the first view-change timer' },
  'consensus.view_change_timeout_max_ms': { arg: '<ms>', help: 'the cap of the doubling view-change timer' },
  'consensus.view_change_timeout_per_tx_ms': {
    arg: '<ms>',
    help: "added to a height's timer per tx of the block accepted for it (0-100, fractions allowed)",
  },
  'consensus.max_block_txs': { arg: '<n>', help: 'most txs in a block this node proposes (1-5000)' },
  'consensus.max_block_bytes': { arg: '<n>', help: 'most bytes of a block this node proposes' },
  'consensus.propose_delay_ms': { arg: '<ms>', help: 'how long the primary batches txs before proposing' },
  'consensus.pipeline_depth': {
    arg: '<k>',
    help: 'heights agreed at once (1-4; the same on every validator)',
  },
  'consensus.max_queued_messages': {
    arg: '<n>',
    help: 'most peer consensus messages waiting for the engine (then the oldest goes)',
  },
  'log.level': { arg: '<level>', help: 'log level' },
  'log.format': {
    arg: '<format>',
    help: 'log lines: auto (pretty in a terminal, else JSON), json or pretty',
  },
  'runtime.heap_growth_percent': {
    arg: '<n>',
    help: "V8 heap growth between full GCs in % of the live data (0 = V8's adaptive policy); less RSS, more GC",
  },
}

function integerOption(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('Expected an integer.')
  return n
}

/** A decimal number such as 0.5 or 500 (a rate); the schema checks its range. */
function numberOption(value: string): number {
  const n = Number(value)
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n))
    throw new InvalidArgumentError('Expected a number.')
  return n
}

function flagOption(field: ConfigField): Option {
  const flag = flagName(field.path)
  const { arg, help } = FLAG_HELP[field.path]
  const option = new Option(`${flag} ${arg}`, `${help} [config ${field.path}]`)
    .env(envName(flag))
    .helpGroup(`${field.path.split('.')[0]} options (override config.json):`)
  if (field.kind === 'list') return option.argParser(listOption)
  if (field.kind === 'boolean') return option.argParser(booleanOption)
  if (field.kind === 'integer') return option.argParser(integerOption)
  if (field.kind === 'number') return option.argParser(numberOption)
  return field.choices === undefined ? option : option.choices(field.choices)
}

/** Adds a flag for every config.json field to a command (`pbft start`). */
export function addNodeFlags(cmd: Command): Command {
  for (const field of CONFIG_FIELDS) cmd.addOption(flagOption(field))
  return cmd
}

/**
 * The config overrides a command parsed (flags and their variables), and how to name each in an
 * error: the flag, or the variable when the value came from the environment.
 */
export function nodeFlagsOf(cmd: Command): { flags: NodeFlags; name: (path: ConfigPath) => string } {
  const opts = cmd.opts<Record<string, unknown>>()
  const flags: Record<string, unknown> = {}
  const sources = new Map<string, string>()
  for (const field of CONFIG_FIELDS) {
    const option = cmd.options.find((o) => o.long === flagName(field.path))
    if (option === undefined) continue
    const key = option.attributeName()
    if (opts[key] === undefined) continue
    flags[field.path] = opts[key]
    if (cmd.getOptionValueSource(key) === 'env') sources.set(field.path, envName(flagName(field.path)))
  }
  return {
    // Each value was parsed for its field's kind above; applyFlags checks it against the schema.
    flags: flags as NodeFlags,
    name: (path) => sources.get(path) ?? flagName(path),
  }
}
