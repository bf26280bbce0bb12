import type { EventEmitter } from 'node:events'
import { hashTx, txHash } from '../codec/chain.js'
import { encodeTxBatch, MAX_TXS_PER_BATCH } from '../codec/tx-sign.js'
import { toHex } from '../crypto/hash.js'
import type { MempoolJournal } from '../mempool/journal.js'
import type { Mempool } from '../mempool/mempool.js'
import type { RpcEventMap } from '../rpc/backend.js'
import type { Logger } from './logger.js'
import type { NodeMetrics } from './metrics.js'
import { TxGossipBatcher } from './tx-gossip.js'

const MEMPOOL_EVICT_MS = 5_000
/**
 * How often the oldest waiting txs are gossiped again. Tx gossip is fire-and-forget: a batch sent
 * while partitioned, or on a connection that then died, never reaches the nodes on the other side,
 * and if one of them is (or becomes) the primary, that tx and every later nonce of its sender wait
 * until the TTL. Like CometBFT's mempool reactor, which sends its mempool to every (re)connected
 * peer, we re-send what still waits; peers that already hold a tx ignore it.
 */
const MEMPOOL_REGOSSIP_MS = 3_000
/** Gossip messages are capped at 2 MiB (network/); a re-gossip batch stays well below, as TxGossipBatcher does. */
const MAX_REGOSSIP_BYTES = 1024 * 1024

export interface TxServiceComponents {
  readonly mempool: Mempool
  readonly journal: MempoolJournal
  /** publishes a tx batch on the tx topic */
  publishTxs(payload: Uint8Array): Promise<unknown>
  /** the mempool holds an executable tx: tell the engine (coalesced to once per event-loop turn) */
  onTxsAvailable(): void
  /** is this tx final (in the chain's tx index)? for the journal reload */
  isCommitted(hash: Uint8Array): Promise<boolean>
  readonly events: EventEmitter<RpcEventMap>
  readonly metrics: NodeMetrics
  readonly log: Logger
}

/**
 * The life of a tx on this node outside consensus: admission from clients (journaled before the
 * ack), gossip and re-gossip, TTL eviction, drops (journaled and announced), and the bookkeeping
 * when a block commits. The mempool's dropped history is the one record of dropped txs; the
 * journal keeps it across restarts (docs/CONSENSUS.md, acknowledged txs).
 */
export class TxService {
  private readonly txFirstSeen = new Map<string, number>()
  private readonly gossip: TxGossipBatcher
  private evictTimer: NodeJS.Timeout | undefined
  private regossipTimer: NodeJS.Timeout | undefined
  private availableScheduled = false

  constructor(private readonly c: TxServiceComponents) {
    this.gossip = new TxGossipBatcher(
      (payload) => c.publishTxs(payload),
      (err) => c.log.warn({ err }, 'tx gossip publish failed'),
    )
  }

  /** The mempool's onDrop: journal it, announce it. */
  onDropped(hash: Uint8Array, reason: string, encoded: Uint8Array): void {
    const hex = toHex(hash)
    this.c.journal.dropped(hash, reason, encoded)
    this.txFirstSeen.delete(hex)
    this.c.log.debug({ hash: hex, reason }, 'tx dropped')
    this.c.events.emit('Tx', { status: 'dropped', hash: hex, reason })
  }

  /**
   * Before RPC serves: re-admits the txs this node acknowledged before it stopped or crashed, with
   * their original admission times, and restores the dropped ones with their reasons.
   */
  async restore(): Promise<void> {
    const { mempool } = this.c
    const report = await this.c.journal.load({
      isCommitted: (hash) => this.c.isCommitted(hash),
      readmit: (tx, admittedAt) => void mempool.add(tx, admittedAt),
      restoreDropped: (hash, reason, tx) => mempool.restoreDropped(hash, reason, tx),
    })
    // Those whose TTL ran out while the node was down are dropped (and journaled so) now.
    mempool.evictExpired()
    if (report.readmitted + report.failed + report.committed + report.dropped + report.corrupt > 0) {
      this.c.log.info(report, 'mempool journal reloaded')
    }
  }

