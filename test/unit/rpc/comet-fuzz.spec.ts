import { expect } from 'chai'
import fc from 'fast-check'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { peerIdOfPublicKey } from '../../../src/crypto/node-key.js'
import type { StatusResult } from '../../../src/rpc/types.js'
import { makeTx } from './fake-backend.js'
import { post, startTestServer, type TestServer } from './helpers.js'

/**
 * The CometBFT dialect (docs/RPC.md "CometBFT dialect") under arbitrary input: every request
 * under /comet is answered in CometBFT's error form or with a result, and no input reaches an
 * unexpected exception (which would answer the bare "internal error").
 */

const METHODS = [
  'health',
  'status',
  'net_info',
  'abci_info',
  'abci_query',
  'block',
  'block_by_hash',
  'blockchain',
  'block_results',
  'commit',
  'validators',
  'tx',
  'tx_search',
  'unconfirmed_txs',
  'num_unconfirmed_txs',
  'broadcast_tx_async',
  'broadcast_tx_sync',
  'broadcast_tx_commit',
  'subscribe',
  'no_such_method',
]
const MESSAGES: Record<number, string> = {
  [-32700]: 'Parse error. Invalid JSON',
  [-32600]: 'Invalid Request',
  [-32601]: 'Method not found',
  [-32602]: 'Invalid params',
  [-32603]: 'Internal error',
}
const PARAMS = [
  'height',
  'hash',
  'tx',
  'data',
  'path',
  'prove',
  'query',
  'page',
  'per_page',
  'minHeight',
  'limit',
  'x',
]

function checkAnswer(r: { jsonrpc: string; error?: { code: number; message: string; data: unknown } }): void {
  expect(r.jsonrpc).to.equal('2.0')
  if (r.error === undefined) {
    expect(r).to.have.property('result')
    return
  }
  expect(MESSAGES[r.error.code], JSON.stringify(r.error)).to.equal(r.error.message)
  expect(r.error.data).to.be.a('string').and.not.equal('internal error')
}

describe('rpc comet dialect under arbitrary input', () => {
  let t: TestServer
  let comet: string

  before(async () => {
    t = await startTestServer({ maxCommitTimeoutMs: 50, defaultCommitTimeoutMs: 50 })
    comet = `${t.url}comet`
    // the in-memory backend's peer id holds no key; status needs a real one
    const peerId = peerIdOfPublicKey(new Ed25519Signer(new Uint8Array(32).fill(5)).publicKey)
    const status = t.backend.status.bind(t.backend)
    ;(t.backend as { status: () => StatusResult }).status = () => {
      const s = status()
      return { ...s, node_info: { ...s.node_info, peer_id: peerId } }
    }
    const signer = new Ed25519Signer(new Uint8Array(32).fill(6))
    for (let i = 0; i < 3; i++) {
      await t.backend.broadcastTx(makeTx(signer, i).bytes)
      t.backend.commit()
    }
  })

  after(async () => {
    await t.stop()
  })

  it('answers every POST with a result or a CometBFT error, never an unexpected one', async function () {
    this.timeout(60_000)
    const value = fc.oneof(
      fc.jsonValue(),
      fc.integer().map(String),
      fc.base64String({ maxLength: 60 }),
      fc.stringMatching(/^[0-9A-F]{0,70}$/),
      fc.constantFrom("tm.event='Tx'", 'tx.height=1', "tx.hash='AB'", 'tx.height>', '/key', 'asc'),
    )
    const params = fc.oneof(
      fc.constant(undefined),
      fc.array(value, { maxLength: 3 }),
      fc.dictionary(fc.constantFrom(...PARAMS), value),
    )
    const request = fc.record({
      jsonrpc: fc.constantFrom('2.0', '1.0'),
      id: fc.integer(),
      method: fc.constantFrom(...METHODS),
      params,
    })
    const body = fc.oneof(
      request.map((r) => JSON.stringify(r)),
      fc.array(request, { minLength: 1, maxLength: 4 }).map((rs) => JSON.stringify(rs)),
      fc.string(),
    )
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const res = await post(comet, text)
        expect([200, 204]).to.include(res.status)
        if (res.status === 204) return
        for (const r of Array.isArray(res.json) ? res.json : [res.json]) checkAnswer(r)
      }),
      { numRuns: 300, seed: 7 },
    )
  })

  it('answers every GET route and query string, by CometBFT URI conventions', async function () {
    this.timeout(60_000)
    const value = fc.oneof(
      fc.string(),
      fc.integer().map(String),
      fc.integer().map((n) => `"${n}"`),
      fc.stringMatching(/^0x[0-9a-fA-F]{0,70}$/),
      fc.string().map((v) => JSON.stringify(v)),
      fc.constantFrom('"tx.height=1"', `"tm.event='Tx'"`, 'true', '"/key"', '0xff'),
    )
    const pair = fc.tuple(fc.constantFrom(...PARAMS), value).map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    const query = fc.oneof(
      fc.array(pair, { maxLength: 4 }).map((ps) => ps.join('&')),
      fc.string().map((s) => s.replace(/[#\s]/g, '')),
    )
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...METHODS), query, async (method, q) => {
        const res = await fetch(`${comet}/${method}?${q}`)
        const json = (await res.json()) as Parameters<typeof checkAnswer>[0] & { id: number }
        const expected = method === 'subscribe' || method === 'no_such_method' ? 404 : 200
        expect(res.status, `${method}?${q}`).to.equal(expected)
        expect(json.id).to.equal(-1)
        checkAnswer(json)
      }),
      { numRuns: 300, seed: 7 },
    )
  })
})
