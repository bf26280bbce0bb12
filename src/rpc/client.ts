/**
 * A small JSON-RPC 2.0 client over HTTP (global fetch), used by the CLI and tests. Every failure
 * is an RpcClientError with a one-line message fit for a terminal:
 *   kind 'rpc'       — the node answered with a JSON-RPC error; `code` is its code (see ./errors.ts)
 *   kind 'transport' — no connection: refused, DNS, reset, connect timeout
 *   kind 'timeout'   — no answer within the call's deadline
 *   kind 'http'      — an HTTP error without a JSON-RPC body
 *   kind 'protocol'  — the answer is not a JSON-RPC response
 *   kind 'url'       — the URL is not an http(s) URL
 */
import type { RpcMethodMap, RpcMethodName } from './types.js'

type RpcClientErrorKind = 'rpc' | 'transport' | 'timeout' | 'http' | 'protocol' | 'url'

export class RpcClientError extends Error {
  override name = 'RpcClientError'
  readonly kind: RpcClientErrorKind
  /** the JSON-RPC error code when kind is 'rpc', else null */
  readonly code: number | null
  readonly data: unknown

  constructor(kind: RpcClientErrorKind, message: string, code: number | null = null, data?: unknown) {
    super(message)
    this.kind = kind
    this.code = code
    this.data = data
  }
}

interface RpcCallOptions {
  /** give up after this long (default 30 s; broadcast_tx_commit adds its own timeout_ms) */
  timeoutMs?: number
}

const DEFAULT_TIMEOUT_MS = 30_000
/** the server's default broadcast_tx_commit wait (DEFAULT_RPC_LIMITS.defaultCommitTimeoutMs) */
const SERVER_COMMIT_TIMEOUT_MS = 30_000

/** Node's fetch hides the cause ("fetch failed"); dig out the system error code for the message. */
function transportError(err: unknown, url: string): RpcClientError {
  const transport = (message: string) => new RpcClientError('transport', message)
  let cause: unknown = err
  for (let depth = 0; depth < 4 && cause instanceof Error; depth++) {
    const code = (cause as { code?: unknown }).code
    if (code === 'ECONNREFUSED')
      return transport(`cannot connect to ${url}: connection refused (is the node running?)`)
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return transport(`cannot connect to ${url}: host not found`)
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return transport(`connection to ${url} was reset`)
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
      return transport(`cannot connect to ${url}: host unreachable`)
    if (code === 'UND_ERR_CONNECT_TIMEOUT') return transport(`cannot connect to ${url}: connection timed out`)
    // The call's own deadline (AbortSignal.timeout): connected, but no answer in time.
    if (cause.name === 'TimeoutError')
      return new RpcClientError('timeout', `no answer from ${url}: timed out`)
    cause = cause.cause
  }
  return transport(`cannot reach ${url}: ${err instanceof Error ? err.message : String(err)}`)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export class RpcClient {
  private nextId = 1

  constructor(readonly url: string) {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new RpcClientError('url', `invalid RPC URL: ${url} (expected e.g. http://127.0.0.1:26657)`)
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new RpcClientError('url', `invalid RPC URL: ${url} (expected e.g. http://127.0.0.1:26657)`)
  }

  /** A typed call: the params and result shapes of docs/RPC.md. */
  async call<M extends RpcMethodName>(
    method: M,
    params?: RpcMethodMap[M]['params'],
    options: RpcCallOptions = {},
  ): Promise<RpcMethodMap[M]['result']> {
    return (await this.callRaw(method, params, options)) as RpcMethodMap[M]['result']
  }

  /** An untyped call, for methods or params this client does not know. */
  async callRaw(method: string, params?: unknown, options: RpcCallOptions = {}): Promise<unknown> {
    let timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    // Give a waiting call time to be answered by the node (its TIMEOUT error) before giving up here.
    if (method === 'broadcast_tx_commit') {
      const serverWait =
        isObject(params) && typeof params.timeout_ms === 'number'
          ? params.timeout_ms
          : SERVER_COMMIT_TIMEOUT_MS
      timeoutMs = Math.max(timeoutMs, serverWait + 5_000)
    }
    const id = this.nextId++
    const body = JSON.stringify(
      params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params },
    )
    let response: Response
    let text: string
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      })
      text = await response.text()
    } catch (err) {
      throw transportError(err, this.url)
    }
    let payload: unknown
    try {
      payload = JSON.parse(text)
    } catch {
      if (!response.ok) throw new RpcClientError('http', `${this.url} answered HTTP ${response.status}`)
      throw new RpcClientError('protocol', `${this.url} did not answer with JSON`)
    }
    if (!isObject(payload))
      throw new RpcClientError('protocol', `${this.url} sent a malformed JSON-RPC response`)
    if (isObject(payload.error)) {
      const { code, message, data } = payload.error
      throw new RpcClientError(
        'rpc',
        `${method}: ${typeof message === 'string' ? message : 'error'} (code ${String(code)})`,
        typeof code === 'number' ? code : null,
        data,
      )
    }
    if (!response.ok) throw new RpcClientError('http', `${this.url} answered HTTP ${response.status}`)
    if (!Object.hasOwn(payload, 'result')) {
      throw new RpcClientError('protocol', `${this.url} sent a JSON-RPC response without a result`)
    }
    return payload.result
  }
}
