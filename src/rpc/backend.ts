import type {
  AccountResult,
  BlockchainResult,
  BlockResult,
  BroadcastResult,
  EvidenceResult,
  Hex,
  NetInfoResult,
  NumUnconfirmedTxsResult,
  QueryResult,
  StatusResult,
  TxEvent,
  TxResult,
  UnconfirmedTxsResult,
  ValidatorsResult,
} from './types.js'

/** Either a value or a promise of it: a backend may answer synchronously from memory. */
type Awaitable<T> = T | Promise<T>

/** Which block `block` asks for. */
export type BlockRef = { by: 'latest' } | { by: 'height'; height: number } | { by: 'hash'; hash: Hex }

export interface EvidenceQuery {
  readonly limit: number
  readonly validator?: number | string
}

export interface RpcEventMap {
  /** a block became final and was applied; carries the `block` result shape */
  NewBlock: [block: BlockResult]
  /** a tx became final (receipt) or was dropped from the mempool */
  Tx: [event: TxEvent]
}

/**
 * Where the server hears about new blocks and tx outcomes. A node:events
 * `EventEmitter<RpcEventMap>` satisfies it. The server attaches exactly one listener per event
 * name for its whole life (never one per waiting client) and never throws out of a listener, so
 * emitting from the node's commit path is safe and O(1) in the number of waiting clients.
 */
export interface RpcEventSource {
  on(event: 'NewBlock', listener: (block: BlockResult) => void): unknown
  on(event: 'Tx', listener: (event: TxEvent) => void): unknown
  off(event: 'NewBlock', listener: (block: BlockResult) => void): unknown
  off(event: 'Tx', listener: (event: TxEvent) => void): unknown
}

/**
 * What the node implements for the RPC server (docs/RPC.md). All hex in and out is lowercase 0x-hex;
 * the server has already validated and normalised every argument (hashes are 32 bytes, heights
 * are non-negative safe integers, txs decode with decodeTx). Results are the exact JSON shapes of
 * ./types.ts. For an expected rejection throw RpcError with a code from ./errors.ts; anything else
 * thrown is reported to the client as INTERNAL_ERROR (-32603) and logged.
 */
export interface RpcBackend {
  /**
   * Admit a tx to the local mempool and gossip it (the caller already checked that it decodes and
   * fits MAX_TX_BYTES). A tx the node already knows is not an error: return its current status.
   * Rejections throw RpcError: TX_INVALID_SIGNATURE, TX_NONCE_USED, TX_NONCE_UNAVAILABLE,
   * TX_WRONG_CHAIN, MEMPOOL_FULL, TX_TOO_LARGE, TX_INVALID, UNAVAILABLE.
   * After a 'pending' answer the node must later emit a 'Tx' event for this hash (final or dropped).
   */
  broadcastTx(tx: Uint8Array): Awaitable<BroadcastResult>

  /** The chain tip and node state. */
  status(): Awaitable<StatusResult>

  /** For `GET /health`; must be cheap and never throw. */
  isCatchingUp(): boolean

  /** A final block with its certificate; null when there is none (e.g. height above the tip). */
  block(ref: BlockRef): Awaitable<BlockResult | null>

  /**
   * The stored blocks' headers with min ≤ height ≤ max, ascending. The server guarantees
   * min ≤ max and max - min < 100; max may exceed the tip (return what exists).
   */
  blockchain(minHeight: number, maxHeight: number): Awaitable<BlockchainResult>

  /** A tx the node knows (mempool, recent drops, or indexed in a final block); null if unknown. */
  tx(hash: Hex): Awaitable<TxResult | null>

  /** Nonces of an address (32-byte public key); an unknown address has nonce 0. */
  account(address: Hex): Awaitable<AccountResult>

  /** A key of the replicated KV state at the latest final height. */
  query(key: string): Awaitable<QueryResult>

  /** Up to `limit` (1..100) mempool txs in mempool order, with the mempool's totals. */
  unconfirmedTxs(limit: number): Awaitable<UnconfirmedTxsResult>

  numUnconfirmedTxs(): Awaitable<NumUnconfirmedTxsResult>

  netInfo(): Awaitable<NetInfoResult>

  validators(): Awaitable<ValidatorsResult>

  /**
   * Stored equivocation evidence, newest first, at most `limit` (1..100) records; `validator` (an
   * index or a peer id) keeps one validator's. An unknown validator throws RpcError INVALID_PARAMS.
   */
  evidence(query: EvidenceQuery): Awaitable<EvidenceResult>

  events: RpcEventSource
}
