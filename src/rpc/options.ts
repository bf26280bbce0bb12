/** The RPC server's limits and their defaults; every one bounds what a single client can cost. */
export interface RpcLimits {
  /** largest accepted HTTP body or WebSocket message; larger ⇒ HTTP 413 / WS close 1009 */
  maxBodyBytes: number
  /** most requests in one batch; more ⇒ -32600 */
  maxBatchSize: number
  /** broadcast_tx_commit's wait when timeout_ms is not given */
  defaultCommitTimeoutMs: number
  /** timeout_ms above this is lowered to it */
  maxCommitTimeoutMs: number
  /** most blocks one `blockchain` call returns */
  maxBlockchainRange: number
  /** unconfirmed_txs: default and largest `limit` */
  defaultUnconfirmedLimit: number
  maxUnconfirmedLimit: number
  /** subscriptions one WebSocket may hold; more ⇒ LIMIT_EXCEEDED */
  maxSubscriptionsPerConnection: number
  /** messages one WebSocket may have in progress at once; more ⇒ LIMIT_EXCEEDED */
  maxInFlightPerConnection: number
  /** a WebSocket whose unsent backlog exceeds this is closed (1008) rather than buffered without end */
  maxWsBufferedBytes: number
  /** open TCP connections (HTTP and WebSocket together) */
  maxConnections: number
  /** WebSocket ping interval; a peer that misses a pong is dropped */
  wsPingIntervalMs: number
  /** time to receive a request's headers / whole body (slow-loris guard) */
  headersTimeoutMs: number
  requestTimeoutMs: number
  /** on stop(): how long in-flight requests get to finish before connections are cut */
  shutdownGraceMs: number
}

export const DEFAULT_RPC_LIMITS: Readonly<RpcLimits> = {
  maxBodyBytes: 1024 * 1024,
  maxBatchSize: 100,
  defaultCommitTimeoutMs: 30_000,
  maxCommitTimeoutMs: 120_000,
  maxBlockchainRange: 100,
  defaultUnconfirmedLimit: 30,
  maxUnconfirmedLimit: 100,
  maxSubscriptionsPerConnection: 100,
  maxInFlightPerConnection: 1000,
  maxWsBufferedBytes: 8 * 1024 * 1024,
  maxConnections: 4096,
  wsPingIntervalMs: 30_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  shutdownGraceMs: 2_000,
}

export const DEFAULT_RPC_HOST = '127.0.0.1'
