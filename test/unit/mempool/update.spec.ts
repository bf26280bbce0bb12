import { expect } from 'chai'
import { harness, hex, signedTx, signer, txHash } from './fixtures.js'

const [alice, bob] = [signer(0), signer(1)]

describe('mempool/update', () => {
  it('forgets committed txs and keeps the still-valid rest', () => {
    const { pool, nonces, drops } = harness()
    const [a0, a1, a2] = [0, 1, 2].map((n) => signedTx(alice, n))
    for (const t of [a0, a1, a2]) pool.add(t)
    const b0 = signedTx(bob, 0)
    pool.add(b0)
    // The block carried A0, A1; the app advanced Alice's nonce before update().
    nonces.set(alice.publicKey, 2)
    const dropped = pool.update([txHash(a0), txHash(a1)])
    expect(dropped).to.deep.equal([])
    expect(drops).to.deep.equal([])
    expect(pool.size).to.equal(2)
    expect(pool.bytes).to.equal(a2.length + b0.length)
    expect(pool.status(txHash(a0))).to.equal(undefined)
    expect(pool.status(txHash(a2))).to.deep.equal({ status: 'pending' })
    expect(pool.pendingNonce(alice.publicKey)).to.equal(3)
    expect(pool.reap(10, 1 << 20)).to.deep.equal([a2, b0])
  })

  it('drops txs whose nonce a conflicting committed tx used, with reason stale_nonce', () => {
    const { pool, nonces, drops } = harness()
    const mine = signedTx(alice, 0, { type: 'set', key: 'a', value: 'mine' })
    const later = signedTx(alice, 1)
    pool.add(mine)
    pool.add(later)
    // Another node's pool had a different Alice tx with nonce 0, and that one got committed.
    const theirs = signedTx(alice, 0, { type: 'set', key: 'a', value: 'theirs' })
    nonces.set(alice.publicKey, 1)
    const dropped = pool.update([txHash(theirs)])
    expect(dropped).to.deep.equal([{ hash: txHash(mine), reason: 'stale_nonce' }])
    expect(drops).to.deep.equal([{ hash: hex(txHash(mine)), reason: 'stale_nonce' }])
    expect(pool.status(txHash(mine))).to.deep.equal({ status: 'dropped', reason: 'stale_nonce' })
    expect(pool.status(txHash(later))).to.deep.equal({ status: 'pending' })
    expect(pool.size).to.equal(1)
    expect(pool.bytes).to.equal(later.length)
    // The dropped tx can never come back: its nonce is spent.
    expect(() => pool.add(mine))
      .to.throw()
      .with.property('code', 'bad_nonce')
  })

  it('re-checks every sender even when no committed hash is known (e.g. after sync)', () => {
    const { pool, nonces } = harness()
    const b = [0, 1, 2].map((n) => signedTx(bob, n))
    for (const t of b) pool.add(t)
    nonces.set(bob.publicKey, 2)
    expect(pool.update([]).map((d) => d.reason)).to.deep.equal(['stale_nonce', 'stale_nonce'])
    expect(pool.size).to.equal(1)
    expect(pool.pendingNonce(bob.publicKey)).to.equal(3)
  })

  it('clears a dropped record when that tx is committed after all', () => {
    const { pool, clock } = harness({ ttlMs: 1000 })
    const t = signedTx(alice, 0)
    pool.add(t)
    clock.ms += 1001
    pool.evictExpired()
    expect(pool.status(txHash(t))).to.deep.equal({ status: 'dropped', reason: 'expired' })
    pool.update([txHash(t)])
    expect(pool.status(txHash(t))).to.equal(undefined)
  })
})
