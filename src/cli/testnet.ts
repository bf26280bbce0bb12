import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import { isIPv4, isIPv6 } from 'node:net'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { makeGenesis } from '../chain/genesis.js'
import { MAX_VALIDATORS } from '../codec/limits.js'
import { generateNodeKey, type NodeKey } from '../crypto/node-key.js'
import { defaultConfig, type NodeConfig } from '../node/config.js'
import { DEFAULT_CHAIN_ID, writeHome } from '../node/home.js'
import { CliError, UsageError } from './exit-codes.js'
import type { CliContext } from './io.js'
import { chainIdOption, intOption } from './options.js'

const DEFAULT_BASE_PORT = 26656
const MAX_OBSERVERS = 1000

interface TestnetOptions {
  validators: number
  observers?: number
  output: string
  host?: string
  basePort?: number
  chainId?: string
  genesisTime?: Date
}

/** One home of a testnet; k is its position (validators first, then observers). */
interface TestnetHome {
  readonly name: string
  readonly home: string
  readonly validator: boolean
  readonly peerId: string
  /** full /p2p/ multiaddr of its p2p listener */
  readonly p2pAddr: string
  readonly rpcLaddr: string
}

const IGNORABLE_ENTRIES = new Set(['README.md', '.gitkeep', '.gitignore'])

