/**
 * Which web pages may use the RPC (docs/RPC.md "CORS and browser origins"). A browser sends
 * `Origin` with its cross-site requests and WebSocket handshakes; non-browser clients (curl, the
 * CLI, cosmjs on Node, the bench) send none and are never affected. With no origins configured a
 * page of another site can neither read an HTTP answer (no Access-Control-Allow-Origin) nor open a
 * WebSocket (refused with 403; WebSockets have no CORS, so the server must check Origin itself).
 */

/** How long a browser may cache a preflight answer; the list only changes with a restart. */
const PREFLIGHT_MAX_AGE_S = 600

/**
 * Why an entry of `rpc.cors_allowed_origins` is not usable, or undefined when it is: `*`, or an
 * origin exactly as browsers send it (scheme://host[:port], lowercase, no default port, no path),
 * since Origin is compared as a string.
 */
export function originProblem(text: string): string | undefined {
  if (text === '*') return undefined
  const example = 'write scheme://host[:port], e.g. http://localhost:3000, or *'
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return `${JSON.stringify(text)} is not an origin: ${example}`
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `${JSON.stringify(text)} is not an http or https origin: ${example}`
  }
  if (url.origin !== text) {
    return `${JSON.stringify(text)} is not an origin as a browser sends it: write ${JSON.stringify(url.origin)}`
  }
  return undefined
}

export class OriginPolicy {
  private readonly origins: ReadonlySet<string>
  private readonly any: boolean

  constructor(allowed: readonly string[]) {
    this.origins = new Set(allowed)
    this.any = this.origins.has('*')
  }

  allows(origin: string): boolean {
    return this.any || this.origins.has(origin)
  }

  /**
   * Headers for the answer to an HTTP request. The allowed origin is echoed rather than `*` so one
   * rule serves both; `Vary: Origin` goes on every answer once a list is configured, because each
   * then depends on the request's Origin and a shared cache must not serve one to another page.
   */
  responseHeaders(origin: string | undefined): Record<string, string> {
    if (this.origins.size === 0) return {}
    if (origin === undefined || !this.allows(origin)) return { vary: 'Origin' }
    return { vary: 'Origin', 'access-control-allow-origin': origin }
  }

  /** Headers for a preflight (OPTIONS): what the page may send besides a simple request. */
  preflightHeaders(origin: string | undefined): Record<string, string> {
    const base = this.responseHeaders(origin)
    if (base['access-control-allow-origin'] === undefined) return base
    return {
      ...base,
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'content-type',
      'access-control-max-age': String(PREFLIGHT_MAX_AGE_S),
    }
  }

  /**
   * A WebSocket handshake is accepted without Origin (not a browser), from a listed origin, or from
   * the node's own origin (a page it served itself, which a browser would let call it over HTTP
   * too); any other page is refused.
   */
  allowsWebSocket(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined || this.allows(origin)) return true
    if (host === undefined) return false
    try {
      return new URL(origin).host === new URL(`http://${host}`).host
    } catch {
      return false
    }
  }
}
