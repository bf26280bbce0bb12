/**
 * The read commands (docs/CLI.md "Reading from a node"): each is one or a few JSON-RPC calls to
 * `--rpc`, printed as the result itself (`--output json`) or as text for people.
 */
import { type Command, InvalidArgumentError } from 'commander'
import { RpcClient } from '../rpc/client.js'
import { describeTxOrError } from '../rpc/describe-tx.js'
import type { BlockchainResult, BlockResult } from '../rpc/types.js'
import { UsageError } from './exit-codes.js'
import {
  formatAccount,
  formatBlock,
  formatBlocks,
  formatMempool,
  formatNetInfo,
  formatQuery,
  formatStatus,
  formatValidators,
} from './format.js'
import type { CliContext } from './io.js'
import { addRpcOption, bytes32Option, intOption } from './options.js'
import { addOutputOption, type OutputFormat, printResult } from './output.js'

interface ReadOptions {
  rpc: string
  output?: OutputFormat
}

/** A read command: `--rpc`, `--output` and the examples shown after its help. */
function readCommand(program: Command, name: string, description: string, examples: string[]): Command {
  const cmd = program.command(name).description(description)
  addRpcOption(cmd)
  addOutputOption(cmd)
  cmd.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n`)
  return cmd
}

/** `block` with a `decoded` list next to its `txs` (docs/CLI.md "Reading from a node"). */
function blockWithDecoded(b: BlockResult) {
  const decoded = b.txs.map((tx) => describeTxOrError(tx))
  return { json: { hash: b.hash, header: b.header, txs: b.txs, decoded, commit: b.commit }, decoded }
}

/** HEIGHT (a non-negative integer) or HASH (32 bytes as hex). */
function heightOrHash(value: string): { height: number } | { hash: string } {
  if (/^\d+$/.test(value)) return { height: intOption(0)(value) }
  if (/^(0[xX])?[0-9a-fA-F]{64}$/.test(value)) return { hash: bytes32Option('HASH')(value) }
  throw new InvalidArgumentError(
    'Expected a height (a non-negative integer) or a block hash (64 hex digits).',
  )
}

const BLOCKS_DEFAULT_COUNT = 20

/** `blockchain` pages of at most 100: ask again from the last height + 1 until the range or the tip is done. */
async function blockRange(
  rpc: string,
  from: number | undefined,
  to: number | undefined,
): Promise<BlockchainResult> {
  const client = new RpcClient(rpc)
  const last = to ?? (await client.call('status')).sync_info.latest_block_height
  const first = from ?? Math.max(0, last - BLOCKS_DEFAULT_COUNT + 1)
  if (first > last)
    throw new UsageError(`--from ${first} is above ${to === undefined ? 'the tip' : '--to'} ${last}`)
  const out: BlockchainResult = { last_height: 0, block_metas: [] }
  let next = first
  for (;;) {
    const page = await client.call('blockchain', { min_height: next, max_height: last })
    out.last_height = page.last_height
    out.block_metas.push(...page.block_metas)
    const end = page.block_metas.at(-1)?.header.height
    if (end === undefined || end >= Math.min(last, page.last_height)) return out
    next = end + 1
  }
}

export function registerReadCommands(program: Command, ctx: CliContext): void {
  readCommand(program, 'status', "print the node's status: chain tip, view and primary, mempool, peers", [
    'pbft status',
    'pbft status --rpc http://127.0.0.1:26659 --output json | jq .sync_info.latest_block_height',
  ]).action(async (opts: ReadOptions) => {
    const status = await new RpcClient(opts.rpc).call('status')
    printResult(ctx, opts, status, () => formatStatus(status))
  })

  readCommand(program, 'block', 'print a final block, its txs decoded, and its commit certificate', [
    'pbft block              # the latest block',
    'pbft block 12',
    'pbft block 0x3f2a…      # by hash (64 hex digits)',
  ])
    .argument('[height-or-hash]', 'a height or a block hash (the latest block without it)', heightOrHash)
    .action(async (which: { height: number } | { hash: string } | undefined, opts: ReadOptions) => {
      const block = await new RpcClient(opts.rpc).call('block', which ?? {})
      const { json, decoded } = blockWithDecoded(block)
      printResult(ctx, opts, json, () => formatBlock(block, decoded))
    })

  readCommand(program, 'blocks', 'list the headers of a range of final blocks (the latest 20 by default)', [
    'pbft blocks',
    'pbft blocks --from 1 --to 500 --output json',
  ])
    .option(
      '--from <height>',
      `the first height (default: ${BLOCKS_DEFAULT_COUNT - 1} below --to)`,
      intOption(0),
    )
    .option('--to <height>', 'the last height (default: the tip)', intOption(0))
    .action(async (opts: ReadOptions & { from?: number; to?: number }) => {
      const result = await blockRange(opts.rpc, opts.from, opts.to)
      printResult(ctx, opts, result, () => formatBlocks(result))
    })

  readCommand(program, 'get', 'read a key of the replicated KV state', ['pbft get color'])
    .argument('<key>', 'the KV key')
    .action(async (key: string, opts: ReadOptions) => {
      const result = await new RpcClient(opts.rpc).call('query', { key })
      printResult(ctx, opts, result, () => formatQuery(result))
    })

  readCommand(program, 'account', "print an account's nonces: the final one and the one to sign next", [
    'pbft account 0x5e0c…   # the address printed by pbft keys generate',
  ])
    .argument('<address>', 'the account address: its 32-byte public key as hex', bytes32Option('ADDRESS'))
    .action(async (address: string, opts: ReadOptions) => {
      const result = await new RpcClient(opts.rpc).call('account', { address })
      printResult(ctx, opts, result, () => formatAccount(result))
    })

  readCommand(
    program,
    'validators',
    'list the validators (genesis order = index), the view and its primary',
    ['pbft validators'],
  ).action(async (opts: ReadOptions) => {
    const result = await new RpcClient(opts.rpc).call('validators')
    printResult(ctx, opts, result, () => formatValidators(result))
  })

  readCommand(program, 'net-info', "list the node's listen addresses and connected peers", [
    'pbft net-info',
  ]).action(async (opts: ReadOptions) => {
    const result = await new RpcClient(opts.rpc).call('net_info')
    printResult(ctx, opts, result, () => formatNetInfo(result))
  })

  readCommand(program, 'mempool', "list the node's pending txs, decoded", [
    'pbft mempool',
    'pbft mempool --limit 100 --output json',
  ])
    .option('--limit <n>', 'show at most this many (1-100)', intOption(1, 100), 30)
    .action(async (opts: ReadOptions & { limit: number }) => {
      const result = await new RpcClient(opts.rpc).call('unconfirmed_txs', { limit: opts.limit })
      const decoded = result.txs.map((tx) => describeTxOrError(tx))
      printResult(ctx, opts, { ...result, decoded }, () => formatMempool(result, decoded))
    })
}
