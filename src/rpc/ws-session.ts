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
import type { JsonRpcProcessor } from './jsonrpc.js'
import type { SubscriptionSession, UnsubscribeTarget } from './methods.js'
import type { RpcLimits } from './options.js'
import type {
  BlockResult,
  Hex,
  JsonRpcId,
  RpcEventName,
  SubscribeResult,
  TxEvent,
  UnsubscribeResult,
} from './types.js'

interface Subscription {
  event: RpcEventName
  hash: Hex | undefined
  /** the subscription's filter in CometBFT's query syntax (as the client wrote it, in that dialect) */
  query: string
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

/** What a dialect knows of a subscription when it writes its events. */
export interface SubscriptionInfo {
  /** what `subscribe` answered (native dialect) */
  readonly id: string
  /** the subscribe request's id: every event goes out with it */
  readonly requestId: JsonRpcId
  readonly query: string
  readonly event: RpcEventName
}

/** One event of a subscription as a message; a promise keeps its place in the order; undefined skips it. */
type EventWriter = (
  data: BlockResult | TxEvent,
  json: () => string,
) => string | undefined | Promise<string | undefined>

/**
 * How a dialect writes a subscription's events. `writer` is called once per subscription, the
 * writer it returns once per event (the native one builds its message prefix once).
 */
export interface EventFormat {
  writer(sub: SubscriptionInfo): EventWriter
}

/** The native dialect's events (docs/RPC.md "WebSocket subscriptions"). */
export const NATIVE_EVENT_FORMAT: EventFormat = {
  writer(sub) {
    // serialised once per subscription; the event's own JSON once per event for all (EventHub)
    const prefix = `{"jsonrpc":"2.0","id":${JSON.stringify(sub.requestId)},"result":{"query":${JSON.stringify(sub.query)},"subscription":${JSON.stringify(sub.id)},"data":{"type":"${sub.event}","value":`
    return (_data, json) => `${prefix}${json()}}}}`
  },
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
  /** default: the native dialect's */
  format?: EventFormat
}

export class WsSession {
  private readonly subscriptions = new Map<string, Subscription>()
  private readonly abort = new AbortController()
  private nextSubscriptionId = 1
  private inFlight = 0
  /** the last of the events still being written (a dialect that writes them asynchronously) */
  private ordered: Promise<void> | undefined
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
  subscribe(
    event: RpcEventName,
    hash: Hex | undefined,
    requestId: JsonRpcId,
    query?: string,
  ): SubscribeResult {
    if (this.subscriptions.size >= this.deps.limits.maxSubscriptionsPerConnection) {
      throw new RpcError(
        RpcErrorCode.LIMIT_EXCEEDED,
        `too many subscriptions on this connection (limit ${this.deps.limits.maxSubscriptionsPerConnection})`,
      )
    }
    const id = String(this.nextSubscriptionId++)
    const sub: Subscription = { event, hash, query: query ?? queryOf(event, hash), off: () => {}, held: [] }
    const write = (this.deps.format ?? NATIVE_EVENT_FORMAT).writer({ id, requestId, query: sub.query, event })
    const push = (data: BlockResult | TxEvent, json: () => string): void => this.push(sub, write(data, json))
    sub.off = event === 'NewBlock' ? this.deps.hub.onNewBlock(push) : this.deps.hub.onTx(hash, push)
    this.subscriptions.set(id, sub)
    return { subscription: id }
  }

  /** Whether a subscription with this query exists (the CometBFT dialect refuses a second one). */
  subscribed(query: string): boolean {
    for (const sub of this.subscriptions.values()) if (sub.query === query) return true
    return false
  }

  unsubscribe(target: UnsubscribeTarget): UnsubscribeResult {
    let removed = 0
    for (const [id, sub] of this.subscriptions) {
      const matches =
        'subscription' in target
          ? id === target.subscription
          : 'query' in target
            ? sub.query === target.query
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
        this.deps.processor.errorResponse(null, {
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
      subscribe: (event, hash, requestId, query) => {
        const result = this.subscribe(event, hash, requestId, query)
        opened.push(result.subscription)
        return result
      },
      subscribed: (query) => this.subscribed(query),
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

  /**
   * One event's message, written now or later (a promise): a later one keeps its place, so the
   * events of a connection go out in the order they happened.
   */
  private push(sub: Subscription, message: string | undefined | Promise<string | undefined>): void {
    if (this.ordered === undefined && !(message instanceof Promise)) {
      if (message !== undefined) this.deliver(sub, message)
      return
    }
    const previous = this.ordered ?? Promise.resolve()
    const next = previous
      .then(() => message)
      .then(
        (text) => {
          // unsubscribed (or the connection closed) meanwhile: the event is not wanted any more
          if (text !== undefined && this.isLive(sub)) this.deliver(sub, text)
        },
        (err: unknown) => this.deps.logger.warn({ err }, 'rpc: writing a websocket event failed'),
      )
      .finally(() => {
        if (this.ordered === next) this.ordered = undefined
      })
    this.ordered = next
  }

  private isLive(sub: Subscription): boolean {
    for (const s of this.subscriptions.values()) if (s === sub) return true
    return false
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
