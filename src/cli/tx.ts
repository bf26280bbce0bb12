/**
 * `pbft tx`: sign and submit transactions, and look them up (docs/CLI.md "pbft tx send"). `send`
 * signs and submits in one step; `sign` only signs, offline, for `submit` on another machine.
 */
import { Argument, type Command, Option } from 'commander'
import { verifyCertificate } from '../chain/certificate.js'
import { genesisValidatorSet, loadGenesis } from '../chain/genesis.js'
import { ValidatorSet } from '../chain/validators.js'
import { blockHash, txHash } from '../codec/chain.js'
import { CodecError } from '../codec/errors.js'
import { signTx } from '../codec/tx-sign.js'
import type { TxOp } from '../codec/types.js'
import { bytesEqual, fromHex, toHex } from '../crypto/hash.js'
import { peerIdOfPublicKey } from '../crypto/node-key.js'
import { RpcClient } from '../rpc/client.js'
import { certificateFromJson, headerFromJson } from '../rpc/convert.js'
import { type DecodedTx, describeTx, describeTxOrError } from '../rpc/describe-tx.js'
import type { BlockResult, TxReceipt } from '../rpc/types.js'
import { loadClientKey } from './client-key.js'
import { CliError, UsageError } from './exit-codes.js'
import { formatTx } from './format.js'
import type { CliContext } from './io.js'
import { addRpcOption, bytes32Option, chainIdOption, intOption } from './options.js'
import { addOutputOption, fields, type OutputFormat, printResult } from './output.js'

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`
}

/** `set KEY VALUE` or `del KEY` from the command's arguments. */
function parseOp(opName: string, key: string, value: string | undefined): TxOp {
  if (opName === 'set') {
    if (value === undefined) throw new UsageError('set needs KEY and VALUE')
    return { type: 'set', key, value }
  }
  if (opName === 'del') {
    if (value !== undefined) throw new UsageError('del takes only KEY')
    return { type: 'del', key }
  }
  throw new UsageError(`unknown op '${opName}': use set KEY VALUE or del KEY`)
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

interface SubmitOptions {
  rpc: string
  wait?: boolean
  timeout: number
  genesis?: string
  output?: OutputFormat
}

/** `--wait`, `--timeout`, `--genesis`: what send and submit share. */
function addSubmitOptions(cmd: Command): Command {
  addRpcOption(cmd)
  cmd
    .option('--wait', 'wait until the tx is final, print the receipt and verify its commit certificate')
    .option(
      '--timeout <sec>',
      'with --wait: give up after this many seconds (exit 5; the node caps it at 120)',
      intOption(1),
      60,
    )
    .option(
      '--genesis <file>',
      "verify the certificate against this genesis (default: the node's validators)",
    )
  return addOutputOption(cmd)
}

/** Submits an encoded tx; with --wait, waits for its receipt and verifies it. Prints the result. */
async function submit(
  ctx: CliContext,
  client: RpcClient,
  encoded: Uint8Array,
  tx: DecodedTx,
  opts: SubmitOptions,
): Promise<void> {
  if (opts.wait !== true) {
    const result = await client.call('broadcast_tx_sync', { tx: toHex(encoded) })
    const out = { ...result, nonce: tx.nonce }
    printResult(ctx, opts, out, () =>
      fields([
        ['hash', out.hash],
        ['status', out.status],
        ['nonce', out.nonce],
      ]),
    )
    return
  }
  const receipt = await client.call('broadcast_tx_commit', {
    tx: toHex(encoded),
    timeout_ms: opts.timeout * 1000,
  })
  const block = await client.call('block', { height: receipt.height })
  const validators = await validatorSetFor(client, opts.genesis)
  const { signatures } = verifyReceipt(receipt, block, validators, tx.chain_id)
  const against = opts.genesis ?? 'validators reported by the node'
  const out = {
    ...receipt,
    nonce: tx.nonce,
    certificate: { verified: true, signatures, validators: validators.n, against },
  }
  printResult(ctx, opts, out, () =>
    fields([
      ['hash', out.hash],
      ['status', 'final'],
      ['height', out.height],
      ['index', out.index],
      ['block', out.block_hash],
      ['nonce', out.nonce],
      ['certificate', `verified: ${signatures} of ${validators.n} validators signed (against ${against})`],
    ]),
  )
}

function registerSend(tx: Command, ctx: CliContext): void {
  const cmd = tx
    .command('send')
    .description('sign a tx with a client key and submit it: set KEY VALUE | del KEY')
    .requiredOption('--key <file>', 'client key file (pbft keys generate)')
    .option('--nonce <n>', "the tx nonce (default: the node's account.pending_nonce)", intOption(0))
  addSubmitOptions(cmd)
    .addArgument(new Argument('<op>', 'set or del').choices(['set', 'del']))
    .argument('<key>', 'the KV key')
    .argument('[value]', 'the value (for set)')
    .addHelpText(
      'after',
      examples([
        'pbft tx send --key alice.json set color blue',
        'pbft tx send --key alice.json --wait --genesis ~/.pbft/genesis.json del color',
      ]),
    )
    .action(
      async (
        opName: string,
        key: string,
        value: string | undefined,
        opts: SubmitOptions & { key: string; nonce?: number },
      ) => {
        const op = parseOp(opName, key, value)
        const signer = await loadClientKey(opts.key)
        const client = new RpcClient(opts.rpc)
        const chainId = (await client.call('status')).node_info.chain_id
        const nonce =
          opts.nonce ?? (await client.call('account', { address: toHex(signer.publicKey) })).pending_nonce
        const encoded = signTx(signer, { chainId, nonce, op })
        await submit(ctx, client, encoded, describeTx(encoded), opts)
      },
    )
}

function registerSign(tx: Command, ctx: CliContext): void {
  tx.command('sign')
    .description('sign a tx offline and print it as hex, for pbft tx submit on a machine that reaches a node')
    .requiredOption('--key <file>', 'client key file (pbft keys generate)')
    .requiredOption(
      '--nonce <n>',
      "the tx nonce: the account's pending_nonce (pbft account ADDRESS)",
      intOption(0),
    )
    .option('--chain-id <id>', 'the chain the tx is for', chainIdOption)
    .option('--genesis <file>', 'take the chain id from this genesis.json')
    .addOption(
      new Option('--output <format>', 'text: the hex alone (default); json: {hash, tx, decoded}').choices([
        'json',
        'text',
      ]),
    )
    .addArgument(new Argument('<op>', 'set or del').choices(['set', 'del']))
    .argument('<key>', 'the KV key')
    .argument('[value]', 'the value (for set)')
    .addHelpText(
      'after',
      examples([
        'pbft account 0x5e0c…                         # online: the nonce to sign next',
        'pbft tx sign --key alice.json --nonce 4 --chain-id pbft-local set color blue > tx.hex   # offline',
        'pbft tx submit $(cat tx.hex) --wait         # online, anywhere',
      ]),
    )
    .action(
      async (
        opName: string,
        key: string,
        value: string | undefined,
        opts: { key: string; nonce: number; chainId?: string; genesis?: string; output?: OutputFormat },
      ) => {
        const op = parseOp(opName, key, value)
        if ((opts.chainId === undefined) === (opts.genesis === undefined))
          throw new UsageError('give the chain as --chain-id ID or --genesis FILE (one of them)')
        const chainId = opts.chainId ?? (await loadGenesis(opts.genesis as string)).chainId
        const signer = await loadClientKey(opts.key)
        const encoded = signTx(signer, { chainId, nonce: opts.nonce, op })
        const decoded = describeTx(encoded)
        // The hex alone is the result, also in a pipe: `pbft tx sign … > tx.hex`.
        if (opts.output === 'json') {
          ctx.io.out(`${JSON.stringify({ hash: decoded.hash, tx: toHex(encoded), decoded }, null, 2)}\n`)
        } else {
          ctx.io.out(`${toHex(encoded)}\n`)
        }
      },
    )
}

function registerSubmit(tx: Command, ctx: CliContext): void {
  const cmd = tx
    .command('submit')
    .description('submit a tx signed by pbft tx sign (hex), optionally wait for finality')
    .argument('<tx>', 'the signed tx as hex')
  addSubmitOptions(cmd)
    .addHelpText('after', examples(['pbft tx submit 0x01000a70…', 'pbft tx submit "$(cat tx.hex)" --wait']))
    .action(async (hex: string, opts: SubmitOptions) => {
      let encoded: Uint8Array
      let decoded: DecodedTx
      try {
        encoded = fromHex(hex.trim())
        decoded = describeTx(encoded)
      } catch (err) {
        if (err instanceof CodecError || err instanceof TypeError)
          throw new UsageError(`TX is not a signed tx as hex: ${err.message}`)
        throw err
      }
      await submit(ctx, new RpcClient(opts.rpc), encoded, decoded, opts)
    })
}

function registerGet(tx: Command, ctx: CliContext): void {
  const cmd = tx.command('get').description('look a tx up by hash: its status, where it is final, its fields')
  addRpcOption(cmd)
  addOutputOption(cmd)
    .argument('<hash>', 'the tx hash (64 hex digits)', bytes32Option('HASH'))
    .addHelpText(
      'after',
      examples(['pbft tx get 0x9b1f…', 'pbft tx get 0x9b1f… --output json | jq .decoded']),
    )
    .action(async (hash: string, opts: { rpc: string; output?: OutputFormat }) => {
      const result = await new RpcClient(opts.rpc).call('tx', { hash })
      const decoded = describeTxOrError(result.tx)
      printResult(ctx, opts, { ...result, decoded }, () => formatTx(result, decoded))
    })
}

export function registerTxCommands(program: Command, ctx: CliContext): void {
  const tx = program.command('tx').description('sign, submit and look up transactions')
  registerSend(tx, ctx)
  registerSign(tx, ctx)
  registerSubmit(tx, ctx)
  registerGet(tx, ctx)
}
