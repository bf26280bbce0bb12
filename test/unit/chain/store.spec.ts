import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { KvApp } from '../../../src/app/kv-app.js'
import { Bucket, heightKey, prefixed } from '../../../src/chain/buckets.js'
import { makeGenesisBlock } from '../../../src/chain/genesis-block.js'
import { type BatchOp, type KvBackend, LevelBackend, MemoryBackend } from '../../../src/chain/kv-backend.js'
import { ChainStore } from '../../../src/chain/store.js'
import { StoreError } from '../../../src/chain/store-error.js'
import { blockHash, txHash } from '../../../src/codec/chain.js'
import type { Block } from '../../../src/codec/types.js'
import { sha256 } from '../../../src/crypto/hash.js'
import {
  buildBlock,
  CHAIN_ID,
  certify,
  makeValidators,
  seededSigner,
  signTx,
} from '../../fixtures/chain-builders.js'

const validators = makeValidators(4)
const alice = seededSigner('alice')

async function expectStoreError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await p
  } catch (err) {
    expect(err).to.be.instanceOf(StoreError)
    expect((err as Error).message).to.match(pattern)
    return
  }
  expect.fail('expected a StoreError')
}

/** Commits `count` blocks of 2 txs each; returns the blocks (index = height). */
async function fillChain(store: ChainStore, app: KvApp, count: number): Promise<Block[]> {
  const blocks: Block[] = []
  for (let i = 0; i < count; i++) {
    const tip = store.tip()
    const n = app.nonce(alice.publicKey)
    const txs = [
      signTx(alice, n, { type: 'set', key: `k${tip.height}`, value: 'v' }),
      signTx(alice, n + 1, { type: 'del', key: 'g' }),
    ]
    const block = buildBlock({ parent: tip.header, txs, appHash: tip.appHash, validators, view: i })
    const ex = app.execute(txs)
    if (!ex.ok) throw new Error(ex.reason)
    await store.commitBlock(block, certify(block, validators, [0, 1, 2]), ex)
    app.apply(ex)
    blocks[block.header.height] = block
  }
  return blocks
}

/** Every entry of a backend, in key order. */
async function collect(backend: MemoryBackend): Promise<[Uint8Array, Uint8Array][]> {
  const out: [Uint8Array, Uint8Array][] = []
  for await (const e of backend.range(new Uint8Array(), new Uint8Array([0xff, 0xff]))) out.push(e)
  return out
}

