import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { expect } from 'chai'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { RpcClient, RpcClientError } from '../../../src/rpc/client.js'
import { RpcErrorCode } from '../../../src/rpc/errors.js'
import { waitFor } from '../../helpers/wait.js'
import { makeTx } from './fake-backend.js'
import { startTestServer, type TestServer } from './helpers.js'

const signer = new Ed25519Signer(new Uint8Array(32).fill(5))

async function rejection(promise: Promise<unknown>): Promise<RpcClientError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof RpcClientError) return err
    throw err
  }
  throw new Error('expected a rejection')
}

/** A plain HTTP server answering every request with a fixed status and body. */
async function fixedServer(status: number, body: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(status).end(body))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server }
}

describe('rpc/client', () => {
  let t: TestServer

  beforeEach(async () => {
    t = await startTestServer()
  })

  afterEach(async () => {
    await t.stop()
  })

  it('returns typed results', async () => {
    const client = new RpcClient(t.url)
    const status = await client.call('status')
    expect(status.sync_info.latest_block_height).to.equal(0)
    const tx = makeTx(signer, 0)
    const pending = client.call('broadcast_tx_commit', { tx: tx.hex, timeout_ms: 5000 })
    await waitFor(() => t.server.stats().txWaits === 1, { timeoutMs: 5000, message: 'the wait' })
    const block = t.backend.commit()
    expect(await pending).to.deep.equal({ hash: tx.hash, height: 1, index: 0, block_hash: block.hash })
    expect((await client.call('query', { key: 'k0' })).value).to.equal('v')
  })

  it('throws RpcClientError with the JSON-RPC code and a one-line message', async () => {
    const client = new RpcClient(t.url)
    const err = await rejection(client.call('tx', { hash: `0x${'ab'.repeat(32)}` }))
    expect(err.kind).to.equal('rpc')
    expect(err.code).to.equal(RpcErrorCode.NOT_FOUND)
    expect(err.message).to.match(/^tx: tx not found: 0x(ab)+ \(code -32008\)$/)
    const unknown = await rejection(client.callRaw('nope'))
    expect(unknown.code).to.equal(-32601)
  })

  it('says "connection refused" when nothing listens', async () => {
    const { port } = t.server.address()
    await t.stop()
    const err = await rejection(new RpcClient(`http://127.0.0.1:${port}/`).call('status'))
    expect(err.kind).to.equal('transport')
    expect(err.message).to.equal(
      `cannot connect to http://127.0.0.1:${port}/: connection refused (is the node running?)`,
    )
    expect(err.message).to.not.contain('\n')
    t = await startTestServer()
  })

  it('reports timeouts, HTTP errors and non-JSON-RPC answers', async () => {
    const slow = createServer(() => {})
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve))
    const bad = await fixedServer(502, 'bad gateway')
    const notRpc = await fixedServer(200, '{"hello": 1}')
    try {
      const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/`
      const timeout = await rejection(new RpcClient(slowUrl).call('status', undefined, { timeoutMs: 100 }))
      expect(timeout).to.include({ kind: 'timeout', message: `no answer from ${slowUrl}: timed out` })
      const http = await rejection(new RpcClient(bad.url).call('status'))
      expect(http).to.include({ kind: 'http', message: `${bad.url} answered HTTP 502` })
      const protocol = await rejection(new RpcClient(notRpc.url).call('status'))
      expect(protocol.kind).to.equal('protocol')
    } finally {
      slow.closeAllConnections()
      await Promise.all([slow, bad.server, notRpc.server].map((s) => new Promise((r) => s.close(r))))
    }
  })

  it('refuses an invalid URL', () => {
    expect(() => new RpcClient('not a url')).to.throw(RpcClientError, 'invalid RPC URL')
    // `localhost:26657` parses as a URL of scheme "localhost:"; only http(s) is a node's RPC.
    expect(() => new RpcClient('localhost:26657')).to.throw(RpcClientError, 'invalid RPC URL')
    expect(() => new RpcClient('https://node.example:443/')).not.to.throw()
  })
})
