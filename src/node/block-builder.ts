import type { Execution, KvApp } from '../app/kv-app.js'
import { merkleRoot } from '../chain/merkle.js'
import type { Block, BlockHeader } from '../codec/types.js'
import type { Mempool } from '../mempool/mempool.js'

/** Header bytes plus the block's framing, kept free below max_block_bytes. */
const BLOCK_OVERHEAD_BYTES = 512
const TX_FRAMING_BYTES = 4

export interface ProposalLimits {
  readonly maxBlockTxs: number
  readonly maxBlockBytes: number
}

/**
 * Builds the primary's block for the next height from the mempool (PBFT §4.2 "the primary
 * assigns a sequence number": here the height). Txs the app would reject (e.g. a nonce made
 * stale by a block the mempool has not re-checked yet) are left out so the block is valid.
 * Returns null when nothing executable waits: no empty blocks. The execution of exactly these txs
 * against the committed state comes along, so the proposer need not execute its block again.
 */
export function buildProposal(opts: {
  mempool: Mempool
  app: KvApp
  limits: ProposalLimits
  chainId: string
  height: number
  view: number
  proposer: Uint8Array
  parentHash: Uint8Array
  parentHeader: BlockHeader
  appHash: Uint8Array
  now: number
  /** the execution of the parent when it is not final yet (pipelining): build on top of it */
  base?: Execution
  /** propose nothing unless at least this many executable txs wait (default 1) */
  minTxs?: number
}): { block: Block; execution: Execution | undefined } | null {
  const { limits, app, base } = opts
  const budget = limits.maxBlockBytes - BLOCK_OVERHEAD_BYTES
  const state = base === undefined ? app : { nonce: (a: Uint8Array) => app.nonceAfter(base, a) }
  // with their hashes from admission: for the execution's signature-cache lookups and the tx root
  let txs = opts.mempool.reapHashed(limits.maxBlockTxs, budget - limits.maxBlockTxs * TX_FRAMING_BYTES, state)
  if (txs.length < (opts.minTxs ?? 1)) return null
  let execution: Execution | undefined
  for (let attempt = 0; txs.length > 0 && attempt < 16; attempt++) {
    const result = app.execute(txs, base)
    if (result.ok) {
      execution = result
      break
    }
    // Keep the valid prefix; the invalid tx (and the sender's later ones) wait for the mempool's re-check.
    txs = txs.slice(0, result.index)
  }
  if (txs.length === 0) return null
  const header: BlockHeader = {
    chainId: opts.chainId,
    height: opts.height,
    view: opts.view,
    // Strictly after the parent even if this clock is behind (timestamps increase strictly: docs/CONSENSUS.md "Transactions and blocks").
    timestamp: Math.max(opts.now, opts.parentHeader.timestamp + 1),
    proposer: opts.proposer,
    parentHash: opts.parentHash,
    txRoot: merkleRoot(txs.map((t) => t.hash)),
    appHash: opts.appHash,
  }
  return { block: { header, txs: txs.map((t) => t.bytes) }, execution }
}