async function assertNewOrEmpty(dir: string): Promise<boolean> {
  let isDir: boolean
  try {
    isDir = (await stat(dir)).isDirectory()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw new CliError(
      `cannot use output ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  }
  if (!isDir) throw new CliError(`output ${dir} exists and is not a directory`)
  // A folder kept in git only for its README (like keys/) counts as empty.
  const entries = (await readdir(dir)).filter((name) => !IGNORABLE_ENTRIES.has(name))
  if (entries.length > 0) throw new CliError(`output directory ${dir} is not empty`)
  return true
}

/**
 * `pbft testnet`: N validator homes DIR/node0.. and M observer homes DIR/observer0.. sharing one
 * genesis (validators only). Home k gets p2p port P+2k and RPC port P+2k+1 on HOST; metrics
 * (disabled by default) get P+2T+k for T homes, so enabling them never collides. Every config
 * lists all other homes as bootstrap peers, since @libp2p/bootstrap dials once and a full mesh
 * needs every node to know every other (FIELD-NOTES).
 */
async function createTestnet(opts: TestnetOptions): Promise<TestnetHome[]> {
  const observers = opts.observers ?? 0
  const host = opts.host ?? '127.0.0.1'
  const basePort = opts.basePort ?? DEFAULT_BASE_PORT
  const total = opts.validators + observers
  if (!Number.isInteger(opts.validators) || opts.validators < 1 || opts.validators > MAX_VALIDATORS) {
    throw new UsageError(`--validators must be an integer from 1 to ${MAX_VALIDATORS}`)
  }
  if (!Number.isInteger(observers) || observers < 0 || observers > MAX_OBSERVERS) {
    throw new UsageError(`--observers must be an integer from 0 to ${MAX_OBSERVERS}`)
  }
  const ipProto = isIPv4(host) ? 'ip4' : isIPv6(host) ? 'ip6' : undefined
  // Every config lists the others at this address, so it must be one a peer can dial.
  if (ipProto === undefined || host === '0.0.0.0' || /^[:0]+$/.test(host)) {
    throw new UsageError(`--host must be an IPv4 or IPv6 address peers can dial, got ${JSON.stringify(host)}`)
  }
  const lastPort = basePort + 3 * total - 1
  if (!Number.isInteger(basePort) || basePort < 1 || lastPort > 65535) {
    throw new UsageError(
      `--base-port ${basePort} leaves no room for ${total} homes (ports up to ${lastPort} needed)`,
    )
  }
  const chainId = opts.chainId ?? DEFAULT_CHAIN_ID
  const output = resolve(opts.output)
  const existed = await assertNewOrEmpty(output)

  const keys: NodeKey[] = []
  for (let k = 0; k < total; k++) keys.push(await generateNodeKey())
  const genesis = makeGenesis({
    chainId,
    genesisTime: opts.genesisTime,
    validators: keys
      .slice(0, opts.validators)
      .map((key) => ({ peerId: key.peerId, publicKey: key.signer.publicKey })),
  })
  const homes: TestnetHome[] = keys.map((key, k) => {
    const validator = k < opts.validators
    const name = validator ? `node${k}` : `observer${k - opts.validators}`
    return {
      name,
      home: join(output, name),
      validator,
      peerId: key.peerId,
      p2pAddr: `/${ipProto}/${host}/tcp/${basePort + 2 * k}/p2p/${key.peerId}`,
      rpcLaddr: `${ipProto === 'ip6' ? `[${host}]` : host}:${basePort + 2 * k + 1}`,
    }
  })

  const created: string[] = []
  try {
    await mkdir(output, { recursive: true })
    for (const [k, h] of homes.entries()) {
      const base = defaultConfig({
        p2pHost: host,
        rpcHost: host,
        p2pPort: basePort + 2 * k,
        metricsPort: basePort + 2 * total + k,
      })
      const config: NodeConfig = {
        ...base,
        p2p: {
          ...base.p2p,
          listen: [`/${ipProto}/${host}/tcp/${basePort + 2 * k}`],
          bootstrap: homes.filter((other) => other !== h).map((other) => other.p2pAddr),
        },
        rpc: { ...base.rpc, laddr: h.rpcLaddr },
      }
      created.push(h.home)
      await writeHome(h.home, { nodeKey: keys[k] as NodeKey, config, genesis })
    }
  } catch (err) {
    // Leave the output as we found it, so the same command can simply be run again.
    for (const dir of created) await rm(dir, { recursive: true, force: true })
    if (!existed) await rm(output, { recursive: true, force: true })
    throw err
  }
  return homes
}

export function registerTestnetCommand(program: Command, ctx: CliContext): void {
  program
    .command('testnet')
    .description(
      'create N validator homes DIR/node0.. (+ M observer homes DIR/observer0..) sharing one genesis; ' +
        'home k (validators first) gets p2p port P+2k and rpc port P+2k+1',
    )
    .requiredOption(
      '--validators <n>',
      `number of validators (1..${MAX_VALIDATORS})`,
      intOption(1, MAX_VALIDATORS),
    )
    .option('--observers <m>', 'number of non-validator nodes', intOption(0, MAX_OBSERVERS), 0)
    .requiredOption('--output <dir>', 'directory for the homes; must be new or empty')
    .option('--host <ip>', 'IP address every node listens on and is dialled at', '127.0.0.1')
    .option('--base-port <p>', 'first port (P)', intOption(1, 65535), DEFAULT_BASE_PORT)
    .option('--chain-id <id>', 'chain id written to genesis.json', chainIdOption, DEFAULT_CHAIN_ID)
    .addHelpText(
      'after',
      `
Examples:
  $ pbft testnet --validators 4 --output keys          # what make run does
  $ pbft testnet --validators 3 --observers 1 --output /tmp/net --base-port 30000 --chain-id demo
  $ pbft testnet --validators 4 --output net --host 10.0.0.5   # listen and be dialled on 10.0.0.5
`,
    )
    .action(
      async (opts: {
        validators: number
        observers: number
        output: string
        host: string
        basePort: number
        chainId: string
      }) => {
        const homes = await createTestnet(opts)
        const nValidators = homes.filter((h) => h.validator).length
        const width = Math.max(...homes.map((h) => h.name.length))
        const lines = [
          `created ${nValidators} validator(s) and ${homes.length - nValidators} observer(s) in ${resolve(opts.output)} (chain id ${opts.chainId})`,
          ...homes.map(
            (h) =>
              `${h.name.padEnd(width)}  ${h.validator ? 'validator' : 'observer '}  rpc ${h.rpcLaddr}  p2p ${h.p2pAddr}`,
          ),
          '',
        ]
        ctx.io.out(lines.join('\n'))
      },
    )
}
