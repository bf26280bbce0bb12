/**
 * The explorer's link to the node that serves it (docs/RPC.md): JSON-RPC 2.0 by POST / (single and
 * batch), and one WebSocket at /websocket for the NewBlock and Tx subscriptions, reconnected with
 * backoff when it closes and re-subscribed, so pages stay live across a node restart.
 */
import type { JsonRpcId, RpcEventName, RpcMethodMap, RpcMethodName, SubscriptionEvent } from '../rpc/types.js'

/** An error the node answered (code and message as docs/RPC.md lists them), or a transport failure. */
export class RpcCallError extends Error {
  override name = 'RpcCallError'
  constructor(
    message: string,
    readonly code: number | null,
  ) {
    super(message)
  }
}

/** The code of `block` / `tx` for something the node does not have (docs/RPC.md "Error codes", NOT_FOUND). */
export const NOT_FOUND = -32008

type Params<M extends RpcMethodName> = RpcMethodMap[M]['params']
type Result<M extends RpcMethodName> = RpcMethodMap[M]['result']

interface Response {
  id?: JsonRpcId
  result?: unknown
  error?: { code: number; message: string }
}

let nextId = 1

async function post(body: unknown): Promise<unknown> {
  let res: globalThis.Response
  try {
    res = await fetch('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  } catch (err) {
    throw new RpcCallError(
      `the node does not answer: ${err instanceof Error ? err.message : String(err)}`,
      null,
    )
  }
  const text = await res.text()
  try {
    return JSON.parse(text)
  } catch {
    throw new RpcCallError(`the node answered HTTP ${res.status} without JSON`, null)
  }
}

function unwrap<T>(response: Response, method: string): T {
  if (response.error !== undefined)
    throw new RpcCallError(`${method}: ${response.error.message}`, response.error.code)
  return response.result as T
}

export async function call<M extends RpcMethodName>(method: M, params?: Params<M>): Promise<Result<M>> {
  const response = (await post({ jsonrpc: '2.0', id: nextId++, method, params: params ?? {} })) as Response
  return unwrap<Result<M>>(response, method)
}

/** Many calls of one method in one batch (at most 100, the node's batch limit): results in order. */
export async function batch<M extends RpcMethodName>(
  method: M,
  paramsList: Params<M>[],
): Promise<(Result<M> | RpcCallError)[]> {
  if (paramsList.length === 0) return []
  const first = nextId
  nextId += paramsList.length
  const answer = await post(
    paramsList.map((params, i) => ({ jsonrpc: '2.0', id: first + i, method, params })),
  )
  if (!Array.isArray(answer))
    throw new RpcCallError(`${method}: ${(answer as Response).error?.message ?? 'bad batch answer'}`, null)
  const byId = new Map((answer as Response[]).map((r) => [r.id, r]))
  return paramsList.map((_, i) => {
    const r = byId.get(first + i)
    if (r === undefined) return new RpcCallError(`${method}: no answer in the batch`, null)
    try {
      return unwrap<Result<M>>(r, method)
    } catch (err) {
      return err as RpcCallError
    }
  })
}

type Handler = (data: SubscriptionEvent['data']) => void

interface Subscription {
  event: RpcEventName
  hash: string | undefined
  handler: Handler
  /** the id of the subscribe request on the current connection, and what the node named it */
  requestId?: number
  name?: string
}

/**
 * The WebSocket: subscriptions registered here survive reconnects. `onState` hears 'open' (also after
 * a reconnect: events may have been missed, so pages reload their data) and 'closed'.
 */
export class Live {
  private ws: WebSocket | undefined
  private readonly subs = new Set<Subscription>()
  private readonly byRequest = new Map<number, Subscription>()
  private retryMs = 500
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(private readonly onState: (state: 'open' | 'closed', reconnected: boolean) => void) {}

  private opened = false

  connect(): void {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/websocket`
    const ws = new WebSocket(url)
    this.ws = ws
    ws.addEventListener('open', () => {
      this.retryMs = 500
      this.byRequest.clear()
      for (const sub of this.subs) this.send(sub)
      this.onState('open', this.opened)
      this.opened = true
    })
    ws.addEventListener('message', (e) => this.onMessage(String(e.data)))
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return
      this.ws = undefined
      for (const sub of this.subs) {
        sub.requestId = undefined
        sub.name = undefined
      }
      this.onState('closed', false)
      this.timer = setTimeout(() => this.connect(), this.retryMs)
      this.retryMs = Math.min(this.retryMs * 2, 10_000)
    })
  }

  /** Starts getting `event` (for one tx `hash`, or all); the returned function stops it. */
  subscribe(event: RpcEventName, hash: string | undefined, handler: Handler): () => void {
    const sub: Subscription = { event, hash, handler }
    this.subs.add(sub)
    if (this.ws?.readyState === WebSocket.OPEN) this.send(sub)
    return () => {
      this.subs.delete(sub)
      if (sub.requestId !== undefined) this.byRequest.delete(sub.requestId)
      if (sub.name !== undefined && this.ws?.readyState === WebSocket.OPEN) {
        this.ws.send(
          JSON.stringify({
            jsonrpc: '2.0',
            id: nextId++,
            method: 'unsubscribe',
            params: { subscription: sub.name },
          }),
        )
      }
    }
  }

  private send(sub: Subscription): void {
    const id = nextId++
    sub.requestId = id
    this.byRequest.set(id, sub)
    const params = sub.hash === undefined ? { event: sub.event } : { event: sub.event, hash: sub.hash }
    this.ws?.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'subscribe', params }))
  }

  private onMessage(text: string): void {
    let msg: Response
    try {
      msg = JSON.parse(text) as Response
    } catch {
      return
    }
    if (typeof msg.id !== 'number') return
    const sub = this.byRequest.get(msg.id)
    if (sub === undefined) return
    if (msg.error !== undefined) {
      console.warn(`subscribe ${sub.event} failed: ${msg.error.message}`)
      return
    }
    const result = msg.result as Partial<SubscriptionEvent> | undefined
    if (result?.data !== undefined) sub.handler(result.data)
    else if (typeof result?.subscription === 'string') sub.name = result.subscription
  }

  close(): void {
    clearTimeout(this.timer)
    const ws = this.ws
    this.ws = undefined
    ws?.close()
  }
}
