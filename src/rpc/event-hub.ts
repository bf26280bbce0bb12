/**
 * Fans the backend's events out to waiting RPC clients. It attaches exactly one listener per event
 * name to the backend, and keeps its own index: tx waiters in a Map keyed by tx hash, so an event
 * costs O(listeners of that hash), not O(all waiting clients) — a thousand waiting
 * broadcast_tx_commit calls cost nothing per block (cf. tendermint#2826, where every waiting
 * client was its own pubsub subscriber and slowed consensus). Listener failures are caught here:
 * an emit from the node's commit path never throws because of a client.
 */
import type { Logger } from 'pino'
import type { RpcEventSource } from './backend.js'
import { RpcError, RpcErrorCode } from './errors.js'
import type { BlockResult, Hex, TxEvent } from './types.js'

/** `json()` serialises the event's data once, however many subscribers ask for it. */
type HubListener<T> = (data: T, json: () => string) => void

interface TxWait {
  /** settles with the tx's event, or rejects with TIMEOUT / UNAVAILABLE (hub closed) */
  readonly promise: Promise<TxEvent>
  /** stop waiting; the promise then never settles (nothing holds it) */
  cancel(): void
}

function memoJson(data: unknown): () => string {
  let cached: string | undefined
  return () => {
    cached ??= JSON.stringify(data)
    return cached
  }
}

export class EventHub {
  private readonly txByHash = new Map<Hex, Set<HubListener<TxEvent>>>()
  private readonly allTx = new Set<HubListener<TxEvent>>()
  private readonly newBlock = new Set<HubListener<BlockResult>>()
  /** rejecters of pending waits, so close() can answer every waiting client at once */
  private readonly waits = new Set<(err: RpcError) => void>()
  private attached = false

  constructor(
    private readonly events: RpcEventSource,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.attached) return
    this.events.on('NewBlock', this.handleNewBlock)
    this.events.on('Tx', this.handleTx)
    this.attached = true
  }

  /** Detaches from the backend and rejects every pending wait with UNAVAILABLE. */
  close(): void {
    if (this.attached) {
      this.events.off('NewBlock', this.handleNewBlock)
      this.events.off('Tx', this.handleTx)
      this.attached = false
    }
    const err = new RpcError(RpcErrorCode.UNAVAILABLE, 'node is shutting down')
    for (const reject of [...this.waits]) reject(err)
    this.txByHash.clear()
    this.allTx.clear()
    this.newBlock.clear()
  }

  /** Listen to Tx events, of one hash or (hash undefined) of all; returns the remover. */
  onTx(hash: Hex | undefined, listener: HubListener<TxEvent>): () => void {
    if (hash === undefined) {
      this.allTx.add(listener)
      return () => {
        this.allTx.delete(listener)
      }
    }
    let set = this.txByHash.get(hash)
    if (set === undefined) {
      set = new Set()
      this.txByHash.set(hash, set)
    }
    set.add(listener)
    return () => {
      const current = this.txByHash.get(hash)
      if (current === undefined) return
      current.delete(listener)
      if (current.size === 0) this.txByHash.delete(hash)
    }
  }

  onNewBlock(listener: HubListener<BlockResult>): () => void {
    this.newBlock.add(listener)
    return () => {
      this.newBlock.delete(listener)
    }
  }

  /**
   * Wait for the next Tx event of `hash`. Register it BEFORE submitting the tx, so an event fired
   * while the submission is in progress is not missed.
   */
  waitForTx(hash: Hex, timeoutMs: number): TxWait {
    let cleanup = (): void => {}
    const promise = new Promise<TxEvent>((resolve, reject) => {
      const fail = (err: RpcError): void => {
        cleanup()
        reject(err)
      }
      const off = this.onTx(hash, (event) => {
        cleanup()
        resolve(event)
      })
      const timer = setTimeout(
        () => fail(new RpcError(RpcErrorCode.TIMEOUT, `tx not final within ${timeoutMs} ms`, { hash })),
        timeoutMs,
      )
      this.waits.add(fail)
      cleanup = () => {
        off()
        clearTimeout(timer)
        this.waits.delete(fail)
      }
    })
    // A cancelled or not-yet-awaited wait must never surface as an unhandled rejection.
    promise.catch(() => {})
    return { promise, cancel: () => cleanup() }
  }

  /** Counts, for tests and metrics. */
  stats(): { txHashes: number; txWaits: number; allTx: number; newBlock: number } {
    return {
      txHashes: this.txByHash.size,
      txWaits: this.waits.size,
      allTx: this.allTx.size,
      newBlock: this.newBlock.size,
    }
  }

  private readonly handleTx = (event: TxEvent): void => {
    try {
      const json = memoJson(event)
      const set = this.txByHash.get(event.hash)
      if (set !== undefined) for (const listener of [...set]) this.deliver(listener, event, json)
      for (const listener of [...this.allTx]) this.deliver(listener, event, json)
    } catch (err) {
      this.logger.error({ err }, 'rpc: Tx event dispatch failed')
    }
  }

  private readonly handleNewBlock = (block: BlockResult): void => {
    try {
      const json = memoJson(block)
      for (const listener of [...this.newBlock]) this.deliver(listener, block, json)
    } catch (err) {
      this.logger.error({ err }, 'rpc: NewBlock event dispatch failed')
    }
  }

  private deliver<T>(listener: HubListener<T>, data: T, json: () => string): void {
    try {
      listener(data, json)
    } catch (err) {
      this.logger.warn({ err }, 'rpc: event listener failed')
    }
  }
}
