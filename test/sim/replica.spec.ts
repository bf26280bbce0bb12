import { expect } from 'chai'
import { KvApp } from '../../src/app/kv-app.js'
import { ValidatorSet } from '../../src/chain/validators.js'
import { signTx } from '../../src/codec/tx-sign.js'
import type { Block } from '../../src/codec/types.js'
import { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { bytesEqual, sha256, toHex } from '../../src/crypto/hash.js'
import { GENESIS_KV, GENESIS_TIME_MS, makeSimGenesis, Replica, SIM_CHAIN_ID } from './app.js'
import { INVALID_BLOCK_KINDS, makeInvalidBlock } from './invalid-block.js'

/** The simulator's replica wiring (real KvApp, Mempool, buildProposal, validateBlock) and its invalid blocks. */
const key = (label: string) => new Ed25519Signer(sha256(new TextEncoder().encode(`replica-spec/${label}`)))
const signers = [0, 1, 2, 3].map((i) => key(`validator${i}`))
const validators = new ValidatorSet(signers.map((s, i) => ({ publicKey: s.publicKey, peerId: `peer${i}` })))
const alice = key('alice')
const bob = key('bob')
let clock = GENESIS_TIME_MS
const now = () => clock

function setTx(signer: Ed25519Signer, nonce: number, k: string, value: string): Uint8Array {
  return signTx(signer, { chainId: SIM_CHAIN_ID, nonce, op: { type: 'set', key: k, value } })
}

/** A replica with block 1 (alice 0, 1 and bob 0) final and block 2 (alice 2) proposed by view 0's primary. */
function setup(): { replica: Replica; block1: Block; block2: Block } {
  const genesis = makeSimGenesis()
  const replica = Replica.atGenesis(genesis, validators, now)
  for (const tx of [
    setTx(alice, 0, 'k0', 'a0'),
    setTx(alice, 1, 'k1', 'a1'),
    setTx(bob, 0, 'greeting', 'b0'),
  ])
    expect(replica.submit(tx)).to.equal('added')
  clock += 1000
  const block1 = replica.build(0, validators.primary(0).publicKey, clock)
  if (block1 === null) throw new Error('no block 1')
  const v1 = replica.validate(block1, clock)
  if (!v1.ok) throw new Error(v1.reason)
  replica.commit(block1, v1.execution)
  expect(replica.submit(setTx(alice, 2, 'k0', 'a2'))).to.equal('added')
  clock += 1000
  const block2 = replica.build(0, validators.primary(0).publicKey, clock)
  if (block2 === null) throw new Error('no block 2')
  return { replica, block1, block2 }
}

describe('sim: replica wiring (real app, mempool, builder, validation)', () => {
  it('builds, validates and applies blocks with the real KvApp', () => {
    const { replica, block1, block2 } = setup()
    expect(block1.txs).to.have.length(3)
    expect(block1.header.appHash).to.deep.equal(makeSimGenesis().appHash)
    expect(replica.height).to.equal(1)
    expect(replica.app.query('k0')).to.equal('a0')
    expect(replica.app.query('greeting')).to.equal('b0')
    expect(replica.app.query('owner/alice')).to.equal(GENESIS_KV['owner/alice'])
    expect(replica.app.nonce(alice.publicKey)).to.equal(2)
    // block 2 carries the state root after block 1, and only alice's nonce-2 tx is left to propose
    expect(block2.header.appHash).to.deep.equal(replica.app.appHash())
    expect(block2.txs).to.have.length(1)
    expect(replica.validate(block2, clock).ok).to.equal(true)
    // a committed tx comes back as a used nonce
    expect(replica.submit(block1.txs[0] as Uint8Array)).to.equal('bad_nonce')
  })

  it('every invalid-block kind is rejected by the real validateBlock for its own reason', () => {
    const { replica, block1, block2 } = setup()
    const common = {
      signer: signers[0] as Ed25519Signer,
      parentTimestamp: replica.header.timestamp,
      otherProposer: validators.primary(1).publicKey,
      now: clock,
    }
    for (const kind of INVALID_BLOCK_KINDS) {
      for (const lastFinal of [block1, undefined]) {
        const { block, expect: reason } = makeInvalidBlock(kind, { ...common, block: block2, lastFinal })
        const v = replica.validate(block, clock)
        expect(v.ok, kind).to.equal(false)
        if (!v.ok) expect(v.reason, kind).to.match(reason)
      }
    }
    // the untouched proposal is still valid (the checks did not change the state)
    expect(replica.validate(block2, clock).ok).to.equal(true)
  })

  it('a restarted replica rebuilds the committed state and refuses a mismatched recorded root', () => {
    const { replica } = setup()
    const again = Replica.restarted(replica, replica.app.appHash(), now)
    expect(toHex(again.app.appHash())).to.equal(toHex(replica.app.appHash()))
    expect(again.height).to.equal(1)
    expect(again.app.query('k1')).to.equal('a1')
    expect(again.mempool.size).to.equal(0)
    expect(() => Replica.restarted(replica, sha256(replica.app.appHash()), now)).to.throw(/restart/)
  })

  it('the mempool refuses a forged signature and another chain', () => {
    const { replica } = setup()
    const forged = setTx(bob, 1, 'k0', 'x')
    forged[forged.length - 1] ^= 0x01
    expect(replica.submit(forged)).to.equal('invalid_signature')
    const other = signTx(bob, { chainId: 'other-chain', nonce: 1, op: { type: 'del', key: 'k0' } })
    expect(replica.submit(other)).to.equal('wrong_chain')
  })

  it('replaying a chain through a fresh KvApp reproduces the state root', () => {
    const { replica, block1 } = setup()
    const fresh = KvApp.fromGenesis(SIM_CHAIN_ID, GENESIS_KV)
    const ex = fresh.execute(block1.txs)
    if (!ex.ok) throw new Error(ex.reason)
    fresh.apply(ex)
    expect(bytesEqual(fresh.appHash(), replica.app.appHash())).to.equal(true)
  })
})
