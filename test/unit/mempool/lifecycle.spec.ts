import { expect } from 'chai'
import { harness, hex, signedTx, signer, txHash } from './fixtures.js'

const [alice, bob] = [signer(0), signer(1)]
const TTL = 10 * 60 * 1000

describe('mempool/ttl', () => {
  it('drops txs older than ttlMs with reason expired, using the injected clock', () => {
    const { pool, clock, drops } = harness()
    const early = signedTx(alice, 0)
    pool.add(early)
    clock.ms += 5 * 60 * 1000
    const late = signedTx(bob, 0)
    pool.add(late)

    clock.ms += 5 * 60 * 1000 // early is exactly TTL old: not older than TTL yet
    expect(pool.evictExpired()).to.deep.equal([])
    clock.ms += 1
    expect(pool.evictExpired()).to.deep.equal([{ hash: txHash(early), reason: 'expired' }])
    expect(drops).to.deep.equal([{ hash: hex(txHash(early)), reason: 'expired' }])
    expect(pool.status(txHash(early))).to.deep.equal({ status: 'dropped', reason: 'expired' })
    expect(pool.status(txHash(late))).to.deep.equal({ status: 'pending' })
    expect(pool.size).to.equal(1)
    expect(pool.bytes).to.equal(late.length)

    clock.ms += TTL
    expect(pool.evictExpired().map((d) => hex(d.hash))).to.deep.equal([hex(txHash(late))])
    expect(pool.size).to.equal(0)
    expect(pool.bytes).to.equal(0)
  })

  it('re-admits an expired tx that is resubmitted', () => {
    const { pool, clock } = harness({ ttlMs: 100 })
    const t = signedTx(alice, 0)
    pool.add(t)
    clock.ms += 101
    pool.evictExpired()
    expect(pool.has(txHash(t))).to.equal(false)
    expect(pool.hasVerifiedSignature(txHash(t))).to.equal(true)
    expect(pool.add(t).status).to.equal('added')
    expect(pool.status(txHash(t))).to.deep.equal({ status: 'pending' })
    // The fresh arrival restarts its TTL.
    clock.ms += 100
    expect(pool.evictExpired()).to.deep.equal([])
  })
})

describe('mempool/queries', () => {
  it('pendingNonce counts only pending txs contiguous from the state nonce', () => {
    const { pool, nonces } = harness()
    expect(pool.pendingNonce(alice.publicKey)).to.equal(0)
    nonces.set(alice.publicKey, 3)
    expect(pool.pendingNonce(alice.publicKey)).to.equal(3)
    for (const n of [3, 4, 6]) pool.add(signedTx(alice, n))
    expect(pool.pendingNonce(alice.publicKey)).to.equal(5)
    pool.add(signedTx(alice, 5))
    expect(pool.pendingNonce(alice.publicKey)).to.equal(7)
    expect(pool.pendingNonce(bob.publicKey)).to.equal(0)
  })

  it('lists pending txs in arrival order up to a limit', () => {
    const { pool } = harness()
    const txs = [signedTx(bob, 1), signedTx(alice, 0), signedTx(bob, 0)]
    for (const t of txs) pool.add(t)
    expect(pool.list(10)).to.deep.equal(txs)
    expect(pool.list(2)).to.deep.equal(txs.slice(0, 2))
    expect(pool.list(0)).to.deep.equal([])
  })

  it('reports unknown hashes as undefined', () => {
    const { pool } = harness()
    const h = txHash(signedTx(alice, 0))
    expect(pool.status(h)).to.equal(undefined)
    expect(pool.get(h)).to.equal(undefined)
    expect(pool.has(h)).to.equal(false)
    expect(pool.hasVerifiedSignature(h)).to.equal(false)
  })

  it('remembers dropped txs up to a bound, forgetting the oldest first', () => {
    const { pool, clock } = harness({ ttlMs: 10, maxDroppedHistory: 2 })
    const txs = [0, 1, 2].map((n) => signedTx(signer(n), 0))
    for (const t of txs) {
      pool.add(t)
      clock.ms += 1
    }
    clock.ms += 100
    expect(pool.evictExpired()).to.have.length(3)
    const statuses = txs.map((t) => pool.status(txHash(t)))
    expect(statuses).to.deep.equal([
      undefined,
      { status: 'dropped', reason: 'expired' },
      { status: 'dropped', reason: 'expired' },
    ])
  })
})
