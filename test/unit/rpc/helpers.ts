import { WebSocket } from 'ws'
import type { RpcCorsOptions, RpcLimits } from '../../../src/rpc/options.js'
import { createRpcServer, type RpcServer } from '../../../src/rpc/server.js'
import { waitFor } from '../../helpers/wait.js'
import { FakeBackend } from './fake-backend.js'

export interface TestServer {
  backend: FakeBackend
  server: RpcServer
  url: string
  wsUrl: string
  stop(): Promise<void>
}

export async function startTestServer(limits: Partial<RpcLimits & RpcCorsOptions> = {}): Promise<TestServer> {
  const backend = new FakeBackend()
  const server = createRpcServer({ port: 0, backend, limits })
  await server.start()
  const { host, port } = server.address()
  return {
    backend,
    server,
    url: `http://${host}:${port}/`,
    wsUrl: `ws://${host}:${port}/websocket`,
    stop: () => server.stop(),
  }
}

export interface RawResponse {
  status: number
  text: string
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON shapes with chai
  json: any
}

/** POSTs a raw body (string) or a value (JSON-encoded) and returns status and parsed body. */
export async function post(url: string, body: unknown): Promise<RawResponse> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.text()
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, text, json }
}

/** GETs a path (a GET route) and returns status, headers and parsed body. */
export async function get(
  url: string,
  path: string,
  init: { method?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse & { headers: Headers }> {
  // redirects are answers to check, not to follow (GET / from a browser is a 302 to /explorer/)
  const res = await fetch(new URL(path, url), {
    method: init.method ?? 'GET',
    headers: init.headers,
    redirect: 'manual',
  })
  const text = await res.text()
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, text, json, headers: res.headers }
}

let nextId = 1

/** One JSON-RPC call over HTTP; returns the whole response object. */
export async function call(url: string, method: string, params?: unknown): Promise<RawResponse['json']> {
  const id = nextId++
  const res = await post(
    url,
    params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params },
  )
  return res.json
}

/** A subscription event: a response whose result has the event's query and data. */
function isEvent(m: unknown): boolean {
  if (typeof m !== 'object' || m === null || !('result' in m)) return false
  const result: unknown = m.result
  return typeof result === 'object' && result !== null && 'query' in result && 'data' in result
}

/** A WebSocket client that collects every message it receives. */
export class WsClient {
  // biome-ignore lint/suspicious/noExplicitAny: received JSON of any shape
  readonly messages: any[] = []
  private nextId = 1
  closedCode: number | undefined

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.messages.push(JSON.parse(String(data))))
    ws.on('close', (code) => {
      this.closedCode = code
    })
  }

  static async connect(url: string): Promise<WsClient> {
    const ws = new WebSocket(url)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    return new WsClient(ws)
  }

  sendRaw(text: string): void {
    this.ws.send(text)
  }

  /** Sends a request (with the given id, else the next number) and waits for its response. */
  // biome-ignore lint/suspicious/noExplicitAny: response JSON
  async request(method: string, params?: unknown, id: string | number = this.nextId++): Promise<any> {
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
    let found: unknown
    await waitFor(
      () => {
        // a subscription's events carry its subscribe's id too: the answer is the one that is not an event
        found = this.messages.find((m) => m.id === id && !isEvent(m))
        return found !== undefined
      },
      { timeoutMs: 5000, intervalMs: 5, message: `response to ${method}` },
    )
    return found
  }

  /** The subscription events received (docs/RPC.md "WebSocket subscriptions"), of one subscription or all. */
  // biome-ignore lint/suspicious/noExplicitAny: event JSON
  notifications(subscription?: string): any[] {
    return this.messages.filter(
      (m) => isEvent(m) && (subscription === undefined || m.result.subscription === subscription),
    )
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return
    await new Promise<void>((resolve) => {
      this.ws.once('close', () => resolve())
      this.ws.close()
    })
  }
}
