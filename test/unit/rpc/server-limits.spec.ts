import { connect, type Socket } from 'node:net'
import { expect } from 'chai'
import { RpcErrorCode } from '../../../src/rpc/errors.js'
import type { RpcLimits } from '../../../src/rpc/options.js'
import { freshStatusPost } from '../../helpers/fresh-post.js'
import { waitFor } from '../../helpers/wait.js'
import { startTestServer, type TestServer, WsClient } from './helpers.js'

/** A raw TCP client that records what the server sends and when it closes the connection. */
class RawConn {
  received = ''
  closed = false
  readonly socket: Socket

  constructor(port: number, localAddress?: string) {
    this.socket = connect({ host: '127.0.0.1', port, localAddress })
    this.socket.on('data', (d: Buffer) => {
      this.received += d.toString('latin1')
    })
    this.socket.on('error', () => {})
    this.socket.on('close', () => {
      this.closed = true
    })
  }

  /** Connected, or already closed: a refusal can reset the connection before the client sees it open. */
  settled(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.socket.connecting) {
        resolve()
        return
      }
      this.socket.once('connect', () => resolve())
      this.socket.once('close', () => resolve())
    })
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** `status` over a fresh connection from `localAddress`; resolves the HTTP status. */
async function statusCall(port: number, localAddress = '127.0.0.1'): Promise<number> {
  return (await freshStatusPost(port, localAddress)).statusCode
}

async function refused(call: Promise<unknown>): Promise<boolean> {
  try {
    await call
    return false
  } catch {
    return true
  }
}

describe('rpc/server limits: per-address connections, header and body timeouts', function () {
  this.timeout(20_000)
  let t: TestServer
  let port: number
  const conns: RawConn[] = []
  const clients: WsClient[] = []

  async function start(limits: Partial<RpcLimits>): Promise<void> {
    t = await startTestServer(limits)
    port = t.server.address().port
  }

  async function open(localAddress?: string): Promise<RawConn> {
    const c = new RawConn(port, localAddress)
    conns.push(c)
    await c.settled()
    return c
  }

  afterEach(async () => {
    for (const c of conns.splice(0)) c.destroy()
    for (const ws of clients.splice(0)) await ws.close()
    await t.stop()
  })

  it('closes connections over the per-address cap at once, and serves other addresses', async () => {
    await start({ maxConnectionsPerIp: 3 })
    const held = [await open(), await open(), await open()]
    await waitFor(() => t.server.stats().connections === 3, {
      timeoutMs: 5_000,
      message: 'three connections counted',
    })
    // The fourth from the same address is closed before the server reads a byte of it.
    const over = await open()
    over.socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}')
    await waitFor(() => over.closed, { timeoutMs: 5_000, message: 'the connection over the cap closed' })
    expect(over.received).to.equal('')
    expect(await refused(statusCall(port))).to.equal(true)
    expect(t.server.stats()).to.include({ connections: 3, refusedConnections: 2 })
    // Another address is not affected.
    expect(await statusCall(port, '127.0.0.2')).to.equal(200)
    // A slot freed is a slot available again.
    held[0]?.destroy()
    await waitFor(() => t.server.stats().connections === 2, {
      timeoutMs: 5_000,
      message: 'the closed connection uncounted',
    })
    expect(await statusCall(port)).to.equal(200)
    expect(t.server.stats().refusedConnections).to.equal(2)
  })

  it('counts WebSocket connections against the same cap', async () => {
    await start({ maxConnectionsPerIp: 2 })
    const { wsUrl } = t
    clients.push(await WsClient.connect(wsUrl), await WsClient.connect(wsUrl))
    expect(await refused(statusCall(port))).to.equal(true)
    expect(await refused(WsClient.connect(wsUrl))).to.equal(true)
    expect(t.server.stats()).to.include({ connections: 2, wsConnections: 2 })
    // A WebSocket still works while the cap refuses new connections.
    expect((await clients[0]?.request('status'))?.result?.node_info).to.be.an('object')
    await clients.pop()?.close()
    await waitFor(() => t.server.stats().connections === 1, {
      timeoutMs: 5_000,
      message: 'the closed WebSocket uncounted',
    })
    expect(await statusCall(port)).to.equal(200)
  })

  it('answers 408 and closes a connection whose headers do not arrive in time', async () => {
    await start({ headerTimeoutMs: 200 })
    const partial = await open()
    partial.socket.write('POST / HTTP/1.1\r\nHost: x\r\n')
    const silent = await open()
    await waitFor(() => partial.closed && silent.closed, {
      timeoutMs: 10_000,
      message: 'both connections closed',
    })
    expect(partial.received).to.match(/^HTTP\/1\.1 408 /)
    expect(t.server.stats()).to.include({ connections: 0 })
    expect(t.server.stats().timedOutRequests).to.be.at.least(1)
  })

  it('answers 408 with -32600 and closes a connection whose body does not arrive in time', async () => {
    await start({ bodyTimeoutMs: 200 })
    const halfOpen = await open()
    // a POST whose body never ends: the abuse the body timeout is for
    halfOpen.socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"jsonrpc"')
    await waitFor(() => halfOpen.closed, { timeoutMs: 10_000, message: 'the half-open POST closed' })
    const [head, body] = halfOpen.received.split('\r\n\r\n')
    expect(head).to.match(/^HTTP\/1\.1 408 /)
    expect(head?.toLowerCase()).to.include('connection: close')
    expect(JSON.parse(body ?? '')).to.deep.equal({
      jsonrpc: '2.0',
      id: null,
      error: {
        code: RpcErrorCode.INVALID_REQUEST,
        message: 'invalid request: body not received within 200 ms',
      },
    })
    expect(t.server.stats()).to.include({ connections: 0, timedOutRequests: 1, httpRequests: 0 })
  })

  it('a body that completes in time is served, however it is split', async () => {
    await start({ bodyTimeoutMs: 2_000 })
    const slow = await open()
    const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'status' })
    slow.socket.write(
      `POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`,
    )
    slow.socket.write(body.slice(0, 10))
    await waitFor(() => t.server.stats().httpRequests === 1, {
      timeoutMs: 5_000,
      message: 'the request in the handler',
    })
    slow.socket.end(body.slice(10))
    await waitFor(() => slow.closed, { timeoutMs: 5_000, message: 'the answer' })
    expect(slow.received).to.match(/^HTTP\/1\.1 200 /)
    expect(slow.received).to.include('"id":7')
  })

  it('half-open POSTs from one address hold at most its cap, and only until the body timeout', async () => {
    await start({ maxConnectionsPerIp: 16, bodyTimeoutMs: 1_000 })
    const flood = await Promise.all(Array.from({ length: 200 }, () => open('127.0.0.2')))
    for (const c of flood) c.socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{')
    expect(await statusCall(port)).to.equal(200)
    await waitFor(() => flood.every((c) => c.closed), {
      timeoutMs: 10_000,
      message: 'every half-open POST closed',
    })
    // Each was either refused over the cap or held until the body timeout (408). On a loaded machine
    // the first ones can time out before the last ones connect, freeing slots: then more than 16 are
    // held (16 at a time), never fewer. The cap itself at one instant: the first test.
    const timedOut = flood.filter((c) => c.received.startsWith('HTTP/1.1 408 ')).length
    expect(timedOut).to.be.at.least(16)
    expect(t.server.stats().refusedConnections).to.equal(200 - timedOut)
    expect(t.server.stats().timedOutRequests).to.equal(timedOut)
    expect(await statusCall(port, '127.0.0.2')).to.equal(200)
  })
})
