import { expect } from 'chai'
import { type Execution, KvApp } from '../../../src/app/kv-app.js'
import { AppStateError } from '../../../src/app/state-keys.js'
import { StateTree } from '../../../src/app/state-tree.js'
import { makeGenesisBlock } from '../../../src/chain/genesis-block.js'
import { merkleRoot } from '../../../src/chain/merkle.js'
import { blockHash, txHash } from '../../../src/codec/chain.js'
import { bytesEqual } from '../../../src/crypto/hash.js'
import { Mempool } from '../../../src/mempool/mempool.js'
import { buildProposal } from '../../../src/node/block-builder.js'
import {
  type CommittedTip,
  MAX_CLOCK_DRIFT_MS,
  SpeculativeExecutions,
} from '../../../src/node/speculative.js'
import { buildBlock, CHAIN_ID, makeValidators, seededSigner, signTx } from '../../fixtures/chain-builders.js'

/** Pipelining's execution side: blocks executed on top of blocks that are not final yet. */
const alice = seededSigner('spec-alice')
const bob = seededSigner('spec-bob')
const validators = makeValidators(4)
const set = (key: string, value: string) => ({ type: 'set' as const, key, value })
const GENESIS_TIME = 1_700_000_000_000

function ok(r: Execution | { ok: false; reason: string; index: number }): Execution {
  if (!r.ok) throw new Error(`execution failed: ${r.reason}`)
  return r
}

describe('app: execution on an uncommitted parent (pipelining)', () => {
  it('StateTree.prepare on a base patch = the root of both change sets; committing base then child is consistent', () => {
    const e = new TextEncoder()
    const a = [{ key: e.encode('a'), value: e.encode('1') }]
    const b = [
      { key: e.encode('b'), value: e.encode('2') },
      { key: e.encode('a'), value: e.encode('3') },
    ]
    const tree = new StateTree()
    const p1 = tree.prepare(a)
    const p2 = tree.prepare(b, p1)
    const expected = StateTree.fromEntries([
      { key: e.encode('a'), value: e.encode('3') },
      { key: e.encode('b'), value: e.encode('2') },
    ]).root()
    expect(bytesEqual(p2.root, expected)).to.equal(true)
    tree.commit(p1)
    expect(bytesEqual(tree.root(), p1.root)).to.equal(true)
    tree.commit(p2)
    expect(bytesEqual(tree.root(), expected)).to.equal(true)
  })

  it('KvApp.execute(txs, base) continues nonces and state from base; apply only in chain order', () => {
    const app = KvApp.fromGenesis(CHAIN_ID, { k: 'g' })
    const e1 = ok(app.execute([signTx(alice, 0, set('k', '1')), signTx(alice, 1, set('k', '2'))]))
    // nonce 2 is next on top of e1 (and a replay of nonce 1 is refused there).
    expect(app.nonceAfter(e1, alice.publicKey)).to.equal(2)
    expect(app.nonce(alice.publicKey)).to.equal(0)
    const replay = app.execute([signTx(alice, 1, set('k', 'x'))], e1)
    expect(replay.ok === false && replay.reason).to.equal('bad_nonce')
    const e2 = ok(app.execute([signTx(alice, 2, set('k', '3')), signTx(bob, 0, set('b', '1'))], e1))
    // The same txs applied one block at a time on a fresh app give the same roots.
    const fresh = KvApp.fromGenesis(CHAIN_ID, { k: 'g' })
    fresh.apply(ok(fresh.execute([signTx(alice, 0, set('k', '1')), signTx(alice, 1, set('k', '2'))])))
    const f2 = ok(fresh.execute([signTx(alice, 2, set('k', '3')), signTx(bob, 0, set('b', '1'))]))
    expect(bytesEqual(e2.appHash, f2.appHash)).to.equal(true)
    expect(app.canApply(e2), 'not before its base').to.equal(false)
    expect(() => app.apply(e2)).to.throw(AppStateError)
    app.apply(e1)
    expect(app.canApply(e2)).to.equal(true)
    app.apply(e2)
    expect(app.query('k')).to.equal('3')
    expect(app.query('b')).to.equal('1')
    expect(bytesEqual(app.appHash(), e2.appHash)).to.equal(true)
    // e1 is applied: it can no longer be a base.
    expect(() => app.execute([], e1)).to.throw(AppStateError)
  })

  it('a child of a parent that lost (another block committed at its height) is refused at apply', () => {
    const app = KvApp.fromGenesis(CHAIN_ID, {})
    const parentA = ok(app.execute([signTx(alice, 0, set('k', 'a'))]))
    const parentB = ok(app.execute([signTx(bob, 0, set('k', 'b'))]))
    const childOfA = ok(app.execute([signTx(alice, 1, set('k', 'a2'))], parentA))
    app.apply(parentB)
    expect(app.canApply(childOfA)).to.equal(false)
    expect(() => app.apply(childOfA)).to.throw(AppStateError)
    expect(app.canApply(parentA), 'the loser itself is stale too').to.equal(false)
  })

  it('Mempool.reap with the nonces after in-flight blocks skips their txs', () => {
    const app = KvApp.fromGenesis(CHAIN_ID, {})
    const pool = new Mempool({ chainId: CHAIN_ID, state: app, now: () => 0 })
    const txs = [0, 1, 2, 3].map((n) => signTx(alice, n, set('k', `${n}`)))
    for (const t of txs) pool.add(t)
    const e1 = ok(app.execute(txs.slice(0, 2)))
    expect(pool.reap(10, 1 << 20)).to.have.length(4)
    const after = pool.reap(10, 1 << 20, { nonce: (a) => app.nonceAfter(e1, a) })
    expect(after.map((t) => Buffer.from(t).toString('hex'))).to.deep.equal(
      txs.slice(2).map((t) => Buffer.from(t).toString('hex')),
    )
  })
})

