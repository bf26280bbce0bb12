import { TopicValidatorResult } from '@libp2p/interface'
import { expect } from 'chai'
import { SignatureCache } from '../../../../src/app/signature-cache.js'
import { hashTx, txHash } from '../../../../src/codec/chain.js'
import { encodeTxBatch } from '../../../../src/codec/tx-sign.js'
import { MempoolError } from '../../../../src/mempool/errors.js'
import { Mempool } from '../../../../src/mempool/mempool.js'
import { adaptValidator, GossipStats } from '../../../../src/network/gossip-validation.js'
import { silentNetworkLogger } from '../../../../src/network/logger.js'
import { createTxValidator } from '../../../../src/network/validation/index.js'
import { CHAIN } from '../../consensus/harness.js'
import { FakeNonces, signedTx, signer } from '../../mempool/fixtures.js'
import { Fixture, judge } from './fakes.js'

const alice = signer(0)
const bob = signer(1)
const tx = (from = alice, nonce = 0, chainId = CHAIN) =>
  signedTx(from, nonce, { type: 'set', key: 'k', value: `v${nonce}` }, chainId)

/** Decoding a batch copies its txs, so the fakes compare bytes, not references. */
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(b)

/** The same tx with its last signature byte flipped: decodes, right chain, forged. */
function forge(encoded: Uint8Array): Uint8Array {
  const out = encoded.slice()
  out[out.length - 1] = (out[out.length - 1] as number) ^ 0x01
  return out
}

