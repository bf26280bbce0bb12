/**
 * GET routes (docs/RPC.md "GET routes"): `GET /<method>?name=value&…` calls a method with named
 * params taken from the query string, CometBFT's URI convention. This file only turns the query
 * string into a params object of strings; the method's own schema checks it (./methods.ts), so a
 * GET call and a POSTed one cannot disagree on what is valid.
 */
import { RpcError, RpcErrorCode } from './errors.js'
import type { RpcMethod } from './methods.js'

/** The id of every GET route's response: CometBFT answers URI calls with -1. */
export const URI_CALL_ID = -1

/** Longest piece of client input quoted back in an error message. */
const QUOTE_MAX = 64

function invalid(message: string): RpcError {
  return new RpcError(RpcErrorCode.INVALID_PARAMS, `invalid params: ${message}`)
}

function quote(text: string): string {
  return JSON.stringify(text.length > QUOTE_MAX ? `${text.slice(0, QUOTE_MAX)}…` : text)
}

/** application/x-www-form-urlencoded decoding, as Go's url.ParseQuery (`+` is a space). */
function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '))
  } catch {
    throw invalid(`malformed query string: bad percent-encoding in ${what} ${quote(part)}`)
  }
}

/**
 * A value in double quotes is a JSON string (`key="greeting"` is greeting, `"a\"b"` is a"b), as
 * CometBFT reads string args; anything else is taken as it stands (`height=5`, `tx=0x0102`).
 */
function unquote(name: string, value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value
  try {
    const parsed: unknown = JSON.parse(value)
    if (typeof parsed === 'string') return parsed
  } catch {
    // reported below
  }
  throw invalid(`${name}: malformed quoted string ${quote(value)}`)
}

/**
 * The named params of a query string (without its `?`). Repeats and malformed encodings are
 * -32602 here: with a name given twice no single value is the client's meaning. With `raw`, quoted
 * values keep their quotes, for a dialect that reads them by the param's type (./comet/params.ts).
 */
export function parseQuery(search: string, raw = false): Record<string, string> {
  const entries: [string, string][] = []
  const seen = new Set<string>()
  for (const part of search.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = decode(eq === -1 ? part : part.slice(0, eq), 'name')
    const value = eq === -1 ? '' : decode(part.slice(eq + 1), 'the value of')
    if (name === '') throw invalid(`malformed query string: a value without a name in ${quote(part)}`)
    if (seen.has(name)) throw invalid(`${quote(name)} given more than once`)
    seen.add(name)
    entries.push([name, raw ? value : unquote(name, value)])
  }
  // fromEntries defines own properties: a param named __proto__ is an unknown key, not a prototype
  return Object.fromEntries(entries)
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/**
 * The page `GET /routes` shows: every route, with its params (CometBFT's index page). Links go to
 * the bare route, which answers the latest of things or names a missing param.
 */
export function routesPage(methods: ReadonlyMap<string, RpcMethod>): string {
  const items: string[] = ['<li><a href="/health">/health</a></li>']
  for (const [name, entry] of methods) {
    if (entry.wsOnly) continue
    const path = `/${escapeHtml(name)}`
    const args = entry.params.map((p) => `${escapeHtml(p)}=_`).join('&amp;')
    items.push(`<li><a href="${path}">${path}</a>${args === '' ? '' : `?${args}`}</li>`)
  }
  return [
    '<!doctype html>',
    '<html><head><meta charset="utf-8"><title>pbft-node RPC</title></head><body>',
    '<h1>pbft-node JSON-RPC</h1>',
    '<p>The block explorer is at <a href="/explorer/">/explorer/</a>.</p>',
    '<p>JSON-RPC 2.0 by <code>POST /</code>, WebSocket at <code>/websocket</code>, ',
    'and these GET routes (query params as named params):</p>',
    `<ul>\n${items.join('\n')}\n</ul>`,
    '</body></html>',
    '',
  ].join('\n')
}
