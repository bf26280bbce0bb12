/**
 * HTTP under `/comet` (docs/RPC.md "CometBFT dialect"): POST JSON-RPC at /comet (GET there lists
 * the routes, as CometBFT's GET /), a GET route per method at /comet/<method>, and for anything
 * else an error in CometBFT's form. Reading bodies, limits, CORS and the JSON-RPC processing are
 * the server's own (../routes.ts, ../http-limits.ts), passed in.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { RpcErrorCode } from '../errors.js'
import { URI_CALL_ID } from '../uri.js'
import { COMET_PREFIX, type CometDialect } from './dialect.js'

export interface CometHttpDeps {
  readonly dialect: CometDialect
  /** true once the server is stopping: new calls answer 503 */
  stopping(): boolean
  /** the CORS preflight headers for this origin (../cors.ts) */
  preflightHeaders(origin: string | undefined): Record<string, string>
  send(res: ServerResponse, status: number, body: string, extra?: Record<string, string>): void
  /** the server's POST handling (body limits and timeouts) with the dialect's processor */
  post(req: IncomingMessage, res: ServerResponse): Promise<void>
  /** the server's GET-route handling with the dialect's processor */
  get(req: IncomingMessage, res: ServerResponse, method: string): Promise<void>
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** What CometBFT answers `GET /` with: a page of its routes, those with args last. */
function endpointsPage(dialect: CometDialect): string {
  const routes = [...dialect.methods].filter(([, m]) => !m.wsOnly).sort(([a], [b]) => a.localeCompare(b))
  const link = (name: string, params: readonly string[]): string => {
    const href = `${COMET_PREFIX}/${escapeHtml(name)}${params.length === 0 ? '' : `?${params.map((p) => `${escapeHtml(p)}=_`).join('&amp;')}`}`
    return `<a href="${href}">${href}</a><br>`
  }
  return [
    '<html><body>',
    '<br>Available endpoints:<br>',
    ...routes.filter(([, m]) => m.params.length === 0).map(([name]) => link(name, [])),
    '<br>Endpoints that require arguments:<br>',
    ...routes.filter(([, m]) => m.params.length > 0).map(([name, m]) => link(name, m.params)),
    '</body></html>',
    '',
  ].join('\n')
}

function isGet(req: IncomingMessage): boolean {
  return req.method === 'GET' || req.method === 'HEAD'
}

/** Answers one request whose path is under /comet; `subpath` is the rest (`/` for /comet itself). */
export async function cometRequest(
  deps: CometHttpDeps,
  req: IncomingMessage,
  res: ServerResponse,
  subpath: string,
): Promise<void> {
  const name = subpath.slice(1)
  const entry = deps.dialect.methods.get(name)
  const route = name !== '' && entry !== undefined && !entry.wsOnly
  const fail = (status: number, code: number, message: string, extra?: Record<string, string>): void => {
    req.resume()
    const id = isGet(req) ? URI_CALL_ID : null
    deps.send(res, status, deps.dialect.processor.errorResponse(id, { code, message }), extra)
  }
  if (req.method === 'OPTIONS' && (subpath === '/' || route)) {
    req.resume()
    const allow = subpath === '/' ? 'POST, OPTIONS' : 'GET, HEAD, OPTIONS'
    if (!res.destroyed) res.writeHead(204, { allow, ...deps.preflightHeaders(req.headers.origin) }).end()
    return
  }
  if (deps.stopping() && ((subpath === '/' && req.method === 'POST') || (route && isGet(req)))) {
    return fail(503, RpcErrorCode.UNAVAILABLE, 'node is shutting down', { connection: 'close' })
  }
  if (subpath === '/' && req.method === 'POST') return await deps.post(req, res)
  if (route && isGet(req)) {
    req.resume()
    return await deps.get(req, res, name)
  }
  if (subpath === '/' && isGet(req)) {
    // CometBFT's GET / : the list of its routes
    req.resume()
    deps.send(res, 200, endpointsPage(deps.dialect), { 'content-type': 'text/html; charset=utf-8' })
    return
  }
  if (subpath === '/') {
    const message = `invalid request: send JSON-RPC 2.0 with POST to ${COMET_PREFIX}`
    return fail(405, RpcErrorCode.INVALID_REQUEST, message, { allow: 'POST' })
  }
  if (route) {
    const message = `invalid request: use GET ${COMET_PREFIX}/${name}?…, or POST JSON-RPC 2.0 to ${COMET_PREFIX}`
    return fail(405, RpcErrorCode.INVALID_REQUEST, message, { allow: 'GET, HEAD' })
  }
  const message =
    entry?.wsOnly === true
      ? `method not found: ${name} needs the WebSocket at ${COMET_PREFIX}/websocket`
      : `method not found: no route ${COMET_PREFIX}${subpath.slice(0, 100)}`
  return fail(404, RpcErrorCode.METHOD_NOT_FOUND, message)
}
