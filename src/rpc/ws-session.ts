/**
 * One WebSocket connection: JSON-RPC requests in (the same methods as HTTP), responses and
 * subscription notifications out. Notifications are JSON-RPC 2.0 notifications:
 *   {"jsonrpc":"2.0","method":"subscription","params":{"subscription":"1","event":"Tx","data":{...}}}
 * where `subscription` is the id that `subscribe` returned. Every limit here protects the node
 * from one client: subscriptions and requests in flight are capped, and a client that stops
 * reading is disconnected instead of being buffered for without end.
 */
import type { Logger } from 'pino'
import { type RawData, WebSocket } from 'ws'
import { RpcError, RpcErrorCode } from './errors.js'
import type { EventHub } from './event-hub.js'
import { errorResponse, type JsonRpcProcessor } from './jsonrpc.js'
import type { SubscriptionSession } from './methods.js'
import type { RpcLimits } from './options.js'
import type { Hex, RpcEventName, SubscribeResult, UnsubscribeResult } from './types.js'

interface Subscription {
  event: RpcEventName
  hash: Hex | undefined
  off: () => void
}

function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8')
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.from(data).toString('utf8')
}

interface WsSessionDeps {
  hub: EventHub
  processor: JsonRpcProcessor
  limits: RpcLimits
  logger: Logger
}

export class WsSession implements SubscriptionSession {
  private readonly subscriptions = new Map<string, Subscription>()
  private readonly abort = new AbortController()
  private nextSubscriptionId = 1
  private inFlight = 0
  /** cleared at each ping, set by the pong: a peer that missed one ping is gone */
  alive = true

  constructor(
    private readonly ws: WebSocket,
    private readonly deps: WsSessionDeps,
  ) {
    ws.on('message', (data) => this.onMessage(data))
    ws.on('pong', () => {
      this.alive = true
    })
    ws.on('close', () => this.dispose())
    ws.on('error', (err) => deps.logger.debug({ err }, 'rpc: websocket error'))
  }

  subscribe(event: RpcEventName, hash: Hex | undefined): SubscribeResult {
    if (this.subscriptions.size >= this.deps.limits.maxSubscriptionsPerConnection) {
      throw new RpcError(
        RpcErrorCode.LIMIT_EXCEEDED,
        `too many subscriptions on this connection (limit ${this.deps.limits.maxSubscriptionsPerConnection})`,
      )
    }
    const id = String(this.nextSubscriptionId++)
    const prefix = `{"jsonrpc":"2.0","method":"subscription","params":{"subscription":${JSON.stringify(id)},"event":"${event}","data":`
    const push = (_data: unknown, json: () => string): void => this.send(`${prefix}${json()}}}`)
    const off = event === 'NewBlock' ? this.deps.hub.onNewBlock(push) : this.deps.hub.onTx(hash, push)
    this.subscriptions.set(id, { event, hash, off })
    return { subscription: id }
  }

  unsubscribe(
    target: { subscription: string } | { event: RpcEventName; hash: Hex | undefined },
  ): UnsubscribeResult {
    let removed = 0
    for (const [id, sub] of this.subscriptions) {
      const matches =
        'subscription' in target
          ? id === target.subscription
          : sub.event === target.event && sub.hash === target.hash
      if (!matches) continue
      sub.off()
      this.subscriptions.delete(id)
      removed++
    }
    return { unsubscribed: removed }
  }

  unsubscribeAll(): UnsubscribeResult {
    const removed = this.subscriptions.size
    for (const sub of this.subscriptions.values()) sub.off()
    this.subscriptions.clear()
    return { unsubscribed: removed }
  }

  /** Closes the socket (server shutdown); going-away code 1001. */
  close(): void {
    this.dispose()
    this.ws.close(1001, 'server shutting down')
  }

  terminate(): void {
    this.dispose()
    this.ws.terminate()
  }

  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping()
  }

  /** Resolves once the socket is fully closed. */
  closed(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve()
    return new Promise((resolve) => this.ws.once('close', () => resolve()))
  }

  private onMessage(data: RawData): void {
    if (this.inFlight >= this.deps.limits.maxInFlightPerConnection) {
      this.send(
        errorResponse(null, {
          code: RpcErrorCode.LIMIT_EXCEEDED,
          message: `too many requests in flight on this connection (limit ${this.deps.limits.maxInFlightPerConnection})`,
        }),
      )
      return
    }
    this.inFlight++
    this.deps.processor
      .handle(rawToString(data), { signal: this.abort.signal, session: this })
      .then((response) => {
        if (response !== null) this.send(response)
      })
      .catch((err: unknown) => this.deps.logger.error({ err }, 'rpc: websocket request failed'))
      .finally(() => {
        this.inFlight--
      })
  }

  private send(text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return
    if (this.ws.bufferedAmount > this.deps.limits.maxWsBufferedBytes) {
      this.deps.logger.warn(
        { buffered: this.ws.bufferedAmount },
        'rpc: websocket client is not reading; disconnecting it',
      )
      this.terminate()
      return
    }
    this.ws.send(text)
  }

  private dispose(): void {
    if (!this.abort.signal.aborted) this.abort.abort()
    this.unsubscribeAll()
  }
}
