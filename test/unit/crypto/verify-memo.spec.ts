import { expect } from 'chai'
import { Ed25519Signer, verifySignature } from '../../../src/crypto/ed25519.js'
import { sha256 } from '../../../src/crypto/hash.js'
import { SignatureMemo } from '../../../src/crypto/verify-memo.js'

const signer = new Ed25519Signer(sha256(new TextEncoder().encode('memo')))
const msg = (s: string): Uint8Array => new TextEncoder().encode(s)

/** A memo over the real verify that counts the verifications it runs. */
function counting(limit = 100): { memo: SignatureMemo; calls: () => number } {
  let calls = 0
  const memo = new SignatureMemo(limit, (pk, m, s) => {
    calls++
    return verifySignature(pk, m, s)
  })
  return { memo, calls: () => calls }
}

describe('crypto/verify-memo', () => {
  it('verifies a signature once and answers repeats from the memo', () => {
    const { memo, calls } = counting()
    const m = msg('prepare 1')
    const sig = signer.sign(m)
    for (let i = 0; i < 5; i++) expect(memo.check(signer.publicKey, m, sig)).to.equal(true)
    expect(calls()).to.equal(1)
    expect(memo.hits).to.equal(4)
    expect(memo.verifications).to.equal(1)
  })

  it('a tampered message, signature or key misses the memo and is refused', () => {
    const { memo, calls } = counting()
    const m = msg('commit 7')
    const sig = signer.sign(m)
    expect(memo.check(signer.publicKey, m, sig)).to.equal(true)
    const badSig = Uint8Array.from(sig)
    badSig[10] = (badSig[10] as number) ^ 1
    const badMsg = msg('commit 8')
    const otherKey = new Ed25519Signer(sha256(msg('other'))).publicKey
    expect(memo.check(signer.publicKey, m, badSig)).to.equal(false)
    expect(memo.check(signer.publicKey, badMsg, sig)).to.equal(false)
    expect(memo.check(otherKey, m, sig)).to.equal(false)
    expect(calls()).to.equal(4)
    // refusals are not remembered: asked again, they are verified (and refused) again
    expect(memo.check(signer.publicKey, m, badSig)).to.equal(false)
    expect(calls()).to.equal(5)
  })

  it('refuses wrong-length keys and signatures before the lookup (no ambiguous concatenation)', () => {
    const { memo, calls } = counting()
    const m = msg('x')
    const sig = signer.sign(m)
    expect(memo.check(signer.publicKey, m, sig)).to.equal(true)
    // the same bytes split differently: key ‖ signature ‖ message is unchanged
    const shiftedKey = new Uint8Array([...signer.publicKey, sig[0] as number])
    expect(memo.check(shiftedKey, m, sig.subarray(1))).to.equal(false)
    expect(calls()).to.equal(1)
  })

  it('stays bounded, dropping the oldest entries first', () => {
    const { memo, calls } = counting(3)
    const ms = ['a', 'b', 'c', 'd'].map(msg)
    const sigs = ms.map((m) => signer.sign(m))
    for (const [i, m] of ms.entries()) memo.check(signer.publicKey, m, sigs[i] as Uint8Array)
    expect(memo.size).to.equal(3)
    expect(calls()).to.equal(4)
    memo.check(signer.publicKey, ms[3] as Uint8Array, sigs[3] as Uint8Array) // newest: a hit
    expect(calls()).to.equal(4)
    memo.check(signer.publicKey, ms[0] as Uint8Array, sigs[0] as Uint8Array) // oldest: dropped
    expect(calls()).to.equal(5)
    expect(() => new SignatureMemo(0)).to.throw(RangeError)
  })
})
