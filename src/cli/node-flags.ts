import type { Command } from 'commander'
import type { NodeFlags } from '../node/config.js'
import { listOption } from './options.js'

/** Adds the config-overriding flags of `pbft start` (docs/HOME.md "Flags override config.json") to a command. */
export function addNodeFlags(cmd: Command): Command {
  return cmd
    .option(
      '--bootstrap <multiaddrs>',
      'comma-separated /p2p/ multiaddrs of peers to dial (replaces p2p.bootstrap)',
      listOption,
    )
    .option(
      '--p2p.listen <addrs>',
      'comma-separated multiaddrs to listen on (replaces p2p.listen)',
      listOption,
    )
    .option(
      '--p2p.announce <addrs>',
      'comma-separated multiaddrs to announce to peers (replaces p2p.announce)',
      listOption,
    )
    .option('--rpc.laddr <host:port>', 'JSON-RPC listen address (replaces rpc.laddr)')
    .option('--mdns', 'discover peers on the local network with mDNS')
}

/** Reads the flags added by addNodeFlags from commander's parsed options. */
export function nodeFlagsFromOptions(opts: Record<string, unknown>): NodeFlags {
  const list = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.map(String) : undefined)
  const flags: NodeFlags = {}
  const bootstrap = list(opts.bootstrap)
  const listen = list(opts['p2p.listen'])
  const announce = list(opts['p2p.announce'])
  if (bootstrap !== undefined) flags.bootstrap = bootstrap
  if (listen !== undefined) flags.p2pListen = listen
  if (announce !== undefined) flags.p2pAnnounce = announce
  if (typeof opts['rpc.laddr'] === 'string') flags.rpcLaddr = opts['rpc.laddr']
  if (opts.mdns === true) flags.mdns = true
  return flags
}