describe('network/validation/tx', () => {
  it('accepts a batch that admits something new and reports how many it admitted', async () => {
    const f = new Fixture()
    const batch = encodeTxBatch([tx(alice, 0), tx(alice, 1), tx(bob, 0)])
    expect(await judge(f.validators.tx, batch)).to.equal('accept')
    expect(f.mempool.pending.size).to.equal(3)
    expect(f.admitted).to.deep.equal([3])
    // the signatures are now known: block validation will not verify them again
    expect(f.signatures.verified.size).to.equal(3)
  })

  it('ignores a batch with nothing new, counted as unspecified', async () => {
    const f = new Fixture()
    const batch = encodeTxBatch([tx(alice, 0)])
    await judge(f.validators.tx, batch)
    expect(await judge(f.validators.tx, batch)).to.equal('ignore')
    expect(f.admitted).to.deep.equal([1])
    const stats = new GossipStats()
    const adapted = adaptValidator({
      kind: 'tx',
      validator: f.validators.tx,
      maxMessageBytes: 1 << 20,
      stats,
      logger: silentNetworkLogger,
    })
    expect(await adapted(batch, 'peer')).to.equal(TopicValidatorResult.Ignore)
    expect(stats.snapshot().tx?.byReason).to.deep.equal({ 'ignore:unspecified': 1 })
  })

  it('skips txs the mempool refuses for state-dependent reasons: not the relayer’s fault', async () => {
    const f = new Fixture()
    const stale = tx(alice, 0)
    const full = tx(bob, 0)
    f.mempool.refuse = (t) => {
      if (same(t, stale)) return new MempoolError('bad_nonce', 'nonce already used')
      if (same(t, full)) return new MempoolError('mempool_full', 'full')
      return undefined
    }
    expect(await judge(f.validators.tx, encodeTxBatch([stale, full]))).to.equal('ignore')
    const fresh = tx(alice, 1)
    expect(await judge(f.validators.tx, encodeTxBatch([stale, fresh, full]))).to.equal('accept')
    expect([...f.mempool.pending.values()]).to.deep.equal([fresh])
    expect(f.admitted).to.deep.equal([1])
  })

  it('rejects a batch that does not decode', async () => {
    const f = new Fixture()
    expect(await judge(f.validators.tx, new Uint8Array([0xff, 0xff, 0xff]))).to.equal('reject:malformed')
    expect(await judge(f.validators.tx, new Uint8Array(0))).to.equal('reject:malformed')
  })

  it('rejects a batch holding a malformed, foreign-chain or forged tx, and admits none of it', async () => {
    const cases: Array<[Uint8Array, string]> = [
      [new Uint8Array([1, 2, 3]), 'reject:malformed'],
      [tx(bob, 0, 'other-chain'), 'reject:wrong_chain'],
      [forge(tx(bob, 0)), 'reject:invalid_signature'],
    ]
    for (const [bad, outcome] of cases) {
      const f = new Fixture()
      // the good tx comes first: every tx is checked before any is admitted
      expect(await judge(f.validators.tx, encodeTxBatch([tx(alice, 0), bad]))).to.equal(outcome)
      expect(f.mempool.pending.size, outcome).to.equal(0)
      expect(f.admitted, outcome).to.deep.equal([])
    }
  })

  it('rejects a forged tx even when this node’s mempool would skip it for its state', async () => {
    // A node whose state makes the mempool refuse the tx early (stale nonce) must still see the
    // forgery, or the honest relays of that batch would be judged differently by different nodes.
    const f = new Fixture()
    f.mempool.refuse = () => new MempoolError('bad_nonce', 'nonce already used')
    expect(await judge(f.validators.tx, encodeTxBatch([forge(tx(alice, 0))]))).to.equal(
      'reject:invalid_signature',
    )
  })

  it('does not verify again what already verified here (pending, or in the signature cache)', async () => {
    const f = new Fixture()
    // a forged tx whose hash the cache holds would pass unverified: proof that no verify ran
    const cached = forge(tx(alice, 0))
    f.signatures.add(txHash(cached))
    expect(await judge(f.validators.tx, encodeTxBatch([cached]))).to.equal('accept')
    const pendingForged = forge(tx(bob, 0))
    f.mempool.add(hashTx(pendingForged))
    expect(await judge(f.validators.tx, encodeTxBatch([pendingForged]))).to.equal('ignore')
  })

  it('uses isPeerFault on the mempool’s own refusals: Reject for the sender’s faults, else skip', async () => {
    for (const code of ['malformed', 'wrong_chain', 'invalid_signature'] as const) {
      const f = new Fixture()
      const first = tx(alice, 0)
      f.mempool.refuse = (t) => (same(t, first) ? undefined : new MempoolError(code, code))
      expect(await judge(f.validators.tx, encodeTxBatch([first, tx(bob, 0)]))).to.equal(`reject:${code}`)
      // the tx admitted before the Reject stays in the mempool, and is reported
      expect(f.admitted, code).to.deep.equal([1])
    }
    for (const code of ['too_large', 'bad_nonce', 'nonce_too_far', 'nonce_taken', 'mempool_full'] as const) {
      const f = new Fixture()
      f.mempool.refuse = () => new MempoolError(code, code)
      expect(await judge(f.validators.tx, encodeTxBatch([tx(alice, 0)])), code).to.equal('ignore')
    }
  })

  it('lets anything but a MempoolError through to the adapter (our bug: validator_error)', async () => {
    const f = new Fixture()
    f.mempool.refuse = () => new RangeError('bug')
    let thrown: unknown
    try {
      await judge(f.validators.tx, encodeTxBatch([tx(alice, 0)]))
    } catch (err) {
      thrown = err
    }
    expect(thrown).to.be.instanceOf(RangeError)
  })

  it('works over the real Mempool: a forged tx with a stale nonce is still Rejected', async () => {
    const nonces = new FakeNonces()
    const signatures = new SignatureCache()
    const mempool = new Mempool({ chainId: CHAIN, state: nonces, now: () => 0, signatureCache: signatures })
    const validate = createTxValidator({ chainId: CHAIN, mempool, signatures })
    nonces.set(alice.publicKey, 5)
    expect(await judge(validate, encodeTxBatch([forge(tx(alice, 0))]))).to.equal('reject:invalid_signature')
    expect(await judge(validate, encodeTxBatch([tx(alice, 0)]))).to.equal('ignore')
    expect(await judge(validate, encodeTxBatch([tx(alice, 5)]))).to.equal('accept')
    expect(mempool.size).to.equal(1)
  })

  it('over the real Mempool: each tx is kept under its own bytes’ hash; a tampered copy is verified and Rejected', async () => {
    const nonces = new FakeNonces()
    const signatures = new SignatureCache()
    const mempool = new Mempool({ chainId: CHAIN, state: nonces, now: () => 0, signatureCache: signatures })
    const validate = createTxValidator({ chainId: CHAIN, mempool, signatures })
    const good = [tx(alice, 0), tx(bob, 0), tx(alice, 1)]
    expect(await judge(validate, encodeTxBatch(good))).to.equal('accept')
    for (const t of good) {
      expect(mempool.has(txHash(t))).to.equal(true)
      expect(Buffer.from(mempool.get(txHash(t)) as Uint8Array).equals(t)).to.equal(true)
    }
    // The same tx with one signature bit flipped: another hash, so no cache hit and no pass.
    expect(await judge(validate, encodeTxBatch([forge(tx(bob, 1))]))).to.equal('reject:invalid_signature')
    expect(await judge(validate, encodeTxBatch([forge(good[0] as Uint8Array)]))).to.equal(
      'reject:invalid_signature',
    )
    expect(mempool.size).to.equal(3)
    const reaped = mempool.reapHashed(10, 1 << 20)
    expect(reaped).to.have.length(3)
    for (const r of reaped) expect(Buffer.from(r.hash).equals(txHash(r.bytes))).to.equal(true)
  })
})
