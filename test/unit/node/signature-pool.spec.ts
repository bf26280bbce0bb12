import { expect } from 'chai'
import { KvApp } from '../../../src/app/kv-app.js'
import { SignatureCache } from '../../../src/app/signature-cache.js'
import { txHash } from '../../../src/codec/chain.js'
import { signTx } from '../../../src/codec/tx-sign.js'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { preverifyTxs, SignaturePool, SignaturePoolClosedError } from '../../../src/node/signature-pool.js'
import { waitFor } from '../../helpers/wait.js'

describe('node/signature-pool', () => {
  const alice = new Ed25519Signer(new Uint8Array(32).fill(7))
  const bob = new Ed25519Signer(new Uint8Array(32).fill(9))
  const message = new TextEncoder().encode('hello')
  let pool: SignaturePool

  beforeEach(() => {
    pool = new SignaturePool(2)
  })

  afterEach(async () => {
    await pool.close()
  })

  it('verifies on worker threads, one answer per check, in order', async () => {
    const sig = alice.sign(message)
    const flipped = sig.slice()
    flipped[3] = (flipped[3] as number) ^ 1
    const ok = await pool.verify([
      { publicKey: alice.publicKey, message, signature: sig },
      { publicKey: bob.publicKey, message, signature: sig },
      { publicKey: alice.publicKey, message: new TextEncoder().encode('hellO'), signature: sig },
      { publicKey: alice.publicKey, message, signature: flipped },
      { publicKey: alice.publicKey.subarray(1), message, signature: sig },
      { publicKey: alice.publicKey, message, signature: sig.subarray(1) },
    ])
    expect(ok).to.deep.equal([true, false, false, false, false, false])
    expect(await pool.verify([])).to.deep.equal([])
  })

  it('calls of one turn go out together: one message per worker, each call gets its own answers', async () => {
    const good = { publicKey: alice.publicKey, message, signature: alice.sign(message) }
    const bad = { publicKey: bob.publicKey, message, signature: alice.sign(message) }
    // warm up (workers start on first use), then count
    await pool.verify([good])
    const before = pool.messages
    const calls = Array.from({ length: 50 }, (_, i) =>
      pool.verify(i % 5 === 0 ? [good, bad, good] : [bad, good]),
    )
    const answers = await Promise.all(calls)
    answers.forEach((ok, i) => {
      expect(ok, `call ${i}`).to.deep.equal(i % 5 === 0 ? [true, false, true] : [false, true])
    })
    // 110 checks: split over the 2 workers, not 50 messages
    expect(pool.messages - before).to.equal(2)
    // a few checks are not split
    const small = pool.messages
    expect(await Promise.all([pool.verify([good]), pool.verify([bad])])).to.deep.equal([[true], [false]])
    expect(pool.messages - small).to.equal(1)
  })

  it('lets its workers go after idleMs without work and starts them again on the next use', async () => {
    const idle = new SignaturePool(2, 50)
    try {
      const good = { publicKey: alice.publicKey, message, signature: alice.sign(message) }
      const bad = { publicKey: bob.publicKey, message, signature: alice.sign(message) }
      expect(idle.workerCount).to.equal(0)
      expect(await idle.verify([good, bad])).to.deep.equal([true, false])
      expect(idle.workerCount).to.equal(2)
      await waitFor(() => idle.workerCount === 0, { timeoutMs: 5_000, message: 'idle workers let go' })
      expect(idle.retirements).to.equal(1)
      // started again, answers right, and the retired workers' exits failed nothing
      const answers = await Promise.all([idle.verify([bad, good]), idle.verify([good])])
      expect(answers).to.deep.equal([[false, true], [true]])
      expect(idle.workerCount).to.equal(2)
    } finally {
      await idle.close()
    }
  })

  it('keeps its workers while work keeps coming within idleMs', async () => {
    const busy = new SignaturePool(1, 1_000)
    try {
      const good = { publicKey: alice.publicKey, message, signature: alice.sign(message) }
      const started = Date.now()
      // a check every ~50 ms for 2.5 s: never idleMs without work
      while (Date.now() - started < 2_500) {
        expect(await busy.verify([good])).to.deep.equal([true])
        await new Promise((r) => setTimeout(r, 50))
      }
      expect(busy.retirements).to.equal(0)
      expect(busy.workerCount).to.equal(1)
    } finally {
      await busy.close()
    }
  })

  it('preverifyTxs records exactly the txs the app would find validly signed', async () => {
    const cache = new SignatureCache()
    const good = [0, 1, 2].map((n) =>
      signTx(alice, { chainId: 'c', nonce: n, op: { type: 'set', key: 'k', value: 'v' } }),
    )
    const forged = signTx(alice, { chainId: 'c', nonce: 3, op: { type: 'set', key: 'k', value: 'v' } })
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1
    const malformed = new Uint8Array([1, 2, 3])
    await preverifyTxs(pool, cache, [...good, forged, malformed])
    for (const tx of good) expect(cache.has(txHash(tx))).to.equal(true)
    expect(cache.has(txHash(forged))).to.equal(false)
    expect(cache.has(txHash(malformed))).to.equal(false)
    expect(cache.size).to.equal(3)
    // the app still refuses the forged tx: nothing was recorded for it
    const app = KvApp.fromGenesis('c', {}, cache)
    const ex = app.execute([...good, forged])
    expect(ex.ok).to.equal(false)
    if (!ex.ok) expect([ex.index, ex.reason]).to.deep.equal([3, 'bad_signature'])
  })

  it('after close, fails what is asked', async () => {
    await pool.verify([{ publicKey: alice.publicKey, message, signature: alice.sign(message) }])
    await pool.close()
    let error: unknown
    await pool
      .verify([{ publicKey: alice.publicKey, message, signature: alice.sign(message) }])
      .catch((e) => {
        error = e
      })
    expect(error).to.be.instanceOf(SignaturePoolClosedError)
  })
})
