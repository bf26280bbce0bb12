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
  /** open TCP connections (HTTP and WebSocket together); beyond it new ones are closed at accept */
  maxConnections: number
  /**
   * open TCP connections from one remote address (HTTP and WebSocket together); beyond it a new one
   * is closed at accept, before a byte of it is parsed, so one address cannot take every slot of
   * maxConnections. config.json `rpc.max_connections_per_ip`
   */
  maxConnectionsPerIp: number
  /** WebSocket ping interval; a peer that misses a pong is dropped */
  wsPingIntervalMs: number
  /**
   * time from a request's first byte (or the connection's start) to the end of its headers; a
   * connection that is slower is answered 408 and closed (slow-loris guard). config.json
   * `rpc.header_timeout_ms`
   */
  headerTimeoutMs: number
  /**
   * time from the end of a request's headers to the end of its body; slower ⇒ 408 and closed, so a
   * body that never ends (a half-open POST) holds its connection no longer than this. config.json
   * `rpc.body_timeout_ms`
   */
  bodyTimeoutMs: number
  /** an idle keep-alive connection (between requests) is closed after this */
  keepAliveTimeoutMs: number
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
  // 1/16 of maxConnections: 16 busy addresses are needed to fill the server, and no ordinary
  // client (the CLI, the bench's keep-alive agents) comes near it.
  maxConnectionsPerIp: 256,
  wsPingIntervalMs: 30_000,
  headerTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  shutdownGraceMs: 2_000,
}

export const DEFAULT_RPC_HOST = '127.0.0.1'

/**
 * Who may call the RPC from a web page (docs/RPC.md "CORS and browser origins"): origins such as
 * `http://localhost:3000`, or `*` for any. Empty by default: no page of another site may.
 * config.json `rpc.cors_allowed_origins`
 */
export interface RpcCorsOptions {
  corsAllowedOrigins: readonly string[]
}