describe('node/speculative: SpeculativeExecutions (shared by the node and the simulator)', () => {
  function setup() {
    const app = KvApp.fromGenesis(CHAIN_ID, {})
    const genesis = makeGenesisBlock(CHAIN_ID, GENESIS_TIME, app.appHash())
    const tip: CommittedTip = {
      height: 0,
      hash: blockHash(genesis.header),
      header: genesis.header,
      appHash: app.appHash(),
    }
    const spec = new SpeculativeExecutions(app, {
      chainId: CHAIN_ID,
      validators: validators.set,
      maxClockDriftMs: MAX_CLOCK_DRIFT_MS,
    })
    return { app, genesis, tip, spec }
  }
  const now = GENESIS_TIME + 60_000

  it('validates block 2 on top of block 1 before block 1 is final, and reuses both executions at commit', () => {
    const { app, genesis, tip, spec } = setup()
    const b1 = buildBlock({
      parent: genesis.header,
      txs: [signTx(alice, 0, set('k', '1'))],
      appHash: tip.appHash,
      validators,
    })
    const v1 = spec.validate(tip, b1, [], now)
    if (!v1.ok) throw new Error(v1.reason)
    const b2 = buildBlock({
      parent: b1.header,
      txs: [signTx(alice, 1, set('k', '2'))],
      appHash: v1.execution.appHash,
      validators,
    })
    // Without its parent chain it is invalid (nonce, app_hash, parent); with it, valid.
    expect(spec.validate(tip, b2, [], now).ok).to.equal(false)
    const v2 = spec.validate(tip, b2, [b1], now)
    if (!v2.ok) throw new Error(v2.reason)
    // A wrong app_hash on top of block 1 is caught.
    const bad = { ...b2, header: { ...b2.header, appHash: tip.appHash } }
    expect(spec.validate(tip, bad, [b1], now)).to.deep.include({ ok: false })
    // Commit 1 then 2: the very executions from validation are applied.
    const f1 = spec.finalExecution(tip, b1)
    expect(f1.ok && f1.execution === v1.execution).to.equal(true)
    app.apply(v1.execution)
    const tip1: CommittedTip = {
      height: 1,
      hash: blockHash(b1.header),
      header: b1.header,
      appHash: app.appHash(),
    }
    spec.pruneTo(1)
    const f2 = spec.finalExecution(tip1, b2)
    expect(f2.ok && f2.execution === v2.execution).to.equal(true)
    if (f2.ok) app.apply(f2.execution)
    expect(app.query('k')).to.equal('2')
  })

  it('ancestors that do not extend the tip are refused; a block whose cached base lost is executed again', () => {
    const { app, genesis, tip, spec } = setup()
    const b1 = buildBlock({
      parent: genesis.header,
      txs: [signTx(alice, 0, set('k', 'a'))],
      appHash: tip.appHash,
      validators,
    })
    const b1x = buildBlock({
      parent: genesis.header,
      txs: [signTx(bob, 0, set('k', 'b'))],
      appHash: tip.appHash,
      validators,
      timestamp: genesis.header.timestamp + 2000,
    })
    const v1 = spec.validate(tip, b1, [], now)
    const v1x = spec.validate(tip, b1x, [], now)
    if (!v1.ok || !v1x.ok) throw new Error('setup')
    const b2 = buildBlock({
      parent: b1.header,
      txs: [signTx(alice, 1, set('k', 'a2'))],
      appHash: v1.execution.appHash,
      validators,
    })
    expect(spec.validate(tip, b2, [b1], now).ok).to.equal(true)
    // b1x wins height 1: b2 (child of b1) no longer has a valid chain on the tip.
    app.apply(v1x.execution)
    const tip1: CommittedTip = {
      height: 1,
      hash: blockHash(b1x.header),
      header: b1x.header,
      appHash: app.appHash(),
    }
    expect(spec.resolve(tip, [b2]), 'height 2 does not extend genesis').to.equal(null)
    expect(spec.resolve(tip1, [b1, b2]), 'b2 does not extend the committed b1x').to.equal(null)
    expect(spec.validate(tip1, b2, [], now).ok, 'b2 does not extend b1x').to.equal(false)
    // A child of the winner validated now is computed on committed state and applies.
    const b2x = buildBlock({
      parent: b1x.header,
      txs: [signTx(bob, 1, set('k', 'b2'))],
      appHash: app.appHash(),
      validators,
    })
    const f = spec.finalExecution(tip1, b2x)
    expect(f.ok).to.equal(true)
    if (f.ok) expect(app.canApply(f.execution)).to.equal(true)
  })

  it('buildProposal builds its tx root and execution from the pool’s hashes: a replica computing its own agrees', () => {
    const { app, genesis, tip } = setup()
    const pool = new Mempool({ chainId: CHAIN_ID, state: app, now: () => 0 })
    const txs = [
      signTx(alice, 0, set('k', '0')),
      signTx(bob, 0, set('b', '0')),
      signTx(alice, 1, set('k', '1')),
    ]
    for (const t of txs) pool.add(t)
    const built = buildProposal({
      mempool: pool,
      app,
      limits: { maxBlockTxs: 10, maxBlockBytes: 1 << 20 },
      chainId: CHAIN_ID,
      height: 1,
      view: 0,
      proposer: validators.set.primary(0).publicKey,
      parentHash: tip.hash,
      parentHeader: genesis.header,
      appHash: tip.appHash,
      now: GENESIS_TIME + 1000,
    })
    if (built === null || built.execution === undefined) throw new Error('no block')
    expect(built.block.txs).to.have.length(3)
    expect(built.block.header.txRoot).to.deep.equal(merkleRoot(built.block.txs.map(txHash)))
    expect(built.execution.results.map((r) => r.hash)).to.deep.equal(built.block.txs.map(txHash))
    // another node (its own app and cache) validates the block from its bytes alone
    const replica = setup()
    const v = replica.spec.validate(replica.tip, built.block, [], GENESIS_TIME + 1000)
    if (!v.ok) expect.fail(v.reason)
    expect(v.execution.appHash).to.deep.equal(built.execution.appHash)
  })

  it('buildProposal on top of an uncommitted parent reaps the txs after it and carries its app_hash', () => {
    const { app, genesis, tip, spec } = setup()
    const pool = new Mempool({ chainId: CHAIN_ID, state: app, now: () => 0 })
    for (const n of [0, 1, 2]) pool.add(signTx(alice, n, set('k', `${n}`)))
    const first = buildProposal({
      mempool: pool,
      app,
      limits: { maxBlockTxs: 2, maxBlockBytes: 1 << 20 },
      chainId: CHAIN_ID,
      height: 1,
      view: 0,
      proposer: validators.set.primary(0).publicKey,
      parentHash: tip.hash,
      parentHeader: genesis.header,
      appHash: tip.appHash,
      now: GENESIS_TIME + 1000,
    })
    if (first === null || first.execution === undefined) throw new Error('no first block')
    const chain = spec.resolve(tip, [])
    expect(chain?.execution).to.equal(undefined)
    spec.remember(first.block, first.execution, undefined)
    const onTop = spec.resolve(tip, [first.block])
    if (onTop === null || onTop.execution === undefined) throw new Error('no chain')
    const onTopOf = (maxBlockTxs: number, minTxs?: number) =>
      buildProposal({
        mempool: pool,
        app,
        limits: { maxBlockTxs, maxBlockBytes: 1 << 20 },
        chainId: CHAIN_ID,
        height: 2,
        view: 0,
        proposer: validators.set.primary(0).publicKey,
        parentHash: onTop.hash,
        parentHeader: onTop.header,
        appHash: onTop.appHash,
        now: GENESIS_TIME + 2000,
        base: onTop.execution,
        ...(minTxs === undefined ? {} : { minTxs }),
      })
    const second = onTopOf(10)
    expect(second?.block.txs).to.have.length(1)
    // The node pipelines only a well-filled block (minTxs): one waiting tx is not enough for 2.
    const held = onTopOf(10, 2)
    expect(held).to.equal(null)
    expect(bytesEqual(second?.block.header.appHash ?? new Uint8Array(), first.execution.appHash)).to.equal(
      true,
    )
    if (second === null) return
    expect(spec.validate(tip, second.block, [first.block], GENESIS_TIME + 3000).ok).to.equal(true)
  })
})
