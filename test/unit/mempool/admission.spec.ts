import { expect } from 'chai'
import { KvApp } from '../../../src/app/kv-app.js'
import { SignatureCache } from '../../../src/app/signature-cache.js'
import { hashTx } from '../../../src/codec/chain.js'
import { MAX_TX_BYTES } from '../../../src/codec/limits.js'
import { isPeerFault, MempoolError, type MempoolErrorCode } from '../../../src/mempool/errors.js'
import { Mempool } from '../../../src/mempool/mempool.js'
import { defaultMempoolOptions, resolveMempoolOptions } from '../../../src/mempool/options.js'
import { CHAIN_ID, FakeClock, harness, hex, signedTx, signer, txHash } from './fixtures.js'

function rejection(pool: Mempool, tx: Uint8Array): MempoolErrorCode {
  try {
    pool.add(tx)
  } catch (err) {
    expect(err).to.be.instanceOf(MempoolError)
    const e = err as MempoolError
    expect(e.name).to.equal('MempoolError')
    expect(e.message).to.be.a('string').and.not.equal('')
    return e.code
  }
  expect.fail('add() accepted a tx it should have rejected')
}

describe('mempool/admission', () => {
  const alice = signer(0)
  const bob = signer(1)

  it('admits a valid tx and indexes it', () => {
    const { pool } = harness()
    const tx = signedTx(alice, 0)
    const res = pool.add(tx)
    expect(res.status).to.equal('added')
    expect(hex(res.hash)).to.equal(hex(txHash(tx)))
    expect(pool.size).to.equal(1)
    expect(pool.bytes).to.equal(tx.length)
    expect(pool.has(res.hash)).to.equal(true)
    expect(pool.get(res.hash)).to.deep.equal(tx)
    expect(pool.status(res.hash)).to.deep.equal({ status: 'pending' })
    expect(pool.hasVerifiedSignature(res.hash)).to.equal(true)
  })

  it('keeps its own copy of the tx bytes', () => {
    const { pool } = harness()
    const tx = signedTx(alice, 0)
    const { hash } = pool.add(tx)
    tx.fill(0)
    expect(hex(txHash(pool.get(hash) ?? new Uint8Array()))).to.equal(hex(hash))
  })

  it('takes a HashedTx with its hash: kept as is when it owns its buffer, else copied and rehashed', () => {
    const { pool } = harness()
    const owned = hashTx(signedTx(alice, 0))
    expect(pool.add(owned).hash).to.equal(owned.hash)
    expect(pool.get(owned.hash)).to.equal(owned.bytes)
    // a view into a larger message: the pool keeps a copy of just the tx, under the same hash
    const tx = signedTx(bob, 0)
    const message = new Uint8Array(tx.length + 100)
    message.set(tx, 50)
    const view = hashTx(message.subarray(50, 50 + tx.length))
    const { hash } = pool.add(view)
    expect(hex(hash)).to.equal(hex(txHash(tx)))
    const kept = pool.get(hash) as Uint8Array
    expect(kept.buffer.byteLength).to.equal(tx.length)
    message.fill(0)
    expect(hex(txHash(kept))).to.equal(hex(hash))
    const reaped = pool.reapHashed(10, 1 << 20)
    expect(reaped.map((r) => hex(r.hash))).to.have.members([hex(owned.hash), hex(hash)])
    for (const r of reaped) expect(hex(r.hash)).to.equal(hex(txHash(r.bytes)))
    expect(pool.reap(10, 1 << 20)).to.deep.equal(reaped.map((r) => r.bytes))
  })

  it('verifies a HashedTx like any other: a tampered copy of an admitted tx is refused', () => {
    const { pool } = harness()
    const tx = signedTx(alice, 0)
    pool.add(hashTx(tx))
    const tampered = tx.slice()
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1
    // same sender and nonce would say nonce_taken first: a fresh sender's forged tx reaches verify
    const forged = signedTx(bob, 0).slice()
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1
    expect(rejection(pool, forged)).to.equal('invalid_signature')
    try {
      pool.add(hashTx(forged))
      expect.fail('a forged HashedTx was admitted')
    } catch (err) {
      expect((err as MempoolError).code).to.equal('invalid_signature')
    }
    expect(pool.has(txHash(tampered))).to.equal(false)
    expect(pool.size).to.equal(1)
  })

  it('answers a resubmitted pending tx with "known" and its status, not an error', () => {
    const { pool } = harness()
    const tx = signedTx(alice, 0)
    pool.add(tx)
    const again = pool.add(tx)
    expect(again).to.deep.equal({ hash: txHash(tx), status: 'known', current: { status: 'pending' } })
    expect(pool.size).to.equal(1)
    expect(pool.bytes).to.equal(tx.length)
  })

  it('rejects bytes that do not decode as malformed', () => {
    const { pool } = harness()
    const tx = signedTx(alice, 0)
    expect(rejection(pool, new Uint8Array([1, 2, 3]))).to.equal('malformed')
    expect(rejection(pool, new Uint8Array())).to.equal('malformed')
    expect(rejection(pool, tx.subarray(0, tx.length - 1))).to.equal('malformed')
    expect(rejection(pool, new Uint8Array([...tx, 0]))).to.equal('malformed')
    const badTag = tx.slice()
    badTag[0] = 0x7f
    expect(rejection(pool, badTag)).to.equal('malformed')
    expect(pool.size).to.equal(0)
  })

  it('rejects a tx above maxTxBytes as too_large before decoding it', () => {
    const small = harness({ maxTxBytes: 200 })
    const big = signedTx(alice, 0, { type: 'set', key: 'k', value: 'x'.repeat(300) })
    expect(rejection(small.pool, big)).to.equal('too_large')
    expect(rejection(harness().pool, new Uint8Array(MAX_TX_BYTES + 1))).to.equal('too_large')
    expect(harness().pool.add(big).status).to.equal('added')
  })

  it('rejects a tx for another chain', () => {
    const { pool } = harness()
    expect(rejection(pool, signedTx(alice, 0, undefined, 'other-chain'))).to.equal('wrong_chain')
  })

  it('rejects a tampered or foreign signature', () => {
    const { pool } = harness()
    const tx = signedTx(alice, 0)
    const flippedSig = tx.slice()
    flippedSig[flippedSig.length - 1] ^= 0x01
    expect(rejection(pool, flippedSig)).to.equal('invalid_signature')

    // Same body bytes but the value changed after signing: 'v0' → 'v1' (same length, still decodes).
    const flippedBody = tx.slice()
    const at = flippedBody.length - 64 - 1
    expect(flippedBody[at]).to.equal('0'.charCodeAt(0))
    flippedBody[at] = '1'.charCodeAt(0)
    expect(rejection(pool, flippedBody)).to.equal('invalid_signature')

    // Bob's signature over a body naming Alice as sender.
    const forged = tx.slice()
    forged.set(signedTx(bob, 0).subarray(-64), forged.length - 64)
    expect(rejection(pool, forged)).to.equal('invalid_signature')
    expect(pool.size).to.equal(0)
    expect(pool.hasVerifiedSignature(txHash(forged))).to.equal(false)
  })

  it('shares verified signatures with the app: a tx is verified once per node', () => {
    const cache = new SignatureCache()
    const app = KvApp.fromGenesis(CHAIN_ID, {}, cache)
    const pool = new Mempool({
      chainId: CHAIN_ID,
      state: app,
      now: new FakeClock().now,
      signatureCache: cache,
    })
    const tx = signedTx(alice, 0)
    const forged = tx.slice()
    forged[forged.length - 1] ^= 0x01
    expect(rejection(pool, forged)).to.equal('invalid_signature')
    expect(cache.has(txHash(forged))).to.equal(false)
    pool.add(tx)
    expect(cache.has(txHash(tx))).to.equal(true)
    expect(cache.size).to.equal(1)
    // Block validation finds the mempool's verdict: nothing new is verified or recorded.
    expect(app.execute([tx]).ok).to.equal(true)
    expect(cache.size).to.equal(1)
  })

  it('trusts a shared-cache hit (so only verified hashes may ever be put in it)', () => {
    const cache = new SignatureCache()
    const pool = new Mempool({
      chainId: CHAIN_ID,
      state: { nonce: () => 0 },
      now: new FakeClock().now,
      signatureCache: cache,
    })
    const forged = signedTx(alice, 0).slice()
    forged[forged.length - 1] ^= 0x01
    cache.add(txHash(forged))
    expect(pool.add(forged).status).to.equal('added')
  })

  it('rejects a replay: a nonce below the sender state nonce', () => {
    const { pool, nonces } = harness()
    nonces.set(alice.publicKey, 5)
    expect(rejection(pool, signedTx(alice, 4))).to.equal('bad_nonce')
    expect(rejection(pool, signedTx(alice, 0))).to.equal('bad_nonce')
    expect(pool.add(signedTx(alice, 5)).status).to.equal('added')
    // Bob's nonce is independent.
    expect(pool.add(signedTx(bob, 0)).status).to.equal('added')
  })

  it('rejects a nonce more than maxNonceAhead past the state nonce', () => {
    const { pool, nonces } = harness()
    nonces.set(alice.publicKey, 10)
    expect(pool.add(signedTx(alice, 10 + 64)).status).to.equal('added')
    expect(rejection(pool, signedTx(alice, 10 + 65))).to.equal('nonce_too_far')
    const tight = harness({ maxNonceAhead: 0 })
    expect(rejection(tight.pool, signedTx(alice, 1))).to.equal('nonce_too_far')
    expect(tight.pool.add(signedTx(alice, 0)).status).to.equal('added')
  })

  it('keeps the first tx when another one takes the same (sender, nonce)', () => {
    const { pool } = harness()
    const first = signedTx(alice, 0, { type: 'set', key: 'a', value: '1' })
    const second = signedTx(alice, 0, { type: 'del', key: 'a' })
    pool.add(first)
    expect(rejection(pool, second)).to.equal('nonce_taken')
    expect(pool.status(txHash(first))).to.deep.equal({ status: 'pending' })
    expect(pool.status(txHash(second))).to.equal(undefined)
    expect(pool.add(signedTx(bob, 0)).status).to.equal('added')
  })

  it('rejects when full by count', () => {
    const { pool } = harness({ maxTxs: 3 })
    for (let n = 0; n < 3; n++) pool.add(signedTx(alice, n))
    expect(rejection(pool, signedTx(bob, 0))).to.equal('mempool_full')
    expect(pool.size).to.equal(3)
    // A known tx is still answered while full.
    expect(pool.add(signedTx(alice, 0)).status).to.equal('known')
  })

  it('rejects when full by bytes', () => {
    const tx0 = signedTx(alice, 0)
    const { pool } = harness({ maxBytes: tx0.length * 2 + 10 })
    pool.add(tx0)
    pool.add(signedTx(alice, 1))
    expect(rejection(pool, signedTx(alice, 2))).to.equal('mempool_full')
    expect(pool.bytes).to.equal(tx0.length * 2)
  })

  it('frees capacity when txs leave', () => {
    const { pool, nonces } = harness({ maxTxs: 1 })
    const tx = signedTx(alice, 0)
    pool.add(tx)
    expect(rejection(pool, signedTx(bob, 0))).to.equal('mempool_full')
    nonces.set(alice.publicKey, 1)
    pool.update([txHash(tx)])
    expect(pool.add(signedTx(bob, 0)).status).to.equal('added')
  })

  it('classifies which rejections are a peer fault', () => {
    expect(isPeerFault('invalid_signature')).to.equal(true)
    expect(isPeerFault('malformed')).to.equal(true)
    expect(isPeerFault('wrong_chain')).to.equal(true)
    expect(isPeerFault('too_large')).to.equal(false)
    expect(isPeerFault('bad_nonce')).to.equal(false)
    expect(isPeerFault('mempool_full')).to.equal(false)
  })
})

describe('mempool/options', () => {
  it('has the documented defaults', () => {
    expect(resolveMempoolOptions()).to.deep.equal(defaultMempoolOptions)
    expect(defaultMempoolOptions).to.include({
      maxTxs: 10_000,
      maxBytes: 64 * 1024 * 1024,
      maxNonceAhead: 64,
      ttlMs: 600_000,
      maxTxBytes: MAX_TX_BYTES,
    })
  })

  it('overrides only what is given and rejects nonsense', () => {
    expect(resolveMempoolOptions({ maxTxs: 5, ttlMs: undefined }).maxTxs).to.equal(5)
    expect(resolveMempoolOptions({ ttlMs: undefined }).ttlMs).to.equal(600_000)
    expect(() => resolveMempoolOptions({ maxTxs: 0 })).to.throw(RangeError)
    expect(() => resolveMempoolOptions({ maxBytes: 1.5 })).to.throw(RangeError)
    expect(() => resolveMempoolOptions({ maxNonceAhead: -1 })).to.throw(RangeError)
    expect(() => resolveMempoolOptions({ maxTxBytes: MAX_TX_BYTES + 1 })).to.throw(RangeError)
  })
})
