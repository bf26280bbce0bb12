import { expect } from 'chai'
import { KvApp } from '../../../src/app/kv-app.js'
import { AppStateError } from '../../../src/app/state-keys.js'
import { makeGenesisBlock } from '../../../src/chain/genesis-block.js'
import { ChainStore } from '../../../src/chain/store.js'
import { decodeTx, encodeTx } from '../../../src/codec/chain.js'
import {
  buildBlock,
  CHAIN_ID,
  certify,
  makeValidators,
  seededSigner,
  signTx,
} from '../../fixtures/chain-builders.js'

const alice = seededSigner('alice')
const bob = seededSigner('bob')

function mustExecute(app: KvApp, txs: Uint8Array[]) {
  const ex = app.execute(txs)
  if (!ex.ok) throw new Error(`unexpected failure: ${ex.reason} at ${ex.index}`)
  return ex
}

describe('app/kv-app', () => {
  it('starts from the genesis app_state with nonces at 0', () => {
    const app = KvApp.fromGenesis(CHAIN_ID, { a: '1', b: '2' })
    expect(app.query('a')).to.equal('1')
    expect(app.query('zz')).to.equal(null)
    expect(app.nonce(alice.publicKey)).to.equal(0)
    expect(app.height).to.equal(0)
    expect(KvApp.fromGenesis(CHAIN_ID, { b: '2', a: '1' }).appHash()).to.deep.equal(app.appHash())
    expect(KvApp.fromGenesis(CHAIN_ID, { a: '1', b: '3' }).appHash()).not.to.deep.equal(app.appHash())
  })

  it('executes set and del speculatively and applies them on apply()', () => {
    const app = KvApp.fromGenesis(CHAIN_ID, { gone: 'x' })
    const before = app.appHash()
    const ex = mustExecute(app, [
      signTx(alice, 0, { type: 'set', key: 'k', value: 'v1' }),
      signTx(alice, 1, { type: 'set', key: 'k', value: 'v2' }),
      signTx(bob, 0, { type: 'del', key: 'gone' }),
    ])
    expect(app.appHash()).to.deep.equal(before)
    expect(app.query('k')).to.equal(null)
    expect(app.nonce(alice.publicKey)).to.equal(0)
    expect(ex.results.map((r) => r.nonce)).to.deep.equal([0, 1, 0])
    expect(ex.appHash).not.to.deep.equal(before)
    app.apply(ex)
    expect(app.query('k')).to.equal('v2')
    expect(app.query('gone')).to.equal(null)
    expect(app.nonce(alice.publicKey)).to.equal(2)
    expect(app.nonce(bob.publicKey)).to.equal(1)
    expect(app.appHash()).to.deep.equal(ex.appHash)
    expect(app.height).to.equal(1)
  })

  it('reports the first invalid tx with a stable reason', () => {
    const app = KvApp.fromGenesis(CHAIN_ID, {})
    const ok = signTx(alice, 0, { type: 'set', key: 'k', value: 'v' })
    const forged = decodeTx(signTx(alice, 1, { type: 'set', key: 'k', value: 'v' }))
    const badSig = encodeTx({ ...forged, op: { type: 'set', key: 'k', value: 'evil' } })
    expect(app.execute([ok, badSig])).to.deep.equal({ ok: false, index: 1, reason: 'bad_signature' })
    expect(app.execute([ok, ok])).to.deep.equal({ ok: false, index: 1, reason: 'bad_nonce' })
    expect(app.execute([signTx(alice, 1, { type: 'del', key: 'k' })])).to.deep.equal({
      ok: false,
      index: 0,
      reason: 'bad_nonce',
    })
    expect(app.execute([ok, signTx(bob, 0, { type: 'del', key: 'k' }, 'other')])).to.deep.equal({
      ok: false,
      index: 1,
      reason: 'wrong_chain',
    })
    expect(app.execute([new Uint8Array([1, 2, 3])])).to.deep.equal({
      ok: false,
      index: 0,
      reason: 'malformed',
    })
  })

  it('rejects a replay of a tx from an earlier block', () => {
    const app = KvApp.fromGenesis(CHAIN_ID, {})
    const tx = signTx(alice, 0, { type: 'set', key: 'k', value: 'v' })
    app.apply(mustExecute(app, [tx]))
    expect(app.execute([tx])).to.deep.equal({ ok: false, index: 0, reason: 'bad_nonce' })
    expect(app.checkTx(tx)).to.deep.equal({ ok: false, reason: 'bad_nonce' })
  })

  it('checkTx admits future nonces, remembers verified signatures, rejects forgeries', () => {
    const app = KvApp.fromGenesis(CHAIN_ID, {})
    const future = signTx(alice, 3, { type: 'set', key: 'k', value: 'v' })
    const r = app.checkTx(future)
    expect(r.ok).to.equal(true)
    expect(app.signatures.size).to.equal(1)
    const forged = encodeTx({ ...decodeTx(future), nonce: 4 })
    expect(app.checkTx(forged)).to.deep.equal({ ok: false, reason: 'bad_signature' })
    expect(app.signatures.size).to.equal(1)
  })

  it('refuses stale or foreign executions', () => {
    const app = KvApp.fromGenesis(CHAIN_ID, {})
    const other = KvApp.fromGenesis(CHAIN_ID, {})
    const a = mustExecute(app, [signTx(alice, 0, { type: 'set', key: 'x', value: '1' })])
    const b = mustExecute(app, [signTx(bob, 0, { type: 'set', key: 'y', value: '1' })])
    expect(() => other.apply(a)).to.throw(AppStateError, /not produced by this app/)
    app.apply(a)
    expect(() => app.apply(b)).to.throw(AppStateError, /stale/)
    expect(() => app.apply(a)).to.throw(AppStateError)
  })

  it('is deterministic: same blocks give the same hash, different ops a different one', () => {
    const run = (value: string): Uint8Array[] => {
      const app = KvApp.fromGenesis(CHAIN_ID, { seed: 's' })
      const hashes: Uint8Array[] = []
      for (let h = 0; h < 5; h++) {
        const txs = [
          signTx(alice, h, { type: 'set', key: `k${h}`, value }),
          signTx(
            bob,
            h,
            h % 2 === 0 ? { type: 'del', key: `k${h - 1}` } : { type: 'set', key: 'b', value: `${h}` },
          ),
        ]
        app.apply(mustExecute(app, txs))
        hashes.push(app.appHash())
      }
      return hashes
    }
    expect(run('v')).to.deep.equal(run('v'))
    const a = run('v')
    const b = run('w')
    for (let i = 0; i < a.length; i++) expect(a[i]).not.to.deep.equal(b[i])
  })

  it('nonces are part of the state hash (a del of a missing key still changes it)', () => {
    const app = KvApp.fromGenesis(CHAIN_ID, {})
    const before = app.appHash()
    app.apply(mustExecute(app, [signTx(alice, 0, { type: 'del', key: 'nothing' })]))
    expect(app.appHash()).not.to.deep.equal(before)
  })

  it('reloads from the store with the same state and hash', async () => {
    const store = await ChainStore.memory()
    const validators = makeValidators(4)
    const app = KvApp.fromGenesis(CHAIN_ID, { g: '1' })
    await store.init(makeGenesisBlock(CHAIN_ID, 1_000, app.appHash()), app.stateEntries())
    for (let h = 1; h <= 3; h++) {
      const txs = [
        signTx(alice, h - 1, { type: 'set', key: `k${h}`, value: `v${h}` }),
        signTx(bob, h - 1, { type: 'del', key: h === 2 ? 'g' : 'none' }),
      ]
      const tip = store.tip()
      const block = buildBlock({ parent: tip.header, txs, appHash: tip.appHash, validators })
      const ex = mustExecute(app, txs)
      await store.commitBlock(block, certify(block, validators), ex)
      app.apply(ex)
    }
    const reloaded = await KvApp.load(store, CHAIN_ID)
    expect(reloaded.appHash()).to.deep.equal(app.appHash())
    expect(reloaded.height).to.equal(3)
    expect(reloaded.query('k3')).to.equal('v3')
    expect(reloaded.query('g')).to.equal(null)
    expect(reloaded.nonce(alice.publicKey)).to.equal(3)
    expect(reloaded.nonce(bob.publicKey)).to.equal(3)
    await store.close()
  })

  it('refuses to load a store whose state does not match its tip', async () => {
    const store = await ChainStore.memory()
    const app = KvApp.fromGenesis(CHAIN_ID, { g: '1' })
    await store.init(makeGenesisBlock(CHAIN_ID, 1_000, app.appHash()), [])
    await expectReject(KvApp.load(store, CHAIN_ID), AppStateError)
    await store.close()
  })
})

async function expectReject(p: Promise<unknown>, type: new (...args: never[]) => Error): Promise<void> {
  try {
    await p
  } catch (err) {
    expect(err).to.be.instanceOf(type)
    return
  }
  expect.fail('expected a rejection')
}
