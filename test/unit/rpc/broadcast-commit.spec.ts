import { expect } from 'chai'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { RpcErrorCode } from '../../../src/rpc/errors.js'
import { waitFor } from '../../helpers/wait.js'
import { makeTx } from './fake-backend.js'
import { call, startTestServer, type TestServer } from './helpers.js'

const signer = new Ed25519Signer(new Uint8Array(32).fill(9))

describe('rpc broadcast_tx_commit', () => {
  let t: TestServer

  beforeEach(async () => {
    t = await startTestServer({ maxCommitTimeoutMs: 2_000 })
  })

  afterEach(async () => {
    await t.stop()
  })

  it('resolves with the receipt when the Tx event fires', async () => {
    const tx = makeTx(signer, 0)
    const pending = call(t.url, 'broadcast_tx_commit', { tx: tx.hex })
    await waitFor(() => t.server.stats().txWaits === 1 && t.backend.mempool.length === 1, {
      timeoutMs: 5000,
      message: 'the wait',
    })
    const block = t.backend.commit()
    const res = await pending
    expect(res.result).to.deep.equal({ hash: tx.hash, height: 1, index: 0, block_hash: block.hash })
    expect(t.server.stats()).to.include({ txWaits: 0, txHashes: 0 })
  })

  it('times out with TIMEOUT (-32007) and forgets the wait', async () => {
    const tx = makeTx(signer, 0)
    const started = Date.now()
    const res = await call(t.url, 'broadcast_tx_commit', { tx: tx.hex, timeout_ms: 100 })
    expect(res.error.code).to.equal(RpcErrorCode.TIMEOUT)
    expect(res.error.data).to.deep.equal({ hash: tx.hash })
    expect(Date.now() - started).to.be.lessThan(1500)
    expect(t.server.stats()).to.include({ txWaits: 0, txHashes: 0 })
  })

  it('caps timeout_ms at the configured maximum', async () => {
    const res = await call(t.url, 'broadcast_tx_commit', {
      tx: makeTx(signer, 0).hex,
      timeout_ms: 10_000_000,
    })
    expect(res.error.code).to.equal(RpcErrorCode.TIMEOUT)
    expect(res.error.message).to.contain('2000 ms')
  })

  it('returns at once for a tx that is already final', async () => {
    const tx = makeTx(signer, 0)
    await call(t.url, 'broadcast_tx_sync', { tx: tx.hex })
    const block = t.backend.commit()
    const res = await call(t.url, 'broadcast_tx_commit', { tx: tx.hex, timeout_ms: 1000 })
    expect(res.result).to.deep.equal({ hash: tx.hash, height: 1, index: 0, block_hash: block.hash })
    expect(t.server.stats().txWaits).to.equal(0)
  })

  it('fails with TX_DROPPED (-32009) when the tx is dropped while waiting, or was dropped before', async () => {
    const tx = makeTx(signer, 0)
    const pending = call(t.url, 'broadcast_tx_commit', { tx: tx.hex })
    await waitFor(() => t.backend.mempool.length === 1, { timeoutMs: 5000, message: 'admission' })
    t.backend.drop(tx.hash, 'ttl expired')
    const res = await pending
    expect(res.error.code).to.equal(RpcErrorCode.TX_DROPPED)
    expect(res.error.message).to.contain('ttl expired')
    const again = await call(t.url, 'broadcast_tx_commit', { tx: tx.hex })
    expect(again.error).to.deep.include({ code: RpcErrorCode.TX_DROPPED })
    expect(again.error.data).to.deep.equal({ hash: tx.hash, reason: 'ttl expired' })
  })

  it('a rejected tx is an error at once and leaves no wait behind', async () => {
    const tx = makeTx(signer, 0, 'k', 'v', 'wrong-chain')
    const res = await call(t.url, 'broadcast_tx_commit', { tx: tx.hex })
    expect(res.error.code).to.equal(RpcErrorCode.TX_WRONG_CHAIN)
    expect(t.server.stats()).to.include({ txWaits: 0, txHashes: 0 })
  })

  it('a client that disconnects stops waiting', async () => {
    const tx = makeTx(signer, 0)
    const abort = new AbortController()
    const request = fetch(t.url, {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'broadcast_tx_commit', params: { tx: tx.hex } }),
      signal: abort.signal,
    }).catch((err: unknown) => err)
    await waitFor(() => t.server.stats().txWaits === 1, { timeoutMs: 5000, message: 'the wait' })
    abort.abort()
    await request
    await waitFor(() => t.server.stats().txWaits === 0 && t.server.stats().txHashes === 0, {
      timeoutMs: 5000,
      message: 'the wait to go',
    })
  })

  it('stop() answers waiting clients with UNAVAILABLE (-32010)', async () => {
    const pending = call(t.url, 'broadcast_tx_commit', { tx: makeTx(signer, 0).hex })
    await waitFor(() => t.server.stats().txWaits === 1, { timeoutMs: 5000, message: 'the wait' })
    await t.stop()
    const res = await pending
    expect(res.error.code).to.equal(RpcErrorCode.UNAVAILABLE)
    t = await startTestServer()
  })

  it('1000 concurrent waiting calls share one backend listener and all resolve on their events', async function () {
    this.timeout(60_000)
    const n = 1000
    // 1000 HTTP connections from one address: over the default per-address cap (docs/RPC.md
    // "Limits"), which is not what this test is about, so this server allows them.
    await t.stop()
    // The waits must outlive registering all n of them, which takes seconds on a loaded machine.
    t = await startTestServer({ maxCommitTimeoutMs: 60_000, maxConnectionsPerIp: 2 * n })
    const txs = Array.from({ length: n }, (_, i) => makeTx(signer, i, `key${i}`))
    const calls = txs.map((tx) => call(t.url, 'broadcast_tx_commit', { tx: tx.hex, timeout_ms: 60_000 }))
    await waitFor(() => t.server.stats().txWaits === n, { timeoutMs: 30_000, message: `${n} waits` })
    // One listener on the backend, however many clients wait (the tendermint#2826 lesson).
    expect(t.backend.events.listenerCount('Tx')).to.equal(1)
    expect(t.backend.events.listenerCount('NewBlock')).to.equal(1)
    expect(t.server.stats().txHashes).to.equal(n)
    const block = t.backend.commit()
    const results = await Promise.all(calls)
    expect(block.txs).to.have.length(n)
    results.forEach((res, i) => {
      const tx = txs[i] as { hash: string; hex: string }
      expect(res.result, JSON.stringify(res.error)).to.deep.equal({
        hash: tx.hash,
        height: 1,
        index: block.txs.indexOf(tx.hex),
        block_hash: block.hash,
      })
    })
    expect(t.server.stats()).to.include({ txWaits: 0, txHashes: 0 })
  })
})
