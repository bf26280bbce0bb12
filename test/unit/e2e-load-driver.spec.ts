import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { expect } from 'chai'
import { LoadDriver } from '../e2e/load-driver.js'
import { waitFor } from '../helpers/wait.js'

/**
 * The load driver must never send two byte-identical txs: the history checker finds each request's
 * tx in the chain by hash, so a refused `del` re-sent with the same (client, nonce, key) and accepted
 * by another node would read as "rejected but final". A fake node refuses every tx (so the client
 * re-reads nonce 0 each time) and every op wants to delete the one key.
 */
describe('e2e load driver', () => {
  let server: Server
  let url: string
  const sent: string[] = []

  before(async () => {
    server = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        const call = JSON.parse(body) as { id: number; method: string; params: { tx?: string } }
        if (call.method !== 'account') sent.push(call.params.tx ?? '')
        const answer =
          call.method === 'account'
            ? { result: { nonce: 0, pending_nonce: 0 } }
            : { error: { code: -32003, message: 'nonce 0 is taken' } }
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ jsonrpc: '2.0', id: call.id, ...answer }))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  })

  after(async () => {
    await new Promise<void>((r) => server.close(() => r()))
  })

  it('sends a del that would repeat an earlier tx as a set: every request carries its own tx', async () => {
    const driver = new LoadDriver({
      chainId: 'driver-chain',
      rpcUrls: () => [url],
      clients: 1,
      ratePerSec: 500,
      delFraction: 1,
      keySpace: 1,
      maxOps: 12,
      seed: 7,
    })
    driver.start()
    await waitFor(() => driver.ops.length >= 12, { timeoutMs: 10_000, message: '12 requests answered' })
    const history = (await driver.stop()).ops
    expect(history.length).to.equal(12)
    expect(history.every((o) => o.outcome === 'failed' && o.nonce === 0)).to.equal(true)
    expect(new Set(history.map((o) => o.hash)).size).to.equal(12)
    expect(new Set(sent).size).to.equal(12)
    expect(history[0]?.op).to.equal('del')
    expect(history.slice(1).every((o) => o.op === 'set' && o.value.length > 0)).to.equal(true)
  })
})
