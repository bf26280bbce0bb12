import { expect } from 'chai'
import { type Execution, KvApp } from '../../../src/app/kv-app.js'
import { makeGenesisBlock } from '../../../src/chain/genesis-block.js'
import { merkleRoot } from '../../../src/chain/merkle.js'
import { type ValidationContext, validateBlock } from '../../../src/chain/validation.js'
import { blockHash, decodeTx, encodeTx, type HashedTx, txHash } from '../../../src/codec/chain.js'
import { MAX_TX_BYTES } from '../../../src/codec/limits.js'
import type { Block, BlockHeader } from '../../../src/codec/types.js'
import { sha256 } from '../../../src/crypto/hash.js'
import { buildBlock, CHAIN_ID, makeValidators, seededSigner, signTx } from '../../fixtures/chain-builders.js'

const validators = makeValidators(4)
const alice = seededSigner('alice')
const bob = seededSigner('bob')
const NOW = 1_700_000_100_000
const DRIFT = 5_000

describe('chain/validation', () => {
  let app: KvApp
  let parent: BlockHeader

  beforeEach(() => {
    app = KvApp.fromGenesis(CHAIN_ID, { a: '1' })
    parent = makeGenesisBlock(CHAIN_ID, NOW - 60_000, app.appHash()).header
  })

  function ctx(over: Partial<ValidationContext<Execution>> = {}): ValidationContext<Execution> {
    return {
      chainId: CHAIN_ID,
      parent,
      parentHash: blockHash(parent),
      validators: validators.set,
      view: 1,
      now: NOW,
      maxClockDriftMs: DRIFT,
      appHash: app.appHash(),
      execute: (txs: readonly HashedTx[]) => app.execute(txs),
      ...over,
    }
  }

  const goodTxs = () => [
    signTx(alice, 0, { type: 'set', key: 'x', value: '1' }),
    signTx(alice, 1, { type: 'del', key: 'a' }),
    signTx(bob, 0, { type: 'set', key: 'y', value: '2' }),
  ]

  function block(txs = goodTxs(), header: Partial<BlockHeader> = {}): Block {
    const b = buildBlock({ parent, txs, appHash: app.appHash(), validators, view: 1, timestamp: NOW })
    return { header: { ...b.header, ...header }, txs }
  }

  function reason(b: Block, c = ctx()): string {
    const r = validateBlock(b, c)
    return r.ok ? 'ok' : r.reason
  }

  it('accepts a valid block and returns its execution, hash and tx hashes', () => {
    const b = block()
    const r = validateBlock(b, ctx())
    if (!r.ok) expect.fail(r.reason)
    expect(r.hash).to.deep.equal(blockHash(b.header))
    expect(r.txHashes).to.deep.equal(b.txs.map(txHash))
    expect(r.execution.appHash).not.to.deep.equal(app.appHash())
    app.apply(r.execution)
    expect(app.query('x')).to.equal('1')
  })

  it('accepts an empty block, and a proposer given explicitly', () => {
    expect(reason(block([]))).to.equal('ok')
    const v2 = validators.set.primary(2).publicKey
    expect(
      reason(block([], { view: 2, proposer: v2 }), ctx({ view: undefined, expectedProposer: v2 })),
    ).to.equal('ok')
  })

  it('rejects each tampered header field', () => {
    expect(reason(block(undefined, { chainId: 'other' }))).to.equal('wrong_chain')
    expect(reason(block(undefined, { height: 2 }))).to.equal('bad_height')
    expect(reason(block(undefined, { height: 0 }))).to.equal('bad_height')
    expect(reason(block(undefined, { parentHash: sha256() }))).to.equal('wrong_parent')
    expect(reason(block(undefined, { view: 2 }))).to.equal('bad_view')
    // without an expected view, a view whose primary is someone else fails on the proposer
    expect(reason(block(undefined, { view: 2 }), ctx({ view: undefined }))).to.equal('bad_proposer')
    expect(reason(block(undefined, { proposer: validators.set.primary(0).publicKey }))).to.equal(
      'bad_proposer',
    )
    expect(reason(block(undefined, { proposer: alice.publicKey }))).to.equal('bad_proposer')
    expect(reason(block(undefined, { timestamp: parent.timestamp }))).to.equal('bad_timestamp')
    expect(reason(block(undefined, { timestamp: parent.timestamp - 1 }))).to.equal('bad_timestamp')
    expect(reason(block(undefined, { timestamp: NOW + DRIFT + 1 }))).to.equal('bad_timestamp')
    expect(reason(block(undefined, { timestamp: NOW + DRIFT }))).to.equal('ok')
    expect(reason(block(undefined, { txRoot: merkleRoot([]) }))).to.equal('bad_tx_root')
    expect(reason(block(undefined, { appHash: sha256() }))).to.equal('bad_app_hash')
  })

  it('rejects txs reordered or swapped under a fixed tx_root', () => {
    const b = block()
    expect(reason({ header: b.header, txs: [...b.txs].reverse() })).to.equal('bad_tx_root')
    expect(reason({ header: b.header, txs: b.txs.slice(1) })).to.equal('bad_tx_root')
  })

  it('rejects a tx with a bad signature, naming its index', () => {
    const txs = goodTxs()
    const forged = decodeTx(txs[2] as Uint8Array)
    txs[2] = encodeTx({ ...forged, op: { type: 'set', key: 'y', value: 'stolen' } })
    expect(reason(block(txs))).to.equal('invalid_tx:2:bad_signature')
  })

  it('rejects a replayed tx and a nonce gap', () => {
    const first = goodTxs()
    app.apply(validateBlockOrFail(block(first)))
    parent = block(first).header
    const replay = [first[2] as Uint8Array]
    expect(reason(block(replay, { timestamp: NOW + 1 }))).to.equal('invalid_tx:0:bad_nonce')
    const next = [signTx(alice, 2, { type: 'set', key: 'x', value: '3' })]
    expect(reason(block(next, { timestamp: NOW + 1 }))).to.equal('ok')
    const gap = [signTx(alice, 3, { type: 'set', key: 'x', value: '3' })]
    expect(reason(block(gap, { timestamp: NOW + 1 }))).to.equal('invalid_tx:0:bad_nonce')
  })

  it('rejects a tx for another chain', () => {
    const txs = [...goodTxs(), signTx(bob, 1, { type: 'set', key: 'z', value: '1' }, 'other-chain')]
    expect(reason(block(txs))).to.equal('invalid_tx:3:wrong_chain')
  })

  it('rejects an oversized or undecodable tx', () => {
    const big = new Uint8Array(MAX_TX_BYTES + 1)
    expect(reason(block([...goodTxs(), big]))).to.equal('too_large')
    expect(reason(block([...goodTxs(), new Uint8Array([1, 0])]))).to.equal('invalid_tx:3:malformed')
  })

  it('hands execution each tx with the hash of exactly its bytes (the tx root’s hashes)', () => {
    const b = block()
    const seen: HashedTx[] = []
    const execute = (txs: readonly HashedTx[]) => {
      seen.push(...txs)
      return app.execute(txs)
    }
    const r = validateBlock(b, ctx({ execute }))
    if (!r.ok) expect.fail(r.reason)
    expect(seen.map((t) => t.bytes)).to.deep.equal(b.txs)
    for (const t of seen) expect(t.hash).to.deep.equal(txHash(t.bytes))
    expect(seen.map((t) => t.hash)).to.deep.equal(r.txHashes)
  })

  it('verifies a tampered tx although the original’s signature is cached (carried hash ≠ cache hit)', () => {
    const txs = goodTxs()
    // this node verified the three good txs (e.g. from gossip)
    for (const t of txs) app.signatures.add(txHash(t))
    // a block whose tx 1 is the original with one signature bit flipped, under a matching tx_root
    const tampered = txs.slice()
    const bad = (txs[1] as Uint8Array).slice()
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1
    tampered[1] = bad
    expect(reason(block(tampered))).to.equal('invalid_tx:1:bad_signature')
    expect(reason(block(txs))).to.equal('ok')
  })

  it('rejects a duplicate tx', () => {
    const txs = goodTxs()
    expect(reason(block([...txs, txs[0] as Uint8Array]))).to.equal('duplicate_tx')
  })

  function validateBlockOrFail(b: Block) {
    const r = validateBlock(b, ctx())
    if (!r.ok) throw new Error(r.reason)
    return r.execution
  }
})