  start(): void {
    this.evictTimer = setInterval(() => this.c.mempool.evictExpired(), MEMPOOL_EVICT_MS)
    this.regossipTimer = setInterval(() => this.regossipWaiting(), MEMPOOL_REGOSSIP_MS)
    if (this.c.mempool.size > 0) this.scheduleAvailable()
  }

  stop(): void {
    if (this.evictTimer !== undefined) clearInterval(this.evictTimer)
    if (this.regossipTimer !== undefined) clearInterval(this.regossipTimer)
    this.gossip.stop()
  }

  /**
   * Admits a tx from a client: mempool, journal, then tx gossip. Throws MempoolError on rejection.
   * The caller acknowledges the tx once `journaled` resolves (its record is on disk); a tx already
   * pending (e.g. received by gossip) is journaled too, since this node now acknowledges it.
   * `encoded` is the caller's to give away: never changed afterwards (the mempool keeps it, no copy).
   */
  submit(encoded: Uint8Array): { hash: Uint8Array; added: boolean; journaled: Promise<void> } {
    const { mempool } = this.c
    const result = mempool.add(hashTx(encoded))
    const added = result.status === 'added'
    const admittedAt = mempool.admittedAt(result.hash) ?? Date.now()
    const journaled = this.c.journal.recordPending(result.hash, encoded, admittedAt)
    if (added) {
      this.txFirstSeen.set(toHex(result.hash), Date.now())
      this.gossip.add(encoded)
      this.admitted()
    }
    return { hash: result.hash, added, journaled }
  }

  /** Txs entered the mempool (from a client or by gossip). */
  admitted(): void {
    this.c.metrics.mempoolTxs.set(this.c.mempool.size)
    this.scheduleAvailable()
  }

  /**
   * A block committed: its txs leave the mempool and the journal; commit latency observed.
   * `known` are the txs' hashes when the caller has them (the app's execution computed them).
   */
  committed(txs: readonly Uint8Array[], known?: readonly Uint8Array[]): Uint8Array[] {
    const hashes = known?.length === txs.length ? [...known] : txs.map(txHash)
    this.c.mempool.update(hashes)
    this.c.journal.committed(hashes)
    const now = Date.now()
    for (const h of hashes) {
      const hex = toHex(h)
      const seen = this.txFirstSeen.get(hex)
      if (seen !== undefined) {
        this.c.metrics.commitLatency.observe((now - seen) / 1000)
        this.txFirstSeen.delete(hex)
      }
    }
    this.c.metrics.mempoolTxs.set(this.c.mempool.size)
    this.c.metrics.mempoolBytes.set(this.c.mempool.bytes)
    if (this.c.mempool.size > 0) this.scheduleAvailable()
    return hashes
  }

  private scheduleAvailable(): void {
    if (this.availableScheduled) return
    this.availableScheduled = true
    setImmediate(() => {
      this.availableScheduled = false
      if (this.c.mempool.hasExecutable()) this.c.onTxsAvailable()
    })
  }

  /** Re-publishes the oldest waiting txs (arrival order), one batch; see MEMPOOL_REGOSSIP_MS. */
  private regossipWaiting(): void {
    const txs: Uint8Array[] = []
    let bytes = 0
    for (const tx of this.c.mempool.list(MAX_TXS_PER_BATCH)) {
      if (bytes + tx.length + 4 > MAX_REGOSSIP_BYTES) break
      txs.push(tx)
      bytes += tx.length + 4
    }
    if (txs.length === 0) return
    this.c.publishTxs(encodeTxBatch(txs)).catch((err: unknown) => {
      this.c.log.warn({ err }, 'tx re-gossip failed')
    })
  }
}
