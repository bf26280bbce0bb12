/**
 * One WebSocket connection: JSON-RPC requests in (the same methods as HTTP), responses and
 * subscription events out. Each event is a JSON-RPC 2.0 response to the subscribe request, with its
 * exact id, as CometBFT sends them (docs/RPC.md "WebSocket subscriptions"):
 *   {"jsonrpc":"2.0","id":<subscribe id>,"result":{"query":"tm.event='Tx'","subscription":"1",
 *    "data":{"type":"Tx","value":{...}}}}
 * Clients that route answers by id (cosmjs) drop a message without one, so a bare notification
 * would never reach them. Every limit here protects the node from one client: subscriptions and
 * requests in flight are capped, and a client that stops reading is disconnected instead of being
 * buffered for without end.
 */
import type { Logger } from 'pino'
import { type RawData, WebSocket } from 'ws'
import { RpcError, RpcErrorCode } from './errors.js'
import type { EventHub } from './event-hub.js'
import { errorResponse, type JsonRpcProcessor } from './jsonrpc.js'
import type { SubscriptionSession } from './methods.js'
import type { RpcLimits } from './options.js'
import type { Hex, JsonRpcId, RpcEventName, SubscribeResult, UnsubscribeResult } from './types.js'

interface Subscription {
  event: RpcEventName
  hash: Hex | undefined
  off: () => void
  /**
   * Events held until the answer to the subscribe has been sent: they carry its id, and a client
   * must see the answer first to tell it from them. Undefined once released.
   */
  held: string[] | undefined
}

/** The subscription's filter in CometBFT's query syntax, for clients that key streams by query. */
function queryOf(event: RpcEventName, hash: Hex | undefined): string {
  return hash === undefined ? `tm.event='${event}'` : `tm.event='${event}' AND tx.hash='${hash}'`
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

export class WsSession {
  private readonly subscriptions = new Map<string, Subscription>()
  private readonly abort = new AbortController()
  private nextSubscriptionId = 1
  private inFlight = 0
  /** size of the events held (Subscription.held, in UTF-16 units: about bytes), against maxWsBufferedBytes */
  private heldBytes = 0
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

  /**
   * Its events wait in `held` until release(), which onMessage calls once the answer to the
   * message that subscribed has been sent.
   */
  subscribe(event: RpcEventName, hash: Hex | undefined, requestId: JsonRpcId): SubscribeResult {
    if (this.subscriptions.size >= this.deps.limits.maxSubscriptionsPerConnection) {
      throw new RpcError(
        RpcErrorCode.LIMIT_EXCEEDED,
        `too many subscriptions on this connection (limit ${this.deps.limits.maxSubscriptionsPerConnection})`,
      )
    }
    const id = String(this.nextSubscriptionId++)
    // serialised once per subscription; the event's own JSON once per event for all (EventHub)
    const prefix = `{"jsonrpc":"2.0","id":${JSON.stringify(requestId)},"result":{"query":${JSON.stringify(queryOf(event, hash))},"subscription":${JSON.stringify(id)},"data":{"type":"${event}","value":`
    const sub: Subscription = { event, hash, off: () => {}, held: [] }
    const push = (_data: unknown, json: () => string): void => this.deliver(sub, `${prefix}${json()}}}}`)
    sub.off = event === 'NewBlock' ? this.deps.hub.onNewBlock(push) : this.deps.hub.onTx(hash, push)
    this.subscriptions.set(id, sub)
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
      this.remove(id, sub)
      removed++
    }
    return { unsubscribed: removed }
  }

  unsubscribeAll(): UnsubscribeResult {
    const removed = this.subscriptions.size
    for (const [id, sub] of this.subscriptions) this.remove(id, sub)
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
    // the subscriptions this message opens, released once its answer (maybe a batch) is sent
    const opened: string[] = []
    const session: SubscriptionSession = {
      subscribe: (event, hash, requestId) => {
        const result = this.subscribe(event, hash, requestId)
        opened.push(result.subscription)
        return result
      },
      unsubscribe: (target) => this.unsubscribe(target),
      unsubscribeAll: () => this.unsubscribeAll(),
    }
    this.deps.processor
      .handle(rawToString(data), { signal: this.abort.signal, session })
      .then((response) => {
        if (response !== null) this.send(response)
      })
      .catch((err: unknown) => this.deps.logger.error({ err }, 'rpc: websocket request failed'))
      .finally(() => {
        this.inFlight--
        this.release(opened)
      })
  }

  /** An event goes out at once, or is held while its subscribe is not yet answered. */
  private deliver(sub: Subscription, text: string): void {
    if (sub.held === undefined) {
      this.send(text)
      return
    }
    this.heldBytes += text.length
    if (this.heldBytes > this.deps.limits.maxWsBufferedBytes) {
      // a batch that pairs subscribe with a long wait holds events until the wait ends: bounded
      // like any unread backlog (docs/RPC.md "Limits")
      this.deps.logger.warn(
        { held: this.heldBytes },
        'rpc: websocket events held for an unanswered subscribe exceed the limit; disconnecting',
      )
      this.terminate()
      return
    }
    sub.held.push(text)
  }

  /** Sends what the given subscriptions held, in order; from now on their events go out at once. */
  private release(ids: readonly string[]): void {
    for (const id of ids) {
      const sub = this.subscriptions.get(id)
      if (sub === undefined || sub.held === undefined) continue
      const held = sub.held
      sub.held = undefined
      for (const text of held) {
        this.heldBytes -= text.length
        this.send(text)
      }
    }
  }

  private remove(id: string, sub: Subscription): void {
    sub.off()
    for (const text of sub.held ?? []) this.heldBytes -= text.length
    sub.held = undefined
    this.subscriptions.delete(id)
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
