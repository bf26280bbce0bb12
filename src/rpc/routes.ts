/**
 * The RPC server's HTTP routing (docs/RPC.md): JSON-RPC POST `/` (single and batch), `GET /health`,
 * a GET route per method (`GET /block?height=5`), CORS preflights, `/routes`, the explorer, and the
 * CometBFT dialect under `/comet`; anything else a JSON-RPC error with the fitting HTTP status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { RpcBackend } from './backend.js'
import { type CometDialect, cometSubpath } from './comet/dialect.js'
import { type CometHttpDeps, cometRequest } from './comet/http.js'
import type { OriginPolicy } from './cors.js'
import { RpcError, RpcErrorCode } from './errors.js'
import { createExplorerRoute, EXPLORER_PATH } from './explorer-route.js'
import { readBody, remoteKey } from './http-limits.js'
import { errorResponse, type JsonRpcProcessor } from './jsonrpc.js'
import type { RpcMethod } from './methods.js'
import type { RpcLimits } from './options.js'
import type { HealthResult } from './types.js'
import { parseQuery, routesPage, URI_CALL_ID } from './uri.js'

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' }

export function pathOf(req: IncomingMessage): string {
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

export function send(
  res: ServerResponse,
  status: number,
  body: string,
  extra: Record<string, string> = {},
): void {
  if (res.destroyed || res.headersSent) return
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': String(Buffer.byteLength(body)), ...extra })
  res.end(body)
}

interface RouterDeps {
  backend: RpcBackend
  logger: Logger
  limits: RpcLimits
  methods: ReadonlyMap<string, RpcMethod>
  processor: JsonRpcProcessor
  comet: CometDialect
  origins: OriginPolicy
  /** the built explorer's folder (default dist/explorer; docs/EXPLORER.md) */
  explorerRoot?: string
  /** true once the server is stopping: new calls answer 503 */
  stopping(): boolean
  /** a request body did not arrive within bodyTimeoutMs (counted in the server's stats) */
  onBodyTimeout(): void
}

/** The handler of every HTTP request the server takes (WebSocket upgrades aside). */
export function createRouter(deps: RouterDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { backend, logger, limits, methods, processor, comet, origins, stopping } = deps
  const cometHttp: CometHttpDeps = {
    dialect: comet,
    stopping,
    preflightHeaders: (origin) => origins.preflightHeaders(origin),
    send: (res, status, body, extra) => send(res, status, body, extra),
    post: (req, res) => rpc(req, res, comet.processor),
    get: (req, res, method) => uriCall(req, res, method, comet.processor),
  }
  const indexPage = routesPage(methods)
  const explorer = createExplorerRoute(deps.explorerRoot)

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
      deps.onBodyTimeout()
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

  return async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
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
    if (stopping() && ((path === '/' && req.method === 'POST') || (route !== undefined && isGet(req)))) {
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
}
