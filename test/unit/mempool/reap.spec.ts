import { expect } from 'chai'
import fc from 'fast-check'
import { decodeTx } from '../../../src/codec/chain.js'
import { harness, hex, signedTx, signer } from './fixtures.js'

const [alice, bob, carol] = [signer(0), signer(1), signer(2)]
const names = new Map([alice, bob, carol].map((s, i) => [hex(s.publicKey), ['A', 'B', 'C'][i]]))

/** 'A0' = Alice's tx with nonce 0: makes orderings readable in assertions. */
function label(encoded: Uint8Array): string {
  const tx = decodeTx(encoded)
  return `${names.get(hex(tx.from))}${tx.nonce}`
}

describe('mempool/reap', () => {
  it('returns one sender txs in nonce order whatever the arrival order', () => {
    const { pool } = harness()
    for (const n of [2, 0, 1]) pool.add(signedTx(alice, n))
    expect(pool.reap(100, 1 << 20).map(label)).to.deep.equal(['A0', 'A1', 'A2'])
  })

  it('starts at the state nonce and stops at a gap, for that sender only', () => {
    const { pool, nonces } = harness()
    nonces.set(alice.publicKey, 2)
    for (const n of [2, 3, 5, 6]) pool.add(signedTx(alice, n))
    for (const n of [1, 2]) pool.add(signedTx(bob, n)) // Bob misses nonce 0: nothing executable
    for (const n of [0, 1]) pool.add(signedTx(carol, n))
    expect(pool.reap(100, 1 << 20).map(label)).to.deep.equal(['A2', 'C0', 'A3', 'C1'])
    pool.add(signedTx(bob, 0))
    expect(pool.reap(100, 1 << 20).map(label)).to.deep.equal(['A2', 'C0', 'B0', 'A3', 'C1', 'B1', 'B2'])
  })

  it("hasExecutable: a tx at its sender's next nonce, not one behind a gap", () => {
    const { pool, nonces } = harness()
    expect(pool.hasExecutable()).to.equal(false)
    pool.add(signedTx(bob, 1)) // Bob's nonce 0 is missing
    pool.add(signedTx(bob, 2))
    expect(pool.size).to.equal(2)
    expect(pool.hasExecutable()).to.equal(false)
    nonces.set(alice.publicKey, 3)
    pool.add(signedTx(alice, 4))
    expect(pool.hasExecutable()).to.equal(false)
    pool.add(signedTx(alice, 3))
    expect(pool.hasExecutable()).to.equal(true)
    expect(pool.hasExecutable()).to.equal(pool.reap(1, 1 << 20).length > 0)
  })

  it('is fair across senders: round-robin by arrival of each sender head tx', () => {
    const { pool } = harness()
    for (let n = 0; n < 5; n++) pool.add(signedTx(alice, n))
    for (let n = 0; n < 2; n++) pool.add(signedTx(bob, n))
    pool.add(signedTx(carol, 0))
    const all = ['A0', 'B0', 'C0', 'A1', 'B1', 'A2', 'A3', 'A4']
    expect(pool.reap(100, 1 << 20).map(label)).to.deep.equal(all)
    expect(pool.reap(4, 1 << 20).map(label)).to.deep.equal(all.slice(0, 4))
    expect(pool.reap(0, 1 << 20)).to.deep.equal([])
  })

  it('respects maxBytes; a tx that does not fit blocks only its own sender', () => {
    const { pool } = harness()
    const big = signedTx(alice, 0, { type: 'set', key: 'k', value: 'x'.repeat(1000) })
    pool.add(big)
    pool.add(signedTx(alice, 1))
    const b0 = signedTx(bob, 0)
    const b1 = signedTx(bob, 1)
    pool.add(b0)
    pool.add(b1)
    expect(pool.reap(100, b0.length + b1.length + 10).map(label)).to.deep.equal(['B0', 'B1'])
    expect(pool.reap(100, big.length + b0.length).map(label)).to.deep.equal(['A0', 'B0'])
    expect(pool.reap(100, 10)).to.deep.equal([])
  })

  it('does not remove what it returns', () => {
    const { pool } = harness()
    pool.add(signedTx(alice, 0))
    expect(pool.reap(10, 1 << 20)).to.have.length(1)
    expect(pool.reap(10, 1 << 20)).to.have.length(1)
    expect(pool.size).to.equal(1)
  })

  it('property: reaps exactly the executable txs in per-sender nonce order, within limits', () => {
    const senders = [alice, bob, carol]
    const arb = fc.record({
      stateNonces: fc.array(fc.nat(3), { minLength: 3, maxLength: 3 }),
      adds: fc.array(fc.tuple(fc.nat(2), fc.nat(8)), { maxLength: 30 }),
      maxTxs: fc.nat(40),
      maxBytes: fc.nat(6000),
    })
    const txCache = new Map<string, Uint8Array>()
    const tx = (s: number, n: number): Uint8Array => {
      const k = `${s}:${n}`
      let t = txCache.get(k)
      if (t === undefined) {
        t = signedTx(senders[s] ?? alice, n)
        txCache.set(k, t)
      }
      return t
    }
    fc.assert(
      fc.property(arb, ({ stateNonces, adds, maxTxs, maxBytes }) => {
        const { pool, nonces } = harness()
        for (const [i, s] of senders.entries()) nonces.set(s.publicKey, stateNonces[i] ?? 0)
        for (const [s, n] of adds) {
          try {
            pool.add(tx(s, n))
          } catch {
            // below the state nonce: rejected, which is fine here
          }
        }
        const reaped = pool.reap(maxTxs, maxBytes)
        expect(reaped.length).to.be.at.most(maxTxs)
        expect(reaped.reduce((sum, t) => sum + t.length, 0)).to.be.at.most(maxBytes)
        const next = new Map(senders.map((s) => [hex(s.publicKey), nonces.nonce(s.publicKey)]))
        for (const t of reaped) {
          const d = decodeTx(t)
          expect(d.nonce).to.equal(next.get(hex(d.from)))
          next.set(hex(d.from), d.nonce + 1)
        }
        // With room for everything, every executable tx is reaped.
        const all = pool.reap(1000, 1 << 30)
        const executable = senders.reduce(
          (sum, s) => sum + pool.pendingNonce(s.publicKey) - nonces.nonce(s.publicKey),
          0,
        )
        expect(all.length).to.equal(executable)
      }),
      { seed: 42, numRuns: 200 },
    )
  })
})
