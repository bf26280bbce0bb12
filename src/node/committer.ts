import type { EventEmitter } from 'node:events'
import type { KvApp } from '../app/kv-app.js'
import type { ChainStore } from '../chain/store.js'
import { blockHash } from '../codec/chain.js'
import type { Block, CommitCertificate } from '../codec/types.js'
import { toHex } from '../crypto/hash.js'
import type { RpcEventMap } from '../rpc/backend.js'
import { blockToResult } from '../rpc/convert.js'
import type { Logger } from './logger.js'
import type { NodeMetrics } from './metrics.js'
import { recordFinalBlock } from './metrics-consensus.js'
import type { SpeculativeExecutions } from './speculative.js'
import type { TxService } from './tx-service.js'

export interface CommitterComponents {
  readonly store: ChainStore
  readonly app: KvApp
  readonly speculative: SpeculativeExecutions
  readonly txs: TxService
  readonly events: EventEmitter<RpcEventMap>
  readonly metrics: NodeMetrics
  readonly log: Logger
}

/**
 * The driver's commit port: a certified block becomes final here — stored with its certificate in
 * one atomic batch, applied to the app, its txs settled, and announced to RPC subscribers.
 */
export class BlockCommitter {
  private durable = true

  constructor(private readonly c: CommitterComponents) {}

  /**
   * Catch-up: write blocks without an fsync each (ChainStore.commitBlock `durable: false`) until
   * restoreDurability(). Still one atomic batch per block; on a power loss the node may restart a
   * few synced blocks lower and fetch them again. Any synced write after them (a WAL record before
   * a vote, the next durable block) makes them durable first. The per-block log line is at debug
   * meanwhile.
   */
  deferDurability(): void {
    this.durable = false
  }

  /** Back to an fsync per block, after making the blocks written meanwhile durable. */
  async restoreDurability(): Promise<void> {
    if (this.durable) return
    this.durable = true
    await this.c.store.flush()
  }

  async commit(block: Block, certificate: CommitCertificate): Promise<void> {
    const { store, app, speculative } = this.c
    const hex = toHex(blockHash(block.header))
    // The execution from this node's validation (or building) if computed on exactly the committed
    // state; else (committed from others' votes, synced, or pipelined on a parent that lost) a full
    // validation now — a certificate over an invalid block means more than f are faulty.
    const parent = store.tip()
    const verdict = speculative.finalExecution(parent, block)
    if (!verdict.ok) throw new Error(`certified block ${block.header.height} is invalid: ${verdict.reason}`)
    await store.commitBlock(block, certificate, verdict.execution, { durable: this.durable })
    app.apply(verdict.execution)
    speculative.pruneTo(block.header.height)
    const txHashes = this.c.txs.committed(
      block.txs,
      verdict.execution.results.map((r) => r.hash),
    )
    this.c.metrics.height.set(block.header.height)
    this.c.metrics.blockTxs.observe(block.txs.length)
    recordFinalBlock(this.c.metrics, block, certificate, parent.header.timestamp)
    // While catching up a line per block costs ~10 % of a small block's time; block sync logs its
    // progress every 100 blocks instead, and the per-block line is at debug.
    const line = { height: block.header.height, view: block.header.view, txs: block.txs.length, hash: hex }
    if (this.durable) this.c.log.info(line, 'finalized block')
    else this.c.log.debug(line, 'finalized block')
    this.c.events.emit('NewBlock', blockToResult(block, certificate))
    txHashes.forEach((h, index) => {
      this.c.events.emit('Tx', {
        status: 'final',
        hash: toHex(h),
        height: block.header.height,
        index,
        block_hash: hex,
      })
    })
  }
}
