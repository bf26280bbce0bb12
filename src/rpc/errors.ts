/**
 * JSON-RPC error codes (docs/RPC.md). The standard codes are JSON-RPC 2.0's; the application codes live
 * in -32000..-32099 and each names one stable condition. Clients match on the code, so a code's
 * meaning never changes once published (docs/RPC.md lists them); add new ones at the end.
 */
export const RpcErrorCode = {
  /** invalid JSON */
  PARSE_ERROR: -32700,
  /** not a JSON-RPC 2.0 request object, empty or oversized batch, body too large (HTTP 413) */
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  /** missing / unknown / malformed params, including a tx whose bytes do not decode */
  INVALID_PARAMS: -32602,
  /** a bug or an unexpected failure inside the node; details are logged, never sent */
  INTERNAL_ERROR: -32603,

  /** the tx signature does not verify against its `from` key */
  TX_INVALID_SIGNATURE: -32001,
  /** the tx nonce is below the sender's next nonce: already used (a replay) */
  TX_NONCE_USED: -32002,
  /** the tx nonce is too far ahead of the sender's next nonce, or another tx holds that nonce */
  TX_NONCE_UNAVAILABLE: -32003,
  /** the tx chain_id is not this chain's */
  TX_WRONG_CHAIN: -32004,
  /** the mempool is full (in count or bytes); retry later */
  MEMPOOL_FULL: -32005,
  /** the encoded tx exceeds the size limit */
  TX_TOO_LARGE: -32006,
  /** broadcast_tx_commit: the tx was not final within timeout_ms (it may still be) */
  TIMEOUT: -32007,
  /** no such tx / block */
  NOT_FOUND: -32008,
  /** broadcast_tx_commit: the tx was dropped from the mempool (TTL, became invalid) */
  TX_DROPPED: -32009,
  /** the node cannot serve this now (starting, shutting down, not a validator for this action) */
  UNAVAILABLE: -32010,
  /** the tx is well-formed but not valid for another reason (e.g. an empty key) */
  TX_INVALID: -32011,
  /** a per-connection limit was hit (subscriptions, requests in flight) */
  LIMIT_EXCEEDED: -32012,
  /**
   * the node cannot write its storage (disk full, I/O error), so it cannot journal the tx and does
   * not acknowledge it; `data.reason` is 'no_space' or 'io_error'
   */
  STORAGE_UNAVAILABLE: -32013,
} as const

type RpcErrorName = keyof typeof RpcErrorCode

/** The table in docs/RPC.md, from the code itself so the two cannot drift apart. */
export const RPC_ERROR_TABLE: readonly { name: RpcErrorName; code: number; meaning: string }[] = [
  { name: 'PARSE_ERROR', code: RpcErrorCode.PARSE_ERROR, meaning: 'invalid JSON' },
  {
    name: 'INVALID_REQUEST',
    code: RpcErrorCode.INVALID_REQUEST,
    meaning: 'not a JSON-RPC 2.0 request; empty or oversized batch; body too large (HTTP 413)',
  },
  {
    name: 'METHOD_NOT_FOUND',
    code: RpcErrorCode.METHOD_NOT_FOUND,
    meaning: 'unknown method; no such GET route (HTTP 404)',
  },
  {
    name: 'INVALID_PARAMS',
    code: RpcErrorCode.INVALID_PARAMS,
    meaning: 'missing, unknown or malformed params; a tx that does not decode; a malformed GET query',
  },
  { name: 'INTERNAL_ERROR', code: RpcErrorCode.INTERNAL_ERROR, meaning: 'unexpected failure in the node' },
  {
    name: 'TX_INVALID_SIGNATURE',
    code: RpcErrorCode.TX_INVALID_SIGNATURE,
    meaning: 'signature does not verify',
  },
  { name: 'TX_NONCE_USED', code: RpcErrorCode.TX_NONCE_USED, meaning: 'nonce already used (replay)' },
  {
    name: 'TX_NONCE_UNAVAILABLE',
    code: RpcErrorCode.TX_NONCE_UNAVAILABLE,
    meaning: 'nonce too far ahead, or taken by another pending tx',
  },
  { name: 'TX_WRONG_CHAIN', code: RpcErrorCode.TX_WRONG_CHAIN, meaning: 'chain_id is not this chain' },
  { name: 'MEMPOOL_FULL', code: RpcErrorCode.MEMPOOL_FULL, meaning: 'mempool full, retry later' },
  { name: 'TX_TOO_LARGE', code: RpcErrorCode.TX_TOO_LARGE, meaning: 'encoded tx exceeds the size limit' },
  { name: 'TIMEOUT', code: RpcErrorCode.TIMEOUT, meaning: 'not final within timeout_ms (may still be)' },
  { name: 'NOT_FOUND', code: RpcErrorCode.NOT_FOUND, meaning: 'no such tx or block' },
  { name: 'TX_DROPPED', code: RpcErrorCode.TX_DROPPED, meaning: 'tx dropped from the mempool' },
  { name: 'UNAVAILABLE', code: RpcErrorCode.UNAVAILABLE, meaning: 'node cannot serve this now' },
  { name: 'TX_INVALID', code: RpcErrorCode.TX_INVALID, meaning: 'tx invalid for another reason' },
  { name: 'LIMIT_EXCEEDED', code: RpcErrorCode.LIMIT_EXCEEDED, meaning: 'per-connection limit hit' },
  {
    name: 'STORAGE_UNAVAILABLE',
    code: RpcErrorCode.STORAGE_UNAVAILABLE,
    meaning: 'node cannot write its storage (disk full, I/O error); tx not accepted',
  },
]

/**
 * An error that reaches the client as-is: `{code, message, data?}`. The backend throws it for
 * expected rejections (bad nonce, mempool full, ...); anything else thrown becomes INTERNAL_ERROR.
 * `message` is one human line; `data` must be JSON-serialisable and contain nothing secret.
 */
export class RpcError extends Error {
  override name = 'RpcError'
  readonly code: number
  readonly data: unknown

  constructor(code: number, message: string, data?: unknown) {
    super(message)
    this.code = code
    this.data = data
  }

  toJSON(): { code: number; message: string; data?: unknown } {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data }
  }
}
