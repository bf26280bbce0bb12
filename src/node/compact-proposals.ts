import { setTimeout as sleep } from 'node:timers/promises'
import { blockHash, txHash } from '../codec/chain.js'
import { type CompactPrePrepare, expandPrePrepare } from '../codec/compact.js'
import type { PrePrepareMsg } from '../codec/consensus.js'
import type { Block } from '../codec/types.js'
import { toHex } from '../crypto/hash.js'
import type { TxFetchRequestOptions } from '../network/tx-fetch.js'
import type { TxSource } from '../network/tx-source.js'
import type { Logger } from './logger.js'

export type CompactOutcome = 'local' | 'fetched' | 'failed'

export interface CompactProposalsOptions {
  /** the whole rebuild of one proposal, all fetches included; below the view-change timeout */
  readonly deadlineMs: number
  /** one fetch from one peer */
  readonly requestTimeoutMs: number
  /** the pause between two rounds over the peers */
  readonly retryDelayMs: number
  /** peers asked at most, the propagation source first */
  readonly maxPeers: number
  /** proposals being rebuilt at once at most; more are dropped (their primary's budget bounds them) */
  readonly maxPending: number
  /** proposals whose txs are kept to serve peers' fetches */
  readonly recentBlocks: number
}

export const defaultCompactProposalsOptions: CompactProposalsOptions = {
  deadlineMs: 15_000,
  requestTimeoutMs: 3_000,
  retryDelayMs: 250,
  maxPeers: 4,
  maxPending: 8,
  recentBlocks: 8,
}

export interface CompactProposalsComponents {
  /** a tx in the mempool by hash */
  mempoolTx(hash: Uint8Array): Uint8Array | undefined
  /** connected peers to ask after the primary and the propagation source, in order (validators first) */
  peers(): string[]
  /** the peer id of the primary of `view`, asked first */
  primaryPeer?(view: number): string | undefined
  /** whether `height` is final here already: its proposal no longer needs rebuilding */
  isFinal?(height: number): boolean
  fetchTxs(peerId: string, hashes: readonly Uint8Array[], opts: TxFetchRequestOptions): Promise<Uint8Array[]>
  /** the rebuilt full PRE-PREPARE, for the engine */
  deliver(msg: PrePrepareMsg): void
  onOutcome?(outcome: CompactOutcome, fetchedBytes: number): void
  readonly log: Logger
  readonly options?: Partial<CompactProposalsOptions>
}

const key = (h: Uint8Array): string => Buffer.from(h).toString('latin1')

/**
 * Compact PRE-PREPAREs at the node (docs/PROTOCOL.md "Compact PRE-PREPARE"): the engine only ever
 * sees full ones. A compact one the preprepare topic's validator accepted (signed header, tx hashes
 * matching its tx_root) is rebuilt here: each tx from the mempool or a recent proposal, the rest
 * fetched by hash from the peer that relayed it, then other peers, each fetched tx checked against
 * its hash (src/network/tx-fetch.ts). Only a complete block is handed on. A proposal whose txs
 * cannot be found before the deadline never reaches the engine: this replica does not vote for a
 * block it could not validate, and its view-change timer deals with a primary that proposes txs
 * nobody has, as with any proposal that never arrives.
 *
 * It is also the node's TxSource for the fetch protocol: the mempool, then the txs of the last
 * `recentBlocks` proposals it saw in full (its own, rebuilt ones, full ones received), which the
 * mempool may no longer hold (a tx leaves it when its block is final).
 */
export class CompactProposals implements TxSource {
  private readonly options: CompactProposalsOptions
  /** recent proposals' txs by hash (with how many kept blocks hold each), and the blocks, oldest first */
  private readonly recentTxs = new Map<string, { tx: Uint8Array; blocks: number }>()
  private readonly recentOrder: { hash: string; txKeys: string[] }[] = []
  /** proposals being rebuilt, by view/height/block hash */
  private readonly pending = new Set<string>()
  private readonly stopped = new AbortController()

  constructor(private readonly c: CompactProposalsComponents) {
    this.options = { ...defaultCompactProposalsOptions, ...c.options }
  }

  getTx(hash: Uint8Array): Uint8Array | undefined {
    return this.c.mempoolTx(hash) ?? this.recentTxs.get(key(hash))?.tx
  }

  /** Keeps a proposal's txs to serve fetches (the primary's own, before it publishes the compact form). */
  remember(block: Block, txHashes?: readonly Uint8Array[]): void {
    const hash = key(blockHash(block.header))
    if (this.recentOrder.some((r) => r.hash === hash)) return
    const hashes = txHashes ?? block.txs.map(txHash)
    const txKeys = new Set<string>()
    block.txs.forEach((tx, i) => {
      const k = key(hashes[i] as Uint8Array)
      if (txKeys.has(k)) return
      txKeys.add(k)
      const entry = this.recentTxs.get(k)
      // a tx in two kept blocks (re-proposed in another view) stays until its last block goes
      if (entry === undefined) this.recentTxs.set(k, { tx, blocks: 1 })
      else entry.blocks++
    })
    this.recentOrder.push({ hash, txKeys: [...txKeys] })
    while (this.recentOrder.length > this.options.recentBlocks) {
      for (const k of this.recentOrder.shift()?.txKeys ?? []) {
        const entry = this.recentTxs.get(k)
        if (entry !== undefined && --entry.blocks === 0) this.recentTxs.delete(k)
      }
    }
  }

