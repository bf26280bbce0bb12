/**
 * The WebSocket endpoints (docs/RPC.md): the upgrade at `/websocket` (native) and
 * `/comet/websocket` (CometBFT dialect), the origin check browsers need there, one WsSession per
 * connection, and the ping that ends sessions whose peer stopped answering.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { COMET_PREFIX, type CometDialect } from './comet/dialect.js'
import type { OriginPolicy } from './cors.js'
import type { EventHub } from './event-hub.js'
import type { JsonRpcProcessor } from './jsonrpc.js'
import type { RpcLimits } from './options.js'
import { pathOf } from './routes.js'
import { WsSession } from './ws-session.js'

interface WebSocketDeps {
  hub: EventHub
  processor: JsonRpcProcessor
  comet: CometDialect
  limits: RpcLimits
  logger: Logger
  origins: OriginPolicy
  /** true once the server is stopping: upgrades are refused */
  stopping(): boolean
}

export class WebSocketEndpoint {
  private readonly sessions = new Set<WsSession>()
  private wss: WebSocketServer | undefined
  private pingTimer: NodeJS.Timeout | undefined

  constructor(private readonly deps: WebSocketDeps) {}

  /** open sessions */
  get size(): number {
    return this.sessions.size
  }

  /** Accepts upgrades from now on (before the server listens). */
  open(): void {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.deps.limits.maxBodyBytes })
  }

  /** Pings every session each wsPingIntervalMs (once the server listens). */
  startPinging(): void {
    this.pingTimer = setInterval(() => this.pingAll(), this.deps.limits.wsPingIntervalMs)
    this.pingTimer.unref()
  }

  stopPinging(): void {
    clearInterval(this.pingTimer)
  }

  /** node:http's 'upgrade' handler. */
  readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const { hub, processor, comet, limits, logger, origins } = this.deps
    socket.on('error', () => {})
    const path = pathOf(req)
    const dialect =
      path === '/websocket' ? 'native' : path === `${COMET_PREFIX}/websocket` ? 'comet' : undefined
    if (dialect === undefined || this.wss === undefined || this.deps.stopping()) {
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
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const session =
        dialect === 'comet'
          ? new WsSession(ws, { hub, processor: comet.processor, limits, logger, format: comet.api.events })
          : new WsSession(ws, { hub, processor, limits, logger })
      this.sessions.add(session)
      ws.on('close', () => this.sessions.delete(session))
    })
  }

  private pingAll(): void {
    for (const session of this.sessions) {
      if (!session.alive) {
        session.terminate()
        this.sessions.delete(session)
        continue
      }
      session.alive = false
      session.ping()
    }
  }

  /** Starts closing every open session; returns them, for closed() and terminate(). */
  closeSessions(): WsSession[] {
    const live = [...this.sessions]
    for (const session of live) session.close()
    return live
  }

  /** Cuts the sessions that did not close within the grace period and stops accepting upgrades. */
  terminate(live: WsSession[]): void {
    for (const session of live) session.terminate()
    this.sessions.clear()
    this.wss?.close()
    this.wss = undefined
  }
}
