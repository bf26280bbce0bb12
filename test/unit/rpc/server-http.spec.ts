import { request as httpRequest } from 'node:http'
import { expect } from 'chai'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { toHex } from '../../../src/crypto/hash.js'
import { RpcError, RpcErrorCode } from '../../../src/rpc/errors.js'
import { CHAIN_ID, makeTx } from './fake-backend.js'
import { call, post, startTestServer, type TestServer } from './helpers.js'

const signer = new Ed25519Signer(new Uint8Array(32).fill(7))
const address = toHex(signer.publicKey)

describe('rpc/server over HTTP', () => {
  let t: TestServer

  beforeEach(async () => {
    t = await startTestServer()
  })

  afterEach(async () => {
    // Whatever the test sent, the server still serves.
    const res = await call(t.url, 'status')
    expect(res.result.node_info.chain_id).to.equal(CHAIN_ID)
    await t.stop()
  })

  describe('methods', () => {
    it('broadcast_tx_sync admits a tx and returns its hash; resubmitting returns its status', async () => {
      const tx = makeTx(signer, 0)
      const res = await call(t.url, 'broadcast_tx_sync', { tx: tx.hex })
      expect(res).to.deep.equal({ jsonrpc: '2.0', id: res.id, result: { hash: tx.hash, status: 'pending' } })
      expect(t.backend.mempool).to.deep.equal([tx.hash])
      const again = await call(t.url, 'broadcast_tx_sync', { tx: tx.hex })
      expect(again.result).to.deep.equal({ hash: tx.hash, status: 'pending' })
      t.backend.commit()
      const final = await call(t.url, 'broadcast_tx_sync', { tx: tx.hex.toUpperCase().replace('0X', '0x') })
      expect(final.result).to.deep.equal({ hash: tx.hash, status: 'final' })
    })

    it('broadcast_tx_async returns the hash at once and hides admission errors', async () => {
      const tx = makeTx(signer, 0)
      const res = await call(t.url, 'broadcast_tx_async', { tx: tx.hex })
      expect(res.result).to.deep.equal({ hash: tx.hash })
      const bad = makeTx(signer, 1, 'k', 'v', 'other-chain')
      const rejected = await call(t.url, 'broadcast_tx_async', { tx: bad.hex })
      expect(rejected.result).to.deep.equal({ hash: bad.hash })
      expect(rejected.error).to.equal(undefined)
    })

    it('broadcast_tx_sync maps admission rejections to their stable codes', async () => {
      const wrongChain = makeTx(signer, 0, 'k', 'v', 'other-chain')
      expect((await call(t.url, 'broadcast_tx_sync', { tx: wrongChain.hex })).error.code).to.equal(
        RpcErrorCode.TX_WRONG_CHAIN,
      )
      const tx = makeTx(signer, 0)
      const forged = new Uint8Array(tx.bytes)
      forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1
      const res = await call(t.url, 'broadcast_tx_sync', { tx: toHex(forged) })
      expect(res.error.code).to.equal(RpcErrorCode.TX_INVALID_SIGNATURE)
      await call(t.url, 'broadcast_tx_sync', { tx: tx.hex })
      t.backend.commit()
      const replay = makeTx(signer, 0, 'other-key')
      expect((await call(t.url, 'broadcast_tx_sync', { tx: replay.hex })).error).to.deep.include({
        code: RpcErrorCode.TX_NONCE_USED,
      })
    })

    it('status, net_info, validators, num_unconfirmed_txs return the docs/RPC.md shapes', async () => {
      const status = (await call(t.url, 'status')).result
      expect(status).to.have.all.keys('node_info', 'sync_info', 'consensus', 'mempool', 'n_peers')
      expect(status.sync_info).to.have.all.keys(
        'latest_block_height',
        'latest_block_hash',
        'latest_app_hash',
        'latest_block_time',
        'catching_up',
      )
      expect(status.sync_info.latest_block_height).to.equal(0)
      const netInfo = (await call(t.url, 'net_info')).result
      expect(netInfo.peers[0]).to.have.all.keys('peer_id', 'addrs', 'direction')
      expect(netInfo.gossip_received.prepare).to.have.all.keys(
        'messages',
        'bytes',
        'duplicates',
        'duplicate_bytes',
      )
      const validators = (await call(t.url, 'validators')).result
      expect(validators).to.have.all.keys('validators', 'view', 'primary')
      expect(validators.validators[0]).to.have.all.keys('index', 'peer_id', 'public_key')
      expect((await call(t.url, 'num_unconfirmed_txs')).result).to.deep.equal({
        n_txs: 0,
        total: 0,
        total_bytes: 0,
      })
      expect((await call(t.url, 'num_unconfirmed_txs', { limit: 5 })).result.n_txs).to.equal(0)
    })

    it('block by latest / height / hash, and not found', async () => {
      const tx = makeTx(signer, 0)
      await call(t.url, 'broadcast_tx_sync', { tx: tx.hex })
      const made = t.backend.commit()
      const latest = (await call(t.url, 'block')).result
      expect(latest).to.deep.equal(made)
      expect(latest).to.have.all.keys('hash', 'header', 'txs', 'commit')
      expect(latest.txs).to.deep.equal([tx.hex])
      expect(latest.header.height).to.equal(1)
      expect((await call(t.url, 'block', {})).result.hash).to.equal(made.hash)
      expect((await call(t.url, 'block', { height: 0 })).result.commit).to.equal(null)
      expect((await call(t.url, 'block', { hash: made.hash.toUpperCase().slice(2) })).result.hash).to.equal(
        made.hash,
      )
      const missing = await call(t.url, 'block', { height: 99 })
      expect(missing.error.code).to.equal(RpcErrorCode.NOT_FOUND)
      expect(missing.error.message).to.contain('height 99')
      expect((await call(t.url, 'block', { height: 1, hash: made.hash })).error.code).to.equal(
        RpcErrorCode.INVALID_PARAMS,
      )
    })

    it('blockchain returns at most 100 headers, ascending, paging from min_height', async () => {
      for (let i = 0; i < 150; i++) t.backend.commit()
      const wide = (await call(t.url, 'blockchain', { min_height: 1, max_height: 500 })).result
      expect(wide.last_height).to.equal(150)
      expect(wide.block_metas).to.have.length(100)
      expect(wide.block_metas[0].header.height).to.equal(1)
      expect(wide.block_metas[99].header.height).to.equal(100)
      expect(wide.block_metas[0]).to.have.all.keys('hash', 'header', 'num_txs')
      const tail = (await call(t.url, 'blockchain', { min_height: 140, max_height: 500 })).result
      expect(tail.block_metas.map((m: { header: { height: number } }) => m.header.height)).to.deep.equal(
        Array.from({ length: 11 }, (_, i) => 140 + i),
      )
      const latest = (await call(t.url, 'blockchain')).result
      expect(latest.block_metas).to.have.length(100)
      expect(latest.block_metas[99].header.height).to.equal(150)
      const upTo = (await call(t.url, 'blockchain', { max_height: 10 })).result
      expect(upTo.block_metas).to.have.length(11)
      const reversed = await call(t.url, 'blockchain', { min_height: 5, max_height: 4 })
      expect(reversed.error.code).to.equal(RpcErrorCode.INVALID_PARAMS)
    })

    it('tx: pending, final, dropped, not found', async () => {
      const tx = makeTx(signer, 0)
      await call(t.url, 'broadcast_tx_sync', { tx: tx.hex })
      const pending = (await call(t.url, 'tx', { hash: tx.hash })).result
      expect(pending).to.deep.equal({
        hash: tx.hash,
        status: 'pending',
        height: null,
        index: null,
        block_hash: null,
        tx: tx.hex,
      })
      const block = t.backend.commit()
      const final = (await call(t.url, 'tx', { hash: tx.hash })).result
      expect(final).to.include({ status: 'final', height: 1, index: 0, block_hash: block.hash })
      const other = makeTx(signer, 1)
      await call(t.url, 'broadcast_tx_sync', { tx: other.hex })
      t.backend.drop(other.hash, 'ttl expired')
      expect((await call(t.url, 'tx', { hash: other.hash })).result).to.include({
        status: 'dropped',
        reason: 'ttl expired',
      })
      const missing = await call(t.url, 'tx', { hash: `0x${'ab'.repeat(32)}` })
      expect(missing.error.code).to.equal(RpcErrorCode.NOT_FOUND)
      expect((await call(t.url, 'tx', { hash: '0x1234' })).error.code).to.equal(RpcErrorCode.INVALID_PARAMS)
    })

    it('account and query', async () => {
      expect((await call(t.url, 'account', { address })).result).to.deep.equal({
        address,
        nonce: 0,
        pending_nonce: 0,
      })
      const tx = makeTx(signer, 0, 'color', 'blue')
      await call(t.url, 'broadcast_tx_sync', { tx: tx.hex })
      expect((await call(t.url, 'account', { address })).result).to.deep.equal({
        address,
        nonce: 0,
        pending_nonce: 1,
      })
      expect((await call(t.url, 'query', { key: 'color' })).result).to.deep.equal({
        key: 'color',
        value: null,
        height: 0,
      })
      t.backend.commit()
      expect((await call(t.url, 'query', { key: 'color' })).result).to.deep.equal({
        key: 'color',
        value: 'blue',
        height: 1,
      })
      expect(
        (await call(t.url, 'account', { address: address.toUpperCase().replace('0X', '') })).result.nonce,
      ).to.equal(1)
      expect((await call(t.url, 'account', { address: '0xzz' })).error.code).to.equal(
        RpcErrorCode.INVALID_PARAMS,
      )
      expect((await call(t.url, 'query', { key: 'x'.repeat(300) })).error.code).to.equal(
        RpcErrorCode.INVALID_PARAMS,
      )
    })

    it('unconfirmed_txs honours limit (default 30, at most 100)', async () => {
      for (let n = 0; n < 40; n++) await call(t.url, 'broadcast_tx_sync', { tx: makeTx(signer, n).hex })
      const def = (await call(t.url, 'unconfirmed_txs')).result
      expect(def).to.include({ n_txs: 30, total: 40 })
      expect(def.txs).to.have.length(30)
      expect((await call(t.url, 'unconfirmed_txs', { limit: 2 })).result.txs).to.have.length(2)
      expect((await call(t.url, 'unconfirmed_txs', { limit: 1000 })).result.n_txs).to.equal(40)
      expect((await call(t.url, 'unconfirmed_txs', { limit: 0 })).error.code).to.equal(
        RpcErrorCode.INVALID_PARAMS,
      )
    })

    it('subscribe is WebSocket-only', async () => {
      const res = await call(t.url, 'subscribe', { event: 'NewBlock' })
      expect(res.error.code).to.equal(RpcErrorCode.METHOD_NOT_FOUND)
      expect(res.error.message).to.contain('/websocket')
    })
  })

  describe('bad requests', () => {
    it('invalid JSON is -32700 with id null', async () => {
      const res = await post(t.url, '{"jsonrpc": "2.0", "method": "status", "id": 1')
      expect(res.status).to.equal(200)
      expect(res.json).to.deep.equal({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32700, message: 'parse error: invalid JSON' },
      })
    })

    it('a request that is not JSON-RPC 2.0 is -32600', async () => {
      for (const body of [
        { jsonrpc: '1.0', id: 1, method: 'status' },
        { id: 1, method: 'status' },
        { jsonrpc: '2.0', id: 1, method: 5 },
        { jsonrpc: '2.0', id: { x: 1 }, method: 'status' },
        'null',
        '42',
        '"status"',
      ]) {
        const res = await post(t.url, body)
        expect(res.json.error.code, JSON.stringify(body)).to.equal(-32600)
      }
      const res = await post(t.url, { jsonrpc: '1.0', id: 7, method: 'status' })
      expect(res.json.id).to.equal(7)
    })

    it('an unknown method is -32601', async () => {
      const res = await call(t.url, 'no_such_method')
      expect(res.error).to.deep.equal({ code: -32601, message: 'method not found: no_such_method' })
    })

    it('wrong params are -32602 with a message naming the field', async () => {
      const missing = await call(t.url, 'tx', {})
      expect(missing.error.code).to.equal(-32602)
      expect(missing.error.message).to.contain('hash')
      const unknown = await call(t.url, 'block', { heigth: 3 })
      expect(unknown.error.code).to.equal(-32602)
      expect(unknown.error.message).to.contain('heigth')
      expect((await call(t.url, 'block', { height: -1 })).error.code).to.equal(-32602)
      expect((await call(t.url, 'block', { height: 1.5 })).error.code).to.equal(-32602)
      expect((await call(t.url, 'block', { height: '3' })).error.code).to.equal(-32602)
      const positional = await call(t.url, 'tx', [`0x${'00'.repeat(32)}`])
      expect(positional.error.code).to.equal(-32602)
      expect(positional.error.message).to.contain('named object')
      expect((await call(t.url, 'status', { verbose: true })).error.code).to.equal(-32602)
      expect((await call(t.url, 'status', 'x')).error.code).to.equal(-32602)
      expect((await call(t.url, 'status', [])).result).to.have.property('node_info')
    })

    it('a tx that is not hex or does not decode is -32602; one above the size limit is TX_TOO_LARGE', async () => {
      for (const tx of ['0xzz', '0x123', '0x', '0x0102030405', 'hello']) {
        const res = await call(t.url, 'broadcast_tx_sync', { tx })
        expect(res.error.code, tx).to.equal(-32602)
      }
      const truncated = makeTx(signer, 0).hex.slice(0, -4)
      const res = await call(t.url, 'broadcast_tx_commit', { tx: truncated })
      expect(res.error.code).to.equal(-32602)
      expect(res.error.message).to.contain('does not decode')
      const async = await call(t.url, 'broadcast_tx_async', { tx: truncated })
      expect(async.error.code).to.equal(-32602)
      const huge = await call(t.url, 'broadcast_tx_sync', { tx: `0x${'00'.repeat(9000)}` })
      expect(huge.error.code).to.equal(RpcErrorCode.TX_TOO_LARGE)
      expect(t.backend.broadcastCalls).to.equal(0)
    })

    it('an oversized body is HTTP 413 with a -32600 body (declared length)', async () => {
      const res = await post(
        t.url,
        JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'status', pad: 'x'.repeat(2 << 20) }),
      )
      expect(res.status).to.equal(413)
      expect(res.json.error.code).to.equal(-32600)
    })

    it('an oversized chunked body is HTTP 413 with a -32600 body', async () => {
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          t.url,
          { method: 'POST', headers: { 'transfer-encoding': 'chunked' } },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
            )
          },
        )
        req.on('error', reject)
        const chunk = 'x'.repeat(64 * 1024)
        let sent = 0
        // Keep writing until the server answers; it must not wait for the end of an endless body.
        const pump = (): void => {
          while (sent < 4 << 20 && !req.destroyed) {
            sent += chunk.length
            if (!req.write(chunk)) {
              req.once('drain', pump)
              return
            }
          }
          req.end()
        }
        pump()
      })
      expect(status).to.equal(413)
      expect(JSON.parse(body).error.code).to.equal(-32600)
    })

    it('a batch above the limit is -32600; an empty batch too', async () => {
      const batch = Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'status' }))
      const res = await post(t.url, batch)
      expect(res.json.error.code).to.equal(-32600)
      expect(res.json.error.message).to.contain('101')
      expect((await post(t.url, [])).json.error.code).to.equal(-32600)
      const full = await post(t.url, batch.slice(0, 100))
      expect(full.json).to.have.length(100)
    })

    it('a mixed batch answers each request by id and skips notifications', async () => {
      const res = await post(t.url, [
        { jsonrpc: '2.0', id: 'a', method: 'status' },
        { jsonrpc: '2.0', method: 'status' },
        { jsonrpc: '2.0', id: 2, method: 'nope' },
        { jsonrpc: '2.0', id: 3, method: 'tx', params: { hash: 1 } },
        1,
        { jsonrpc: '2.0', id: null, method: 'num_unconfirmed_txs' },
      ])
      expect(res.status).to.equal(200)
      const byId = new Map(res.json.map((r: { id: unknown }) => [r.id, r]))
      expect(res.json).to.have.length(5)
      expect(byId.get('a')).to.have.nested.property('result.node_info')
      expect(byId.get(2)).to.have.nested.property('error.code', -32601)
      expect(byId.get(3)).to.have.nested.property('error.code', -32602)
      const nullIds = res.json.filter((r: { id: unknown }) => r.id === null)
      expect(nullIds.map((r: { error?: { code: number } }) => r.error?.code ?? 'ok')).to.have.members([
        -32600,
        'ok',
      ])
    })

    it('notifications get no response: HTTP 204, single or all-notification batch', async () => {
      const tx = makeTx(signer, 0)
      const single = await post(t.url, {
        jsonrpc: '2.0',
        method: 'broadcast_tx_sync',
        params: { tx: tx.hex },
      })
      expect(single.status).to.equal(204)
      expect(single.text).to.equal('')
      expect(t.backend.mempool).to.deep.equal([tx.hash])
      const batch = await post(t.url, [
        { jsonrpc: '2.0', method: 'status' },
        { jsonrpc: '2.0', method: 'nope' },
      ])
      expect(batch.status).to.equal(204)
    })

    it('an RpcError from the backend keeps its code, message and data', async () => {
      t.backend.failNext = new RpcError(RpcErrorCode.MEMPOOL_FULL, 'mempool is full (5000 txs)', {
        size: 5000,
      })
      const res = await call(t.url, 'broadcast_tx_sync', { tx: makeTx(signer, 0).hex })
      expect(res.error).to.deep.equal({
        code: -32005,
        message: 'mempool is full (5000 txs)',
        data: { size: 5000 },
      })
    })

    it('any other backend error is -32603 without a stack trace', async () => {
      t.backend.failNext = new Error('disk on fire at /secret/path')
      const res = await post(t.url, { jsonrpc: '2.0', id: 1, method: 'status' })
      expect(res.json.error).to.deep.equal({ code: -32603, message: 'internal error' })
      expect(res.text).to.not.contain('secret')
      expect(res.text).to.not.contain('    at ')
    })

    // GET / used to be 405 for everyone. A browser (Accept: text/html) is now sent to the explorer
    // (the route list moved to /routes, server-uri.spec.ts); every other client — curl, JSON
    // clients — still gets the 405 that tells it to POST, and an unknown path is a -32601 body
    // since GET /<method> routes exist.
    it('GET /health; 404 with -32601 elsewhere; 405 for GET / unless a browser asks', async () => {
      const ok = await fetch(new URL('/health', t.url))
      expect(ok.status).to.equal(200)
      expect(await ok.json()).to.deep.equal({ status: 'ok', catching_up: false })
      t.backend.catchingUp = true
      expect(await (await fetch(new URL('/health', t.url))).json()).to.deep.equal({
        status: 'ok',
        catching_up: true,
      })
      const nope = await fetch(new URL('/nope', t.url))
      expect(nope.status).to.equal(404)
      expect(((await nope.json()) as { error: { code: number } }).error.code).to.equal(-32601)
      for (const accept of [undefined, '*/*', 'application/json']) {
        const get = await fetch(t.url, { headers: accept === undefined ? {} : { accept } })
        expect(get.status, String(accept)).to.equal(405)
        expect(get.headers.get('allow')).to.equal('POST')
        expect(((await get.json()) as { error: { code: number } }).error.code).to.equal(-32600)
      }
      const browser = await fetch(t.url, { headers: { accept: 'text/html' }, redirect: 'manual' })
      expect(browser.status).to.equal(302)
      expect(browser.headers.get('location')).to.equal('/explorer/')
      await browser.text()
    })
  })
})
