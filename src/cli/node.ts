import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { verifyCertificate } from '../chain/certificate.js'
import { genesisValidatorSet, loadGenesis } from '../chain/genesis.js'
import { ValidatorSet } from '../chain/validators.js'
import { blockHash, txHash } from '../codec/chain.js'
import { signTx } from '../codec/tx-sign.js'
import type { TxOp } from '../codec/types.js'
import { bytesEqual, fromHex, toHex } from '../crypto/hash.js'
import { peerIdOfPublicKey } from '../crypto/node-key.js'
import { RpcClient } from '../rpc/client.js'
import { certificateFromJson, headerFromJson } from '../rpc/convert.js'
import type { BlockResult, TxReceipt } from '../rpc/types.js'
import { loadClientKey } from './client-key.js'
import { type CliContext, CliError } from './io.js'
import { addNodeFlags, nodeFlagsOf } from './node-flags.js'

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`
}

function nonNegativeInt(name: string) {
  return (text: string): number => {
    const n = Number(text)
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(n))
      throw new CliError(`${name} must be a non-negative integer`)
    return n
  }
}

/** `pbft start`: runs a node until SIGINT/SIGTERM, then shuts down cleanly. */
function registerStart(program: Command): void {
  const cmd = program
    .command('start')
    .description('run a node (validator or observer) until SIGINT/SIGTERM')
    .requiredOption('--home <dir>', 'the node home (see pbft init / pbft testnet)')
  addNodeFlags(cmd)
    .addHelpText(
      'after',
      `
