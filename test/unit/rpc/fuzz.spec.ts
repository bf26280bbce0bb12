import { expect } from 'chai'
import fc from 'fast-check'
import { RpcErrorCode } from '../../../src/rpc/errors.js'
import { call, post, startTestServer, type TestServer } from './helpers.js'

const METHODS = [
  'broadcast_tx_async',
  'broadcast_tx_sync',
  'broadcast_tx_commit',
  'status',
  'block',
  'blockchain',
  'tx',
  'account',
  'query',
  'unconfirmed_txs',
  'num_unconfirmed_txs',
  'net_info',
  'validators',
  'evidence',
  'subscribe',
  'no_such_method',
]
const KNOWN_CODES = new Set<number>(Object.values(RpcErrorCode))

describe('rpc/server under arbitrary input', () => {
  let t: TestServer

  before(async () => {
    t = await startTestServer({ maxCommitTimeoutMs: 50 })
  })

  after(async () => {
    await t.stop()
  })

  it('answers every request with a well-formed result or a known error code, and keeps serving', async function () {
    this.timeout(60_000)
    const params = fc.oneof(
      fc.constant(undefined),
      fc.jsonValue(),
      fc.dictionary(
        fc.constantFrom(
          'tx',
          'hash',
          'height',
          'min_height',
          'max_height',
          'key',
          'address',
          'limit',
          'timeout_ms',
          'validator',
          'x',
        ),
        fc.oneof(
          fc.jsonValue(),
          fc.stringMatching(/^(0x)?[0-9a-f]{0,80}$/),
          fc.integer(),
          fc.constant(`0x${'ab'.repeat(32)}`),
        ),
      ),
    )
    const request = fc.record({
      jsonrpc: fc.constantFrom('2.0', '1.0'),
      id: fc.integer(),
      method: fc.constantFrom(...METHODS),
      params,
    })
    const body = fc.oneof(
      request.map((r) => JSON.stringify(r)),
      fc.array(request, { minLength: 1, maxLength: 5 }).map((rs) => JSON.stringify(rs)),
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
    )
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const res = await post(t.url, text)
        expect([200, 204]).to.include(res.status)
        if (res.status === 204) return
        const responses = Array.isArray(res.json) ? res.json : [res.json]
        for (const r of responses) {
          expect(r.jsonrpc).to.equal('2.0')
          if (r.error !== undefined) {
            expect(KNOWN_CODES.has(r.error.code), JSON.stringify(r.error)).to.equal(true)
            expect(r.error.code).to.not.equal(RpcErrorCode.INTERNAL_ERROR)
          } else {
            expect(r).to.have.property('result')
          }
        }
      }),
      { numRuns: 300, seed: 42 },
    )
    expect((await call(t.url, 'status')).result).to.have.property('sync_info')
  })

  it('answers every GET route and query string with a result or a known error code', async function () {
    this.timeout(60_000)
    const name = fc.constantFrom('height', 'hash', 'key', 'tx', 'limit', 'validator', 'min_height', 'x')
    const value = fc.oneof(
      fc.string(),
      fc.integer().map(String),
      fc.integer().map((n) => `"${n}"`),
      fc.stringMatching(/^(0x)?[0-9a-f]{0,70}$/),
      fc.string().map((v) => JSON.stringify(v)),
    )
    const pair = fc.tuple(name, value).map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    const query = fc.oneof(
      fc.array(pair, { maxLength: 4 }).map((ps) => ps.join('&')),
      // raw text, percent signs and all: whatever reaches the server must be answered
      fc.string().map((s) => s.replace(/[#\s]/g, '')),
    )
    const route = fc.constantFrom(...METHODS)
    await fc.assert(
      fc.asyncProperty(route, query, async (method, q) => {
        const res = await fetch(new URL(`/${method}?${q}`, t.url))
        const json = (await res.json()) as { jsonrpc: string; id: number; error?: { code: number } }
        const expected = method === 'subscribe' || method === 'no_such_method' ? 404 : 200
        expect(res.status, `${method}?${q}`).to.equal(expected)
        expect(json).to.include({ jsonrpc: '2.0', id: -1 })
        if (json.error !== undefined) {
          expect(KNOWN_CODES.has(json.error.code), JSON.stringify(json.error)).to.equal(true)
          expect(json.error.code).to.not.equal(RpcErrorCode.INTERNAL_ERROR)
        } else {
          expect(json).to.have.property('result')
        }
      }),
      { numRuns: 300, seed: 42 },
    )
  })
})
