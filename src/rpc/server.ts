/**
 * The JSON-RPC server (docs/RPC.md): HTTP POST `/` (single and batch), `GET /health`, a GET route
 * per method (`GET /block?height=5`), and WebSocket `/websocket` (same calls plus subscriptions),
 * on node:http + ws. Binds 127.0.0.1 by default; browsers are let in per rpc.cors_allowed_origins.
 * Waiting calls (broadcast_tx_commit, subscriptions) wait on backend events through one EventHub:
 * nothing polls and nothing blocks the node's event loop.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { type Logger, pino } from 'pino'
import { WebSocketServer } from 'ws'
import type { RpcBackend } from './backend.js'
import { COMET_PREFIX, cometSubpath, createCometDialect } from './comet/dialect.js'
import { type CometHttpDeps, cometRequest } from './comet/http.js'
import { OriginPolicy } from './cors.js'
import { RpcError, RpcErrorCode } from './errors.js'
import { EventHub } from './event-hub.js'
import { createExplorerRoute, EXPLORER_PATH } from './explorer-route.js'
import { errorResponse, JsonRpcProcessor, type RpcCallObserver } from './jsonrpc.js'
import { createMethods, type RpcMethod } from './methods.js'
import { DEFAULT_RPC_HOST, DEFAULT_RPC_LIMITS, type RpcCorsOptions, type RpcLimits } from './options.js'
import type { HealthResult } from './types.js'
import { parseQuery, routesPage, URI_CALL_ID } from './uri.js'
import { WsSession } from './ws-session.js'

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

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' }

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

function queryOf(req: IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q === -1 ? '' : url.slice(q + 1)
}

function isGet(req: IncomingMessage): boolean {
  return req.method === 'GET' || req.method === 'HEAD'
}

/** A browser navigating to the node (curl and JSON clients do not ask for HTML). */
function wantsHtml(req: IncomingMessage): boolean {
  return /\btext\/html\b/i.test(req.headers.accept ?? '')
}

/** Adds to Vary rather than replacing it: CORS may already have put Origin there. */
function addVary(res: ServerResponse, field: string): void {
  const previous = res.getHeader('vary')
  res.setHeader('vary', previous === undefined ? field : `${String(previous)}, ${field}`)
}

/** Aborted when the client goes away before its answer is written: waits stop for it. */
function goneSignal(res: ServerResponse): AbortSignal {
  const gone = new AbortController()
  res.on('close', () => {
    if (!res.writableFinished) gone.abort()
  })
  return gone.signal
}

type BodyResult =
  | { kind: 'ok'; body: string }
  | { kind: 'too_large' }
  | { kind: 'timeout' }
  | { kind: 'aborted' }

/**
 * Reads the body up to `limit` bytes; stops buffering (and drains) as soon as it is exceeded. A
 * body not complete within `timeoutMs` of the headers is 'timeout' (docs/RPC.md "Limits").
 */
function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    req.resume()
    return Promise.resolve({ kind: 'too_large' })
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    const timer = setTimeout(() => settle({ kind: 'timeout' }), timeoutMs)
    const settle = (result: BodyResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(result)
    }
    req.on('data', (chunk: Buffer) => {
      if (settled) return
      size += chunk.length
      if (size > limit) {
        chunks.length = 0
        settle({ kind: 'too_large' })
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => settle({ kind: 'ok', body: Buffer.concat(chunks).toString('utf8') }))
    req.on('error', () => settle({ kind: 'aborted' }))
    req.on('close', () => settle({ kind: 'aborted' }))
  })
}