Every flag overrides its config.json field for this run, and can also be set in the environment:
PBFT_ and the flag's name in upper case with . and - as _ (--rpc.laddr: PBFT_RPC_LADDR). A flag
wins over the variable, the variable over config.json, config.json over the default.
`,
    )
    .action(async (opts: { home: string }, command: Command) => {
      // Loaded here so that init/keys/testnet never load libp2p.
      const { PbftNode } = await import('../node/node.js')
      const { createLogger } = await import('../node/logger.js')
      const { applyFlags, loadConfig } = await import('../node/config.js')
      const home = String(opts.home)
      const { flags, name } = nodeFlagsOf(command)
      // Checked here, before anything opens, so that an error names the flag or its variable.
      const config = applyFlags(await loadConfig(home), flags, name)
      const logger = createLogger({ level: config.log.level, format: config.log.format })
      const node = await PbftNode.open({ home, flags, logger })
      let resolveStopped: () => void = () => undefined
      const stopped = new Promise<void>((r) => {
        resolveStopped = r
      })
      const shutdown = (signal: string) => {
        logger.info({ signal }, 'shutdown requested')
        node.stop().then(resolveStopped, (err: unknown) => {
          logger.error({ err: String(err) }, 'shutdown failed')
          process.exitCode = 1
          resolveStopped()
        })
      }
      process.once('SIGINT', () => shutdown('SIGINT'))
      process.once('SIGTERM', () => shutdown('SIGTERM'))
      try {
        await node.start()
      } catch (err) {
        await node.stop().catch(() => undefined)
        throw err
      }
      await stopped
      logger.flush?.()
    })
}

/** `pbft devnet`: every home of a `pbft testnet` folder as child processes in this terminal. */
function registerDevnet(program: Command): void {
  program
    .command('devnet')
    .description('run every node of a pbft testnet folder in this terminal (used by make run)')
    .requiredOption('--dir <dir>', 'the folder made by pbft testnet (e.g. keys)')
    .action(async (opts: { dir: string }) => {
      const { runDevnet } = await import('../node/devnet.js')
      const cliPath = fileURLToPath(new URL('../cli.js', import.meta.url))
      const code = await runDevnet({ dir: opts.dir, cliPath })
      if (code !== 0) process.exitCode = code
    })
}

/**
 * Checks a receipt against its block: the header hashes to block_hash, the tx sits at `index`, and
 * the commit certificate carries a quorum of valid validator signatures. With the genesis file the
 * client trusts nothing the node says (the paper's f+1 matching replies, done with a certificate).
 */
function verifyReceipt(
  receipt: TxReceipt,
  block: BlockResult,
  validators: ValidatorSet,
  chainId: string,
): { signatures: number } {
  const header = headerFromJson(block.header)
  const hash = blockHash(header)
  if (toHex(hash) !== receipt.block_hash.toLowerCase())
    throw new CliError('block hash does not match the receipt')
  if (header.height !== receipt.height) throw new CliError('block height does not match the receipt')
  const tx = block.txs[receipt.index]
  if (tx === undefined || !bytesEqual(txHash(fromHex(tx)), fromHex(receipt.hash))) {
    throw new CliError('the tx is not in the block at the receipt index')
  }
  if (block.commit === null) throw new CliError('the block has no commit certificate')
  const certificate = certificateFromJson(block.commit)
  try {
    verifyCertificate(certificate, chainId, validators, { height: header.height, blockHash: hash })
  } catch (err) {
    throw new CliError(`commit certificate does not verify: ${(err as Error).message}`)
  }
  return { signatures: certificate.votes.length }
}

async function validatorSetFor(client: RpcClient, genesisPath: string | undefined): Promise<ValidatorSet> {
  if (genesisPath !== undefined) return genesisValidatorSet(await loadGenesis(genesisPath))
  const result = await client.call('validators')
  return new ValidatorSet(
    result.validators.map((v) => {
      const publicKey = fromHex(v.public_key)
      if (peerIdOfPublicKey(publicKey) !== v.peer_id)
        throw new CliError('node returned an inconsistent validator')
      return { publicKey, peerId: v.peer_id }
    }),
  )
}

function registerTx(program: Command, ctx: CliContext): void {
  const tx = program.command('tx').description('sign and submit transactions')
  tx.command('send')
    .description('sign a tx with a client key and submit it: set KEY VALUE | del KEY')
    .requiredOption('--rpc <url>', 'JSON-RPC URL of a node, e.g. http://127.0.0.1:26657')
    .requiredOption('--key <file>', 'client key file (pbft keys generate)')
    .option(
      '--nonce <n>',
      "the tx nonce (default: the node's account.pending_nonce)",
      nonNegativeInt('--nonce'),
    )
    .option('--wait', 'wait until the tx is final, print the receipt and verify its commit certificate')
    .option(
      '--timeout <sec>',
      'with --wait: give up after this many seconds',
      nonNegativeInt('--timeout'),
      60,
    )
    .option(
      '--genesis <file>',
      "verify the certificate against this genesis (default: the node's validators)",
    )
    .argument('<op>', 'set or del')
    .argument('<key>', 'the KV key')
    .argument('[value]', 'the value (for set)')
    .action(
      async (
        opName: string,
        key: string,
        value: string | undefined,
        opts: { rpc: string; key: string; nonce?: number; wait?: boolean; timeout: number; genesis?: string },
      ) => {
        let op: TxOp
        if (opName === 'set') {
          if (value === undefined) throw new CliError('set needs KEY and VALUE')
          op = { type: 'set', key, value }
        } else if (opName === 'del') {
          if (value !== undefined) throw new CliError('del takes only KEY')
          op = { type: 'del', key }
        } else {
          throw new CliError(`unknown op '${opName}': use set KEY VALUE or del KEY`)
        }
        const signer = await loadClientKey(opts.key)
        const client = new RpcClient(opts.rpc)
        const status = await client.call('status')
        const chainId = status.node_info.chain_id
        const nonce =
          opts.nonce ?? (await client.call('account', { address: toHex(signer.publicKey) })).pending_nonce
        const encoded = signTx(signer, { chainId, nonce, op })
        if (opts.wait !== true) {
          const result = await client.call('broadcast_tx_sync', { tx: toHex(encoded) })
          ctx.io.out(json({ ...result, nonce }))
          return
        }
        const receipt = await client.call('broadcast_tx_commit', {
          tx: toHex(encoded),
          timeout_ms: opts.timeout * 1000,
        })
        const block = await client.call('block', { height: receipt.height })
        const validators = await validatorSetFor(client, opts.genesis)
        const { signatures } = verifyReceipt(receipt, block, validators, chainId)
        ctx.io.out(
          json({
            ...receipt,
            nonce,
            certificate: {
              verified: true,
              signatures,
              validators: validators.n,
              against: opts.genesis ?? 'validators reported by the node',
            },
          }),
        )
      },
    )
}

function registerReads(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description("print the node's status (chain tip, view, peers)")
    .requiredOption('--rpc <url>', 'JSON-RPC URL of a node')
    .action(async (opts: { rpc: string }) => {
      ctx.io.out(json(await new RpcClient(opts.rpc).call('status')))
    })
  program
    .command('block')
    .description('print a final block with its commit certificate (latest without HEIGHT)')
    .requiredOption('--rpc <url>', 'JSON-RPC URL of a node')
    .argument('[height]', 'block height', nonNegativeInt('HEIGHT'))
    .action(async (height: number | undefined, opts: { rpc: string }) => {
      const client = new RpcClient(opts.rpc)
      ctx.io.out(json(await client.call('block', height === undefined ? {} : { height })))
    })
  program
    .command('get')
    .description('read a key of the replicated KV state')
    .requiredOption('--rpc <url>', 'JSON-RPC URL of a node')
    .argument('<key>', 'the KV key')
    .action(async (key: string, opts: { rpc: string }) => {
      ctx.io.out(json(await new RpcClient(opts.rpc).call('query', { key })))
    })
}

export function registerNodeCommands(program: Command, ctx: CliContext): void {
  registerStart(program)
  registerDevnet(program)
  registerTx(program, ctx)
  registerReads(program, ctx)
}
