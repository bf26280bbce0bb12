/**
 * The RPC server's limits on connections and requests (docs/RPC.md "Limits"): the per-address and
 * total connection caps enforced at accept, with refusals logged without flooding the log; the
 * header, body and keep-alive timeouts handed to node:http; and reading a request body within its
 * size limit and timeout.
 */
import type { IncomingMessage, Server, ServerOptions } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import type { RpcLimits } from './options.js'

export type BodyResult =
  | { kind: 'ok'; body: string }
  | { kind: 'too_large' }
  | { kind: 'timeout' }
  | { kind: 'aborted' }

/**
 * Reads the body up to `limit` bytes; stops buffering (and drains) as soon as it is exceeded. A
 * body not complete within `timeoutMs` of the headers is 'timeout' (docs/RPC.md "Limits").
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<BodyResult> {
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
export function remoteKey(socket: Socket): string | undefined {
  const address = socket.remoteAddress
  if (address === undefined) return undefined
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

/** The timeouts node:http enforces for the server (docs/RPC.md "Limits"). */
export function httpServerOptions(limits: RpcLimits): ServerOptions {
  return {
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
  }
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

/**
 * The connection caps and their counts: open connections per remote address (remoteKey), HTTP
 * and WebSocket alike, connections refused at accept, and requests that timed out.
 */
export class ConnectionGuard {
  /** open connections per remote address (remoteKey), HTTP and WebSocket alike */
  private readonly perAddress = new Map<string, number>()
  private readonly refusals: RefusalLog
  openConnections = 0
  refusedConnections = 0
  timedOutRequests = 0

  constructor(
    private readonly limits: RpcLimits,
    logger: Logger,
  ) {
    this.refusals = new RefusalLog(logger, (reason) =>
      reason === 'per_ip_limit' ? limits.maxConnectionsPerIp : limits.maxConnections,
    )
  }

  /** Puts the caps and the timeout answers on a node:http server. */
  attach(http: Server): void {
    http.maxConnections = this.limits.maxConnections
    http.on('drop', (data?: { remoteAddress?: string }) => {
      this.refusedConnections++
      this.refusals.add('max_connections', data?.remoteAddress ?? 'unknown')
    })
    http.prependListener('connection', (socket: Socket) => this.onConnection(socket))
    http.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) {
        socket.destroy()
        return
      }
      const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      if (timedOut) this.timedOutRequests++
      const status = timedOut ? '408 Request Timeout' : '400 Bad Request'
      // write, then destroy rather than end(): the server is half-open by default, and a client
      // that never closes its side would keep the connection (and its slot) forever
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () =>
        socket.destroy(),
      )
    })
  }

  /**
   * Runs before node:http sees the connection: one over the per-address cap is closed at once, so
   * it costs neither a parser nor a timer; the others are counted until they close, whether they
   * stay HTTP or become WebSockets (docs/RPC.md "Limits").
   */
  private onConnection(socket: Socket): void {
    const key = remoteKey(socket)
    if (key === undefined) {
      // already gone (reset before accept completed): nothing to count or serve
      socket.destroy()
      return
    }
    const open = this.perAddress.get(key) ?? 0
    if (open >= this.limits.maxConnectionsPerIp) {
      this.refusedConnections++
      this.refusals.add('per_ip_limit', key)
      socket.destroy()
      return
    }
    this.perAddress.set(key, open + 1)
    this.openConnections++
    socket.once('close', () => {
      this.openConnections--
      const left = (this.perAddress.get(key) ?? 1) - 1
      if (left === 0) this.perAddress.delete(key)
      else this.perAddress.set(key, left)
    })
  }

  /** Logs what refusals are still uncounted and stops the log's timer. */
  close(): void {
    this.refusals.close()
  }
}
