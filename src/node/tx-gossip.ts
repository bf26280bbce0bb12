import { encodeTxBatch, MAX_TXS_PER_BATCH } from '../codec/tx-sign.js'

/**
 * Batches txs admitted from RPC into tx-topic gossip messages: gossipsub has no backpressure and
 * one message per tx collapses under load (FIELD-NOTES), so a few ms of batching buys throughput.
 */
/** Gossip messages are capped at 2 MiB (network/); a batch flushes well below that. */
const MAX_BATCH_BYTES = 1024 * 1024

export class TxGossipBatcher {
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly publish: (payload: Uint8Array) => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
    private readonly delayMs = 5,
  ) {}

  add(tx: Uint8Array): void {
    if (this.pendingBytes + tx.length + 4 > MAX_BATCH_BYTES) this.flush()
    this.pending.push(tx)
    this.pendingBytes += tx.length + 4
    if (this.pending.length >= MAX_TXS_PER_BATCH) this.flush()
    else if (this.timer === undefined) this.timer = setTimeout(() => this.flush(), this.delayMs)
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (this.pending.length === 0) return
    const batch = this.pending
    this.pending = []
    this.pendingBytes = 0
    this.publish(encodeTxBatch(batch)).catch(this.onError)
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.pending = []
    this.pendingBytes = 0
  }
}
