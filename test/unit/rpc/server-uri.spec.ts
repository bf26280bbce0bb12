import { expect } from 'chai'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { toHex } from '../../../src/crypto/hash.js'
import { RpcErrorCode } from '../../../src/rpc/errors.js'
import { waitFor } from '../../helpers/wait.js'
import { makeTx } from './fake-backend.js'
import { call, get, post, startTestServer, type TestServer } from './helpers.js'

const signer = new Ed25519Signer(new Uint8Array(32).fill(9))
const address = toHex(signer.publicKey)

/** Every method with a GET route: all but the WebSocket-only subscription methods. */
const ROUTES = [
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
]

describe('rpc/server GET routes', () => {
  let t: TestServer

  beforeEach(async () => {
    t = await startTestServer({ maxCommitTimeoutMs: 5_000 })
  })

  afterEach(async () => {
    await t.stop()
  })

  /** GET the route; it must be HTTP 200 with a JSON-RPC response of id -1. Returns the response. */
  // biome-ignore lint/suspicious/noExplicitAny: response JSON
  async function uri(path: string): Promise<any> {
    const res = await get(t.url, path)
    expect(res.status, `${path}: ${res.text}`).to.equal(200)
    expect(res.headers.get('content-type')).to.equal('application/json; charset=utf-8')
    expect(res.json).to.include({ jsonrpc: '2.0', id: -1 })
    return res.json
  }

  /** The error of a GET route that must fail with -32602. */
  async function invalid(path: string): Promise<string> {
    const res = await uri(path)
    expect(res.error?.code, `${path}: ${JSON.stringify(res)}`).to.equal(RpcErrorCode.INVALID_PARAMS)
    return res.error.message
  }

  describe('each method answers as over POST', () => {
    it('status, net_info, validators, num_unconfirmed_txs, unconfirmed_txs', async () => {
      for (const name of ['status', 'net_info', 'validators', 'num_unconfirmed_txs', 'unconfirmed_txs']) {
        expect((await uri(`/${name}`)).result, name).to.deep.equal((await call(t.url, name)).result)
      }
    })

    it('block: latest, by height plain or quoted, by hash plain or quoted', async () => {
      const one = t.backend.commit()
      t.backend.commit()
      expect((await uri('/block')).result.header.height).to.equal(2)
      expect((await uri('/block?height=1')).result).to.deep.equal(one)
      expect((await uri('/block?height="1"')).result).to.deep.equal(one)
      expect((await uri('/block?height=%221%22')).result).to.deep.equal(one)
      expect((await uri(`/block?hash=${one.hash}`)).result).to.deep.equal(one)
      expect((await uri(`/block?hash="${one.hash.toUpperCase().replace('0X', '0x')}"`)).result).to.deep.equal(
        one,
      )
      const missing = await uri('/block?height=9')
      expect(missing.error.code).to.equal(RpcErrorCode.NOT_FOUND)
    })

    it('blockchain with min_height and max_height', async () => {
      for (let i = 0; i < 12; i++) t.backend.commit()
      const res = (await uri('/blockchain?min_height=1&max_height=10')).result
      expect(res.last_height).to.equal(12)
      expect(res.block_metas.map((m: { header: { height: number } }) => m.header.height)).to.deep.equal([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
      ])
      const same = await call(t.url, 'blockchain', { min_height: 1, max_height: 10 })
      expect(res).to.deep.equal(same.result)
    })

    it('broadcast_tx_sync, _async, _commit, then tx and account', async () => {
      const a = makeTx(signer, 0, 'a')
      expect((await uri(`/broadcast_tx_sync?tx=${a.hex}`)).result).to.deep.equal({
        hash: a.hash,
        status: 'pending',
      })
      const b = makeTx(signer, 1, 'b')
      expect((await uri(`/broadcast_tx_async?tx="${b.hex}"`)).result).to.deep.equal({ hash: b.hash })
      await waitFor(() => t.backend.mempool.length === 2, { timeoutMs: 5000, message: 'b admitted' })
      const c = makeTx(signer, 2, 'c')
      const commit = uri(`/broadcast_tx_commit?tx=${c.hex}&timeout_ms=5000`)
      await waitFor(() => t.server.stats().txWaits === 1, { timeoutMs: 5000, message: 'the wait' })
      const block = t.backend.commit()
      expect((await commit).result).to.deep.equal({
        hash: c.hash,
        height: 1,
        index: 2,
        block_hash: block.hash,
      })
      expect((await uri(`/tx?hash=${a.hash}`)).result).to.deep.include({ status: 'final', height: 1 })
      expect((await uri(`/account?address=${address}`)).result).to.deep.equal({
        address,
        nonce: 3,
        pending_nonce: 3,
      })
    })

    it('query: the key is a string, plain, quoted, percent- or plus-encoded', async () => {
      t.backend.kv.set('greeting', 'hello')
      expect((await uri('/query?key=greeting')).result).to.include({ key: 'greeting', value: 'hello' })
      expect((await uri('/query?key="greeting"')).result).to.include({ key: 'greeting', value: 'hello' })
      // a string param stays a string even when it looks like a number
      expect((await uri('/query?key=5')).result.key).to.equal('5')
      expect((await uri('/query?key="5"')).result.key).to.equal('5')
      expect((await uri('/query?key=hello+w%C3%B6rld%26co')).result.key).to.equal('hello wörld&co')
      expect((await uri('/query?key="a%5C"b"')).result.key).to.equal('a"b')
      expect((await uri('/query?key=""')).result.key).to.equal('')
    })

    it('evidence: limit, and validator as an index or a peer id', async () => {
      expect((await uri('/evidence?limit=5')).result).to.deep.equal({ total: 0, evidence: [] })
      expect(t.backend.lastEvidenceQuery).to.deep.equal({ limit: 5, validator: undefined })
      await uri('/evidence?validator=0')
      expect(t.backend.lastEvidenceQuery).to.deep.equal({ limit: 30, validator: 0 })
      await uri('/evidence?validator="12D3KooWTest"')
      expect(t.backend.lastEvidenceQuery).to.deep.equal({ limit: 30, validator: '12D3KooWTest' })
    })

    it('GET / from a browser goes to the explorer; GET /routes lists every route, nothing WebSocket-only', async () => {
      const home = await get(t.url, '/', { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } })
      expect(home.status).to.equal(302)
      expect(home.headers.get('location')).to.equal('/explorer/')
      expect(home.headers.get('vary')).to.equal('Accept')
      const res = await get(t.url, '/routes')
      expect(res.status).to.equal(200)
      expect(res.headers.get('content-type')).to.equal('text/html; charset=utf-8')
      expect(res.text).to.contain('<a href="/explorer/">')
      for (const name of ROUTES) expect(res.text).to.contain(`<a href="/${name}">/${name}</a>`)
      expect(res.text).to.contain('<a href="/block">/block</a>?height=_&amp;hash=_')
      expect(res.text).to.contain('<a href="/health">')
      expect(res.text).to.not.contain('subscribe')
    })
  })

  describe('errors', () => {
    it('a param that is not valid is -32602 naming it, as over POST', async () => {
      expect(await invalid('/block?height=abc')).to.match(/^invalid params: height: /)
      expect(await invalid('/block?height=-1')).to.match(/^invalid params: height: /)
      expect(await invalid('/block?height=1.5')).to.match(/^invalid params: height: /)
      expect(await invalid('/block?height=')).to.match(/^invalid params: height: /)
      expect(await invalid('/tx?hash=0x12')).to.match(/^invalid params: hash: must be 32 bytes/)
      expect(await invalid('/tx')).to.match(/^invalid params: hash: /)
      expect(await invalid('/broadcast_tx_sync?tx=zz')).to.match(/^invalid params: tx: /)
      expect(await invalid(`/block?height=1&hash=0x${'00'.repeat(32)}`)).to.contain('either height or hash')
      const post = await call(t.url, 'block', { height: 'abc' })
      expect((await uri('/block?height=abc')).error).to.deep.equal(post.error)
    })

    it('an unknown param is -32602 naming it', async () => {
      expect(await invalid('/block?heigth=3')).to.contain('heigth')
      expect(await invalid('/status?verbose=1')).to.contain('verbose')
      expect(await invalid('/status?__proto__=1')).to.contain('__proto__')
    })

    it('a malformed query string is -32602 with a clear message', async () => {
      expect(await invalid('/block?height=1&height=2')).to.equal(
        'invalid params: "height" given more than once',
      )
      expect(await invalid('/query?key=%zz')).to.contain('bad percent-encoding')
      expect(await invalid('/query?k%e=1')).to.contain('bad percent-encoding in name')
      expect(await invalid('/query?=5')).to.contain('a value without a name')
      expect(await invalid('/query?key="a\\q"')).to.contain('key: malformed quoted string')
    })

    it('an unknown route is 404 with a -32601 body; the subscription methods have no route', async () => {
      for (const path of ['/nope', '/subscribe', '/unsubscribe', '/unsubscribe_all', '/status/', '/Status']) {
        const res = await get(t.url, path)
        expect(res.status, path).to.equal(404)
        expect(res.json.error.code, path).to.equal(RpcErrorCode.METHOD_NOT_FOUND)
        expect(res.json.id, path).to.equal(-1)
      }
      const posted = await post(new URL('/nope', t.url).href, '{}')
      expect(posted.status).to.equal(404)
      expect(posted.json).to.deep.include({ id: null })
      expect(posted.json.error.code).to.equal(RpcErrorCode.METHOD_NOT_FOUND)
    })

    it('a route called with POST is 405 naming GET', async () => {
      const res = await post(new URL('/status', t.url).href, '{}')
      expect(res.status).to.equal(405)
      expect(res.json.error.code).to.equal(RpcErrorCode.INVALID_REQUEST)
    })
  })

  it('HEAD is GET without the body', async () => {
    const got = await get(t.url, '/status')
    const head = await get(t.url, '/status', { method: 'HEAD' })
    expect(head.status).to.equal(200)
    expect(head.text).to.equal('')
    expect(head.headers.get('content-length')).to.equal(got.headers.get('content-length'))
    expect((await get(t.url, '/nope', { method: 'HEAD' })).status).to.equal(404)
    const page = await get(t.url, '/routes', { method: 'HEAD' })
    expect(page.status).to.equal(200)
    expect(page.text).to.equal('')
    const home = await get(t.url, '/', { method: 'HEAD', headers: { accept: 'text/html' } })
    expect(home.status).to.equal(302)
    expect(home.text).to.equal('')
  })

  it('a waiting GET broadcast_tx_commit is answered UNAVAILABLE when the server stops', async () => {
    const c = makeTx(signer, 0)
    const waiting = uri(`/broadcast_tx_commit?tx=${c.hex}`)
    await waitFor(() => t.server.stats().txWaits === 1, { timeoutMs: 5000, message: 'the wait' })
    await t.stop()
    expect((await waiting).error.code).to.equal(RpcErrorCode.UNAVAILABLE)
    t = await startTestServer()
  })
})