describe('chain/store', () => {
  let dir: string
  const stores: ChainStore[] = []

  async function open(): Promise<ChainStore> {
    const s = await ChainStore.open(join(dir, 'data'))
    stores.push(s)
    return s
  }

  async function openInitialised(): Promise<{ store: ChainStore; app: KvApp; genesis: Block }> {
    const store = await open()
    const app = KvApp.fromGenesis(CHAIN_ID, { g: 'genesis' })
    const genesis = makeGenesisBlock(CHAIN_ID, 1_000, app.appHash())
    await store.init(genesis, app.stateEntries())
    return { store, app, genesis }
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pbft-store-'))
  })

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('starts empty, and init stores genesis as the tip', async () => {
    const store = await open()
    expect(store.initialized).to.equal(false)
    expect(() => store.tip()).to.throw(StoreError, /not initialised/)
    const app = KvApp.fromGenesis(CHAIN_ID, { g: 'genesis' })
    const genesis = makeGenesisBlock(CHAIN_ID, 1_000, app.appHash())
    await store.init(genesis, app.stateEntries())
    const tip = store.tip()
    expect(tip.height).to.equal(0)
    expect(tip.hash).to.deep.equal(blockHash(genesis.header))
    expect(tip.appHash).to.deep.equal(app.appHash())
    expect(await store.getBlock(0)).to.deep.equal(genesis)
    expect(await store.getCertificate(0)).to.equal(undefined)
    expect(store.genesisHash()).to.deep.equal(blockHash(genesis.header))
  })

  it('init is idempotent for the same genesis and refuses another', async () => {
    const { store, genesis } = await openInitialised()
    await store.init(genesis)
    const other = makeGenesisBlock('another-chain', 1_000, genesis.header.appHash)
    await expectStoreError(store.init(other), /holds a chain with genesis 0x[0-9a-f]+, not 0x/)
  })

  it('stores blocks by height and hash, certificates, the tx index and the tip', async () => {
    const { store, app } = await openInitialised()
    const blocks = await fillChain(store, app, 5)
    expect(store.tip().height).to.equal(5)
    for (let h = 1; h <= 5; h++) {
      const block = blocks[h] as Block
      const hash = blockHash(block.header)
      expect(await store.getBlock(h)).to.deep.equal(block)
      expect(await store.getBlockByHash(hash)).to.deep.equal(block)
      expect(await store.getHeightByHash(hash)).to.equal(h)
      const cert = await store.getCertificate(h)
      expect(cert?.blockHash).to.deep.equal(hash)
      expect(cert?.votes.map((v) => v.validator)).to.deep.equal([0, 1, 2])
      for (let i = 0; i < block.txs.length; i++) {
        expect(await store.getTxLocation(txHash(block.txs[i] as Uint8Array))).to.deep.equal({
          height: h,
          index: i,
        })
      }
    }
    expect(await store.getBlock(6)).to.equal(undefined)
    expect(await store.getBlockByHash(sha256())).to.equal(undefined)
    expect(await store.getTxLocation(sha256())).to.equal(undefined)
    expect(await store.getTxLocation(new Uint8Array(3))).to.equal(undefined)
    const headers = await store.getHeaders(2, 10)
    expect(headers.map((h) => h.height)).to.deep.equal([2, 3, 4, 5])
    expect(headers[0]?.hash).to.deep.equal(blockHash((blocks[2] as Block).header))
    expect(await store.getHeaders(4, 3)).to.deep.equal([])
    expect((await store.getHeaders(-5, 0)).map((h) => h.height)).to.deep.equal([0])
  })

  it('refuses a block that does not extend the tip or a certificate for another block', async () => {
    const { store, app, genesis } = await openInitialised()
    const blocks = await fillChain(store, app, 1)
    const b1 = blocks[1] as Block
    const ex = app.execute([])
    if (!ex.ok) throw new Error('empty block must execute')
    await expectStoreError(store.commitBlock(b1, certify(b1, validators), ex), /does not extend/)
    const fork = buildBlock({
      parent: genesis.header,
      txs: [],
      appHash: genesis.header.appHash,
      validators,
      view: 1,
    })
    const wrongParent = { ...fork, header: { ...fork.header, height: 2 } }
    await expectStoreError(store.commitBlock(wrongParent, certify(wrongParent, validators), ex), /has parent/)
    const b2 = buildBlock({ parent: b1.header, txs: [], appHash: store.tip().appHash, validators })
    await expectStoreError(
      store.commitBlock(b2, certify(b1, validators), ex),
      /certificate is not for block 2/,
    )
    expect(store.tip().height).to.equal(1)
  })

  it('reopens after close with the same tip, blocks and app state', async () => {
    const first = await openInitialised()
    await fillChain(first.store, first.app, 3)
    const tip = first.store.tip()
    await first.store.close()
    const store = await open()
    expect(store.tip()).to.deep.equal(tip)
    expect((await store.getBlock(3))?.header).to.deep.equal(tip.header)
    const app = await KvApp.load(store, CHAIN_ID)
    expect(app.appHash()).to.deep.equal(first.app.appHash())
    expect(app.query('g')).to.equal(null)
    expect(app.query('k2')).to.equal('v')
    // and the chain continues from there
    await fillChain(store, app, 1)
    expect(store.tip().height).to.equal(4)
  })

  it('keeps a durable WAL: put, list in key order, delete', async () => {
    const store = await open()
    await store.walPut([{ key: 'vote/2/commit', value: new Uint8Array([2]) }])
    await store.walPut([{ key: 'vote/1/prepare', value: new Uint8Array([1]) }])
    await store.walPut([{ key: 'vote/2/commit', value: new Uint8Array([3]) }])
    expect(await store.walEntries()).to.deep.equal([
      { key: 'vote/1/prepare', value: new Uint8Array([1]) },
      { key: 'vote/2/commit', value: new Uint8Array([3]) },
    ])
    await store.close()
    const reopened = await open()
    expect(await reopened.walEntries()).to.have.length(2)
    await reopened.walDelete(['vote/1/prepare', 'missing'])
    expect((await reopened.walEntries()).map((e) => e.key)).to.deep.equal(['vote/2/commit'])
  })

  it('keeps meta values and reserves its own names', async () => {
    const store = await open()
    await store.metaPut('view', new Uint8Array([9]))
    expect(await store.metaGet('view')).to.deep.equal(new Uint8Array([9]))
    await expectStoreError(store.metaPut('tip', new Uint8Array()), /reserved/)
    await expectStoreError(store.metaPut('flush', new Uint8Array()), /reserved/)
  })

  it('commits without an fsync when asked (catch-up), and flush() syncs without changing anything', async () => {
    /** A memory backend that records each batch's size and sync flag. */
    class RecordingBackend implements KvBackend {
      readonly batches: { ops: number; sync: boolean }[] = []
      readonly inner = new MemoryBackend()
      get = (key: Uint8Array) => this.inner.get(key)
      range = (gte: Uint8Array, lt: Uint8Array) => this.inner.range(gte, lt)
      close = () => this.inner.close()
      async batch(ops: readonly BatchOp[], sync: boolean): Promise<void> {
        this.batches.push({ ops: ops.length, sync })
        await this.inner.batch(ops)
      }
    }
    const backend = new RecordingBackend()
    const store = await ChainStore.withBackend(backend)
    const app = KvApp.fromGenesis(CHAIN_ID, { g: 'genesis' })
    await store.init(makeGenesisBlock(CHAIN_ID, 1_000, app.appHash()), app.stateEntries())
    const tip = store.tip()
    const txs = [signTx(alice, 0, { type: 'set', key: 'k', value: 'v' })]
    const block = buildBlock({ parent: tip.header, txs, appHash: tip.appHash, validators })
    const ex = app.execute(txs)
    if (!ex.ok) throw new Error(ex.reason)
    backend.batches.length = 0
    await store.commitBlock(block, certify(block, validators, [0, 1, 2]), ex, { durable: false })
    expect(backend.batches).to.have.length(1)
    expect(backend.batches[0]?.sync).to.equal(false)
    expect(store.tip().height).to.equal(1)
    const before = await collect(backend.inner)
    await store.flush()
    expect(backend.batches[1]).to.deep.equal({ ops: 1, sync: true })
    expect(await collect(backend.inner)).to.deep.equal(before)
    await store.close()
  })

  it('reports corrupt records as StoreError', async () => {
    const { store, app } = await openInitialised()
    await fillChain(store, app, 2)
    await store.close()
    const raw = await LevelBackend.open(join(dir, 'data'))
    await raw.batch(
      [
        { type: 'put', key: prefixed(Bucket.blockByHeight, heightKey(1)), value: new Uint8Array([3, 1, 2]) },
        { type: 'put', key: prefixed(Bucket.certificateByHeight, heightKey(2)), value: new Uint8Array([9]) },
      ],
      true,
    )
    await raw.close()
    const reopened = await open()
    await expectStoreError(reopened.getBlock(1), /corrupt blockByHeight record/)
    await expectStoreError(reopened.getCertificate(2), /corrupt certificateByHeight record/)
    await reopened.close()
    const raw2 = await LevelBackend.open(join(dir, 'data'))
    await raw2.batch(
      [{ type: 'put', key: prefixed(Bucket.headerByHeight, heightKey(2)), value: new Uint8Array([2]) }],
      true,
    )
    await raw2.close()
    await expectStoreError(ChainStore.open(join(dir, 'data')), /corrupt headerByHeight record/)
  })

  it('refuses a second opener of the same directory with a clear error', async () => {
    await open()
    await expectStoreError(ChainStore.open(join(dir, 'data')), /cannot open the database/)
  })

  it('an in-memory store behaves the same', async () => {
    const store = await ChainStore.memory()
    const app = KvApp.fromGenesis(CHAIN_ID, { g: 'genesis' })
    await store.init(makeGenesisBlock(CHAIN_ID, 1_000, app.appHash()), app.stateEntries())
    await fillChain(store, app, 3)
    expect((await store.getHeaders(0, 100)).map((h) => h.height)).to.deep.equal([0, 1, 2, 3])
    expect((await KvApp.load(store, CHAIN_ID)).appHash()).to.deep.equal(app.appHash())
    await store.close()
  })
})
