/**
 * The JSON-RPC server (docs/RPC.md): HTTP POST `/` (single and batch), `GET /health`, a GET route
 * per method (`GET /block?height=5`), and WebSocket `/websocket` (same calls plus subscriptions),
 * on node:http + ws. Binds 127.0.0.1 by default; browsers are let in per rpc.cors_allowed_origins.
 * Waiting calls (broadcast_tx_commit, subscriptions) wait on backend events through one EventHub:
 * nothing polls and nothing blocks the node's event loop.
 *
 * This file composes the parts and runs their lifecycle: routing in routes.ts, connection caps,
 * timeouts and body reading in http-limits.ts, WebSocket sessions and their ping in websocket.ts.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Logger, pino } from 'pino'
import type { RpcBackend } from './backend.js'
import { createCometDialect } from './comet/dialect.js'
import { OriginPolicy } from './cors.js'
import { RpcErrorCode } from './errors.js'
import { EventHub } from './event-hub.js'
import { ConnectionGuard, httpServerOptions } from './http-limits.js'
import { errorResponse, JsonRpcProcessor, type RpcCallObserver } from './jsonrpc.js'
import { createMethods } from './methods.js'
import { DEFAULT_RPC_HOST, DEFAULT_RPC_LIMITS, type RpcCorsOptions, type RpcLimits } from './options.js'
import { createRouter, send } from './routes.js'
import { WebSocketEndpoint } from './websocket.js'

interface RpcServerOptions {
  /** default 127.0.0.1: the RPC is not exposed beyond the machine unless configured */
  host?: string
  /** 0 picks a free port (see address()) */
  port: number
  backend: RpcBackend
  logger?: Logger
  /** the limits, and the CORS origins: config.json's rpc section arrives as this one object */
  limits?: Partial<RpcLimits & RpcCorsOptions>
  /** every JSON-RPC call that named a method, with its outcome and duration (metrics) */
  onCall?: RpcCallObserver
  /** the built explorer's folder (default dist/explorer; docs/EXPLORER.md) */
  explorerRoot?: string
}

export interface RpcServer {
  start(): Promise<void>
  /** Stops accepting, answers waiting clients with UNAVAILABLE, closes every connection. */
  stop(): Promise<void>
  address(): { host: string; port: number }
  /** Live counts, for metrics and tests. */
  stats(): RpcServerStats
}

interface RpcServerStats {
  /** HTTP requests being processed (including waiting broadcast_tx_commit calls) */
  httpRequests: number
  wsConnections: number
  /** broadcast_tx_commit calls waiting for their tx */
  txWaits: number
  /** distinct tx hashes someone waits for or subscribed to */
  txHashes: number
  /** NewBlock and all-Tx subscriptions across connections */
  streamSubscriptions: number
  /** open TCP connections (HTTP and WebSocket) */
  connections: number
  /** connections closed at accept since start: over the per-address cap or over maxConnections */
  refusedConnections: number
  /** requests whose headers or body did not arrive in time (answered 408 and closed) */
  timedOutRequests: number
}

class RpcServerError extends Error {
  override name = 'RpcServerError'
}

function withDeadline(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    promise.then(
      () => {
        clearTimeout(timer)
        resolve()
      },
      () => {
        clearTimeout(timer)
        resolve()
      },
    )
  })
}

export function createRpcServer(options: RpcServerOptions): RpcServer {
  const { corsAllowedOrigins = [], ...limitOptions } = options.limits ?? {}
  const limits: RpcLimits = { ...DEFAULT_RPC_LIMITS, ...limitOptions }
  const origins = new OriginPolicy(corsAllowedOrigins)
  const logger = options.logger ?? pino({ level: 'silent' })
  const host = options.host ?? DEFAULT_RPC_HOST
  const backend = options.backend
  const hub = new EventHub(backend.events, logger)
  const methods = createMethods({ backend, hub, limits, logger })
  const processor = new JsonRpcProcessor({
    methods,
    maxBatchSize: limits.maxBatchSize,
    logger,
    onCall: options.onCall,
  })
  // the CometBFT dialect under /comet (docs/RPC.md): the same transport, its own methods and errors
  const comet = createCometDialect({
    backend,
    native: methods,
    maxBatchSize: limits.maxBatchSize,
    logger,
    onCall: options.onCall,
  })
  const guard = new ConnectionGuard(limits, logger)
  const onRequest = createRouter({
    backend,
    logger,
    limits,
    methods,
    processor,
    comet,
    origins,
    explorerRoot: options.explorerRoot,
    stopping: () => stopping,
    onBodyTimeout: () => {
      guard.timedOutRequests++
    },
  })
  const websockets = new WebSocketEndpoint({
    hub,
    processor,
    comet,
    limits,
    logger,
    origins,
    stopping: () => stopping,
  })
  let server: Server | undefined
  let activeRequests = 0
  let onIdle: (() => void) | undefined
  let stopping = false

  return {
    async start() {
      if (server !== undefined) throw new RpcServerError('rpc server already started')
      stopping = false
      const http = createServer(httpServerOptions(limits), (req, res) => {
        activeRequests++
        res.on('close', () => {
          activeRequests--
          if (activeRequests === 0) onIdle?.()
        })
        onRequest(req, res).catch((err: unknown) => {
          logger.error({ err }, 'rpc: request handler failed')
          send(
            res,
            500,
            errorResponse(null, { code: RpcErrorCode.INTERNAL_ERROR, message: 'internal error' }),
          )
        })
      })
      guard.attach(http)
      http.on('upgrade', websockets.onUpgrade)
      websockets.open()
      hub.start()
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject)
        http.listen(options.port, host, () => {
          http.off('error', reject)
          resolve()
        })
      }).catch((err: unknown) => {
        hub.close()
        throw new RpcServerError(
          `cannot listen on ${host}:${options.port}: ${err instanceof Error ? err.message : String(err)}`,
        )
      })
      http.on('error', (err) => logger.error({ err }, 'rpc: server error'))
      server = http
      websockets.startPinging()
      const { port } = http.address() as AddressInfo
      logger.info({ host, port }, 'rpc: listening')
    },

    async stop() {
      const http = server
      if (http === undefined) return
      stopping = true
      server = undefined
      websockets.stopPinging()
      guard.close()
      const closed = new Promise<void>((resolve) => http.close(() => resolve()))
      // Waiting broadcast_tx_commit calls answer UNAVAILABLE now rather than hang until cut off.
      hub.close()
      const live = websockets.closeSessions()
      http.closeIdleConnections()
      const requestsDone =
        activeRequests === 0
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              onIdle = resolve
            })
      await withDeadline(Promise.all([requestsDone, ...live.map((s) => s.closed())]), limits.shutdownGraceMs)
      onIdle = undefined
      // Whatever did not finish within the grace period is cut.
      http.closeAllConnections()
      websockets.terminate(live)
      await closed
      logger.info('rpc: stopped')
    },

    stats() {
      const hubStats = hub.stats()
      return {
        httpRequests: activeRequests,
        wsConnections: websockets.size,
        txWaits: hubStats.txWaits,
        txHashes: hubStats.txHashes,
        streamSubscriptions: hubStats.newBlock + hubStats.allTx,
        connections: guard.openConnections,
        refusedConnections: guard.refusedConnections,
        timedOutRequests: guard.timedOutRequests,
      }
    },

    address() {
      const addr = server?.address()
      if (addr === undefined || addr === null || typeof addr === 'string') {
        throw new RpcServerError('rpc server is not listening')
      }
      return { host: addr.address, port: addr.port }
    },
  }
}
