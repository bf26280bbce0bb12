import { networkInterfaces } from 'node:os'
import { multiaddr } from '@multiformats/multiaddr'
import type { Command } from 'commander'
import { loadNodeKey } from '../crypto/node-key.js'
import { loadConfig, type NodeConfig } from '../node/config.js'
import type { CliContext } from './io.js'
import { existingHome } from './local.js'
import { addHomeOption } from './options.js'
import { addOutputOption, type OutputFormat } from './output.js'

/** The interface addresses a wildcard listen address stands for, external ones first. */
function interfaceAddresses(family: 'IPv4' | 'IPv6'): string[] {
  const external: string[] = []
  const internal: string[] = []
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      // Link-local IPv6 needs a zone id to be dialled; a multiaddr cannot carry it usefully.
      if (a.family !== family || (family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:'))) continue
      ;(a.internal ? internal : external).push(a.address)
    }
  }
  return [...external, ...internal]
}

/**
 * The multiaddrs others should dial, each ending in /p2p/<peer id>. Like libp2p itself: announce
 * addresses, when configured, replace the listen ones; a wildcard listen address (0.0.0.0, ::)
 * stands for every interface address of this machine.
 */
export function dialableAddrs(config: NodeConfig, peerId: string): string[] {
  const base = config.p2p.announce.length > 0 ? config.p2p.announce : config.p2p.listen
  const out: string[] = []
  for (const text of base) {
    const ma = multiaddr(text)
    const parts = ma.toString().split('/')
    const [, proto, host] = parts
    let expanded = [ma.toString()]
    if (proto === 'ip4' && host === '0.0.0.0') {
      expanded = interfaceAddresses('IPv4').map((ip) => ['', proto, ip, ...parts.slice(3)].join('/'))
    } else if (proto === 'ip6' && (host === '::' || host === '::0')) {
      expanded = interfaceAddresses('IPv6').map((ip) => ['', proto, ip, ...parts.slice(3)].join('/'))
    }
    for (const addr of expanded) {
      const full = multiaddr(addr).getPeerId() === null ? `${addr}/p2p/${peerId}` : addr
      if (!out.includes(full)) out.push(full)
    }
  }
  return out
}

export function registerShowNodeIdCommand(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('show-node-id')
    .description('print the peer id, then each full /p2p/ multiaddr others can bootstrap from')
  addHomeOption(cmd)
  addOutputOption(cmd, {
    json: true,
    description: 'text (the default): the peer id, then one multiaddr a line; json: one line',
  })
    .addHelpText(
      'after',
      `
The text form is the same in a pipe: the peer id on the first line, then one multiaddr per line.

Examples:
  $ pbft show-node-id --home /tmp/net/node0
  $ pbft start --home /tmp/n1 --bootstrap "$(pbft show-node-id --home /tmp/n0 | sed -n 2p)"
`,
    )
    .action(async (opts: { home: string; json?: boolean; output?: OutputFormat }) => {
      const paths = await existingHome(opts.home)
      const config = await loadConfig(paths.home)
      const { peerId } = await loadNodeKey(paths.nodeKey)
      const addrs = dialableAddrs(config, peerId)
      // Its plain form predates --output and scripts read it: text unless JSON is asked for.
      if (opts.output === 'json' || (opts.output === undefined && opts.json === true))
        ctx.io.out(`${JSON.stringify({ peer_id: peerId, addrs })}\n`)
      else ctx.io.out([peerId, ...addrs, ''].join('\n'))
    })
}