/** The address a connection is counted under: an IPv4 client of a dual-stack listener as plain IPv4. */
function remoteKey(socket: Socket): string | undefined {
  const address = socket.remoteAddress
  if (address === undefined) return undefined
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

/** How often refused connections are summed up in the log (the first of a burst is logged at once). */
const REFUSAL_LOG_INTERVAL_MS = 10_000

/**
 * Logs refused connections without letting a flood of them flood the log: the first refusal for
 * an address is logged at once, the rest as one count per address every REFUSAL_LOG_INTERVAL_MS.
 */
class RefusalLog {
  private readonly counts = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly logger: Logger,
    private readonly limitOf: (reason: string) => number,
  ) {}

  add(reason: 'per_ip_limit' | 'max_connections', address: string): void {
    const key = `${reason} ${address}`
    const count = this.counts.get(key)
    if (count === undefined) {
      this.counts.set(key, 0)
      this.logger.warn({ address, reason, limit: this.limitOf(reason) }, 'rpc: refusing connections')
    } else {
      this.counts.set(key, count + 1)
    }
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.flush(), REFUSAL_LOG_INTERVAL_MS)
      this.timer.unref()
    }
  }

  flush(): void {
    if (this.counts.size === 0) {
      clearInterval(this.timer)
      this.timer = undefined
      return
    }
    for (const [key, refused] of this.counts) {
      if (refused === 0) continue
      const [reason, address] = key.split(' ')
      this.logger.warn({ address, reason, refused }, 'rpc: refused connections')
    }
    this.counts.clear()
  }

  close(): void {
    this.flush()
    clearInterval(this.timer)
    this.timer = undefined
  }
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
  const comet = createCometDialect({ backend, native: methods, maxBatchSize: limits.maxBatchSize, logger })
  const cometHttp: CometHttpDeps = {
    dialect: comet,
    stopping: () => stopping,
    preflightHeaders: (origin) => origins.preflightHeaders(origin),
    send: (res, status, body, extra) => send(res, status, body, extra),
    post: (req, res) => rpc(req, res, comet.processor),
    get: (req, res, method) => uriCall(req, res, method, comet.processor),
  }
  const indexPage = routesPage(methods)
  const explorer = createExplorerRoute(options.explorerRoot)
  const sessions = new Set<WsSession>()
  let server: Server | undefined
  let wss: WebSocketServer | undefined
  let pingTimer: NodeJS.Timeout | undefined
  let activeRequests = 0
  /** open connections per remote address (remoteKey), HTTP and WebSocket alike */
  const perAddress = new Map<string, number>()
  let openConnections = 0
  let refusedConnections = 0
  let timedOutRequests = 0
  const refusals = new RefusalLog(logger, (reason) =>
    reason === 'per_ip_limit' ? limits.maxConnectionsPerIp : limits.maxConnections,
  )
  let onIdle: (() => void) | undefined
  let stopping = false

  function send(res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
    if (res.destroyed || res.headersSent) return
    res.writeHead(status, { ...JSON_HEADERS, 'content-length': String(Buffer.byteLength(body)), ...extra })
    res.end(body)
  }

  function health(res: ServerResponse): void {
    let catchingUp: boolean
    try {
      catchingUp = backend.isCatchingUp()
    } catch (err) {
      logger.error({ err }, 'rpc: isCatchingUp failed')
      send(res, 503, JSON.stringify({ status: 'error' }))
      return
    }
    const result: HealthResult = { status: 'ok', catching_up: catchingUp }
    send(res, 200, JSON.stringify(result))
  }

  async function rpc(req: IncomingMessage, res: ServerResponse, dialect = processor): Promise<void> {
    const body = await readBody(req, limits.maxBodyBytes, limits.bodyTimeoutMs)
    if (body.kind === 'aborted') return
    if (body.kind === 'timeout') {
      timedOutRequests++
      logger.debug({ address: remoteKey(req.socket) }, 'rpc: request body timed out')
      const message = `invalid request: body not received within ${limits.bodyTimeoutMs} ms`
      // close: a half-open body must not keep holding the connection (docs/RPC.md "Limits")
      send(res, 408, dialect.errorResponse(null, { code: RpcErrorCode.INVALID_REQUEST, message }), {
        connection: 'close',
      })
      res.once('finish', () => req.socket.destroy())
      return
    }
    if (body.kind === 'too_large') {
      const message = `invalid request: body exceeds ${limits.maxBodyBytes} bytes`
      // close: the rest of the body is not worth reading on this connection
      send(res, 413, dialect.errorResponse(null, { code: RpcErrorCode.INVALID_REQUEST, message }), {
        connection: 'close',
      })
      return
    }
    const response = await dialect.handle(body.body, { signal: goneSignal(res) })
    if (response === null) {
      if (!res.destroyed) res.writeHead(204).end()
      return
    }
    send(res, 200, response)
  }

  /**
   * A GET route (docs/RPC.md "GET routes"): the query string becomes the named params of the same
   * call a POST makes, answered with id -1 and HTTP 200 even for an error, as CometBFT does.
   */
  async function uriCall(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    dialect = processor,
  ): Promise<void> {
    let params: Record<string, string>
    try {
      // the CometBFT dialect reads quotes by each param's type (src/rpc/comet/params.ts)
      params = parseQuery(queryOf(req), dialect !== processor)
    } catch (err) {
      if (!(err instanceof RpcError)) throw err
      send(res, 200, dialect.errorResponse(URI_CALL_ID, err.toJSON()))
      return
    }
    const request = { jsonrpc: '2.0', id: URI_CALL_ID, method: name, params }
    const response = await dialect.handleRequest(request, { signal: goneSignal(res), fromUri: true })
    // a request with an id always has an answer; null is only a notification's
    send(res, 200, response ?? 'null')
  }

  /** The method behind `/<name>`, when it has a GET route (every method but the subscriptions). */
  function routeOf(path: string): RpcMethod | undefined {
    const entry = methods.get(path.slice(1))
    return entry === undefined || entry.wsOnly ? undefined : entry
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req)
    for (const [name, value] of Object.entries(origins.responseHeaders(req.headers.origin))) {
      res.setHeader(name, value)
    }
    const cometPath = cometSubpath(path)
    if (cometPath !== undefined) return await cometRequest(cometHttp, req, res, cometPath)
    const route = routeOf(path)
    if (req.method === 'OPTIONS' && (path === '/' || path === '/health' || route !== undefined)) {
      // a CORS preflight (docs/RPC.md "CORS and browser origins"), or a client asking what is allowed
      req.resume()
      const allow = path === '/' ? 'GET, HEAD, POST, OPTIONS' : 'GET, HEAD, OPTIONS'
      if (!res.destroyed) res.writeHead(204, { allow, ...origins.preflightHeaders(req.headers.origin) }).end()
      return
    }
    if (path === '/health' && isGet(req)) return health(res)
    if (stopping && ((path === '/' && req.method === 'POST') || (route !== undefined && isGet(req)))) {
      // a keep-alive connection may still send during shutdown; nothing will answer a wait now
      req.resume()
      const message = 'node is shutting down'
      const id = path === '/' ? null : URI_CALL_ID
      send(res, 503, errorResponse(id, { code: RpcErrorCode.UNAVAILABLE, message }), { connection: 'close' })
      return
    }
    if (path === '/' && req.method === 'POST') return await rpc(req, res)
    req.resume()
    if (route !== undefined && isGet(req)) return await uriCall(req, res, path.slice(1))
    if (await explorer.handle(req, res, path)) return
    if (path === '/routes' && isGet(req)) {
      send(res, 200, indexPage, { 'content-type': 'text/html; charset=utf-8' })
      return
    }
    if (path === '/') {
      addVary(res, 'Accept')
      if (isGet(req) && wantsHtml(req)) {
        // a browser: to the explorer (the list of routes is at /routes)
        send(res, 302, '', { 'content-type': 'text/plain; charset=utf-8', location: EXPLORER_PATH })
        return
      }
      const message = 'invalid request: send JSON-RPC 2.0 with POST'
      send(res, 405, errorResponse(null, { code: RpcErrorCode.INVALID_REQUEST, message }), { allow: 'POST' })
      return
    }
    if (route !== undefined) {
      const message = `invalid request: use GET ${path.slice(0, 100)}?…, or POST JSON-RPC 2.0 to /`
      send(res, 405, errorResponse(URI_CALL_ID, { code: RpcErrorCode.INVALID_REQUEST, message }), {
        allow: 'GET, HEAD',
      })
      return
    }
    const message = `method not found: no route ${path.slice(0, 100)} (GET /routes lists them)`
    const id = isGet(req) ? URI_CALL_ID : null
    send(res, 404, errorResponse(id, { code: RpcErrorCode.METHOD_NOT_FOUND, message }))
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {})
    const path = pathOf(req)
    const dialect =
      path === '/websocket' ? 'native' : path === `${COMET_PREFIX}/websocket` ? 'comet' : undefined
    if (dialect === undefined || wss === undefined || stopping) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    if (!origins.allowsWebSocket(req.headers.origin, req.headers.host)) {
      // WebSockets have no CORS: without this check any page could use the node through its
      // visitor's browser (docs/RPC.md "CORS and browser origins")
      logger.debug({ origin: req.headers.origin }, 'rpc: refusing a WebSocket from another origin')
      const body = 'origin not allowed (rpc.cors_allowed_origins)'
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      )
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session =
        dialect === 'comet'
          ? new WsSession(ws, { hub, processor: comet.processor, limits, logger, format: comet.api.events })
          : new WsSession(ws, { hub, processor, limits, logger })
      sessions.add(session)
      ws.on('close', () => sessions.delete(session))
    })
  }

  function pingAll(): void {
    for (const session of sessions) {
      if (!session.alive) {
        session.terminate()
        sessions.delete(session)
        continue
      }
      session.alive = false
      session.ping()
    }
  }

  /**
   * Runs before node:http sees the connection: one over the per-address cap is closed at once, so
   * it costs neither a parser nor a timer; the others are counted until they close, whether they
   * stay HTTP or become WebSockets (docs/RPC.md "Limits").
   */
  function onConnection(socket: Socket): void {
    const key = remoteKey(socket)
    if (key === undefined) {
      // already gone (reset before accept completed): nothing to count or serve
      socket.destroy()
      return
    }
    const open = perAddress.get(key) ?? 0
    if (open >= limits.maxConnectionsPerIp) {
      refusedConnections++
      refusals.add('per_ip_limit', key)
      socket.destroy()
      return
    }
    perAddress.set(key, open + 1)
    openConnections++
    socket.once('close', () => {
      openConnections--
      const left = (perAddress.get(key) ?? 1) - 1
      if (left === 0) perAddress.delete(key)
      else perAddress.set(key, left)
    })
  }

  return {
    async start() {
      if (server !== undefined) throw new RpcServerError('rpc server already started')
      stopping = false
      const http = createServer(
        {
          headersTimeout: limits.headerTimeoutMs,
          // a backstop for requests whose body the handler does not read (readBody enforces
          // bodyTimeoutMs itself, to the millisecond)
          requestTimeout: limits.headerTimeoutMs + limits.bodyTimeoutMs,
          keepAliveTimeout: limits.keepAliveTimeoutMs,
          // node:http checks the two timeouts above only this often (30 s by default, which let a
          // half-open request live three times its timeout); a quarter of the shorter one keeps the
          // overshoot small at the cost of a scan of the live connections
          connectionsCheckingInterval: Math.max(
            10,
            Math.min(1_000, Math.floor(Math.min(limits.headerTimeoutMs, limits.bodyTimeoutMs) / 4)),
          ),
        },
        (req, res) => {
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
        },
      )
      http.maxConnections = limits.maxConnections
      http.on('drop', (data?: { remoteAddress?: string }) => {
        refusedConnections++
        refusals.add('max_connections', data?.remoteAddress ?? 'unknown')
      })
      http.prependListener('connection', onConnection)
      http.on('upgrade', onUpgrade)
      http.on('clientError', (err: NodeJS.ErrnoException, socket) => {
        if (!socket.writable) {
          socket.destroy()
          return
        }
        const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        if (timedOut) timedOutRequests++
        const status = timedOut ? '408 Request Timeout' : '400 Bad Request'
        // write, then destroy rather than end(): the server is half-open by default, and a client
        // that never closes its side would keep the connection (and its slot) forever
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () =>
          socket.destroy(),
        )
      })
      wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxBodyBytes })
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
      pingTimer = setInterval(pingAll, limits.wsPingIntervalMs)
      pingTimer.unref()
      const { port } = http.address() as AddressInfo
      logger.info({ host, port }, 'rpc: listening')
    },

    async stop() {
      const http = server
      if (http === undefined) return
      stopping = true
      server = undefined
      clearInterval(pingTimer)
      refusals.close()
      const closed = new Promise<void>((resolve) => http.close(() => resolve()))
      // Waiting broadcast_tx_commit calls answer UNAVAILABLE now rather than hang until cut off.
      hub.close()
      const live = [...sessions]
      for (const session of live) session.close()
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
      for (const session of live) session.terminate()
      sessions.clear()
      wss?.close()
      wss = undefined
      await closed
      logger.info('rpc: stopped')
    },

    stats() {
      const hubStats = hub.stats()
      return {
        httpRequests: activeRequests,
        wsConnections: sessions.size,
        txWaits: hubStats.txWaits,
        txHashes: hubStats.txHashes,
        streamSubscriptions: hubStats.newBlock + hubStats.allTx,
        connections: openConnections,
        refusedConnections,
        timedOutRequests,
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