  /** Rebuilds an accepted compact PRE-PREPARE relayed by `from` and hands it on when complete. */
  async receive(compact: CompactPrePrepare, from: string): Promise<CompactOutcome | 'duplicate' | 'busy'> {
    const hash = blockHash(compact.header)
    const id = `${compact.view}/${compact.height}/${toHex(hash)}`
    if (this.pending.has(id)) return 'duplicate'
    if (this.pending.size >= this.options.maxPending) {
      this.c.log.warn(
        { view: compact.view, height: compact.height },
        'too many compact proposals rebuilding; dropped one',
      )
      return 'busy'
    }
    this.pending.add(id)
    try {
      return await this.rebuild(compact, from)
    } finally {
      this.pending.delete(id)
    }
  }

  /**
   * Whom to ask, at most maxPeers: the primary that proposed the block (it built it from txs it
   * holds, and keeps them), the peer that relayed it, then the other peers as `peers()` orders them.
   */
  private askOrder(compact: CompactPrePrepare, from: string): string[] {
    const first = [this.c.primaryPeer?.(compact.view), from].filter((p): p is string => p !== undefined)
    const order = [...new Set([...first, ...this.c.peers()])]
    return order.slice(0, this.options.maxPeers)
  }

  /** Ends the fetches in flight; nothing is handed on after this. */
  stop(): void {
    this.stopped.abort()
  }

  private async rebuild(compact: CompactPrePrepare, from: string): Promise<CompactOutcome> {
    const n = compact.txHashes.length
    const txs: (Uint8Array | undefined)[] = new Array(n)
    /** hash → the positions of the txs still missing (a hash listed twice is the primary's fault) */
    const missing = new Map<string, { hash: Uint8Array; at: number[] }>()
    const fill = (): void => {
      for (let i = 0; i < n; i++) {
        if (txs[i] !== undefined) continue
        const h = compact.txHashes[i] as Uint8Array
        const tx = this.getTx(h)
        if (tx !== undefined) {
          txs[i] = tx
          continue
        }
        const k = key(h)
        const m = missing.get(k)
        if (m === undefined) missing.set(k, { hash: h, at: [i] })
        else m.at.push(i)
      }
    }
    fill()
    let fetchedBytes = 0
    let fetchedTxs = 0
    if (missing.size > 0) {
      const deadline = AbortSignal.any([AbortSignal.timeout(this.options.deadlineMs), this.stopped.signal])
      // Rounds over the peers until every tx is found, the deadline passes or the height is final
      // here (the block then comes by sync). Patience pays on a starved machine: the peers answer
      // late, and tx gossip keeps bringing txs into the mempool meanwhile.
      for (let round = 0; missing.size > 0 && !deadline.aborted; round++) {
        if (this.c.isFinal?.(compact.height) === true) break
        if (round > 0) {
          const waited = await sleep(this.options.retryDelayMs, undefined, { signal: deadline }).then(
            () => true,
            () => false,
          )
          if (!waited) break
        }
        for (const peer of this.askOrder(compact, from)) {
          if (missing.size === 0 || deadline.aborted) break
          try {
            const got = await this.c.fetchTxs(
              peer,
              [...missing.values()].map((m) => m.hash),
              { signal: deadline, timeoutMs: this.options.requestTimeoutMs },
            )
            for (const tx of got) {
              // the fetch client checked every tx against a hash asked for
              const k = key(txHash(tx))
              const m = missing.get(k)
              if (m === undefined) continue
              for (const i of m.at) txs[i] = tx
              missing.delete(k)
              fetchedBytes += tx.length
              fetchedTxs++
            }
          } catch (err) {
            this.c.log.debug({ peer, err, height: compact.height }, 'tx fetch failed')
          }
          // tx gossip may have brought some while we waited
          if (missing.size > 0) {
            missing.clear()
            fill()
          }
        }
      }
    }
    if (missing.size > 0 || this.stopped.signal.aborted) {
      this.c.log.warn(
        { view: compact.view, height: compact.height, missing: missing.size, txs: n },
        'compact proposal: txs not found; not handed to consensus',
      )
      this.c.onOutcome?.('failed', fetchedBytes)
      return 'failed'
    }
    const full = expandPrePrepare(compact, txs as Uint8Array[])
    this.remember(full.block, compact.txHashes)
    const outcome = fetchedBytes > 0 ? 'fetched' : 'local'
    if (fetchedBytes > 0) {
      const fetched = { view: compact.view, height: compact.height, txs: n, fetchedTxs, bytes: fetchedBytes }
      this.c.log.info(fetched, 'compact proposal rebuilt with fetched txs')
    }
    this.c.onOutcome?.(outcome, fetchedBytes)
    this.c.deliver(full)
    return outcome
  }
}
