import { expect } from 'chai'
import { makeGenesisBlock } from '../../../src/chain/genesis-block.js'
import { merkleRoot } from '../../../src/chain/merkle.js'
import { blockHash, decodeBlock, encodeBlock } from '../../../src/codec/chain.js'
import { sha256 } from '../../../src/crypto/hash.js'

describe('chain/genesis-block', () => {
  const appHash = sha256(new Uint8Array([7]))

  it('is height 0, view 0, with zero proposer and parent, the empty tx root and no txs', () => {
    const g = makeGenesisBlock('devnet', 1_700_000_000_000, appHash)
    expect(g.header).to.deep.include({ chainId: 'devnet', height: 0, view: 0, timestamp: 1_700_000_000_000 })
    expect(g.header.proposer).to.deep.equal(new Uint8Array(32))
    expect(g.header.parentHash).to.deep.equal(new Uint8Array(32))
    expect(g.header.txRoot).to.deep.equal(merkleRoot([]))
    expect(g.header.appHash).to.deep.equal(appHash)
    expect(g.txs).to.have.length(0)
    expect(decodeBlock(encodeBlock(g))).to.deep.equal(g)
  })

  it('is deterministic, and its hash depends on chain id, time and app hash', () => {
    const h = (c: string, t: number, a: Uint8Array) => blockHash(makeGenesisBlock(c, t, a).header)
    expect(h('devnet', 1, appHash)).to.deep.equal(h('devnet', 1, appHash))
    expect(h('devnet', 1, appHash)).not.to.deep.equal(h('devnet2', 1, appHash))
    expect(h('devnet', 1, appHash)).not.to.deep.equal(h('devnet', 2, appHash))
    expect(h('devnet', 1, appHash)).not.to.deep.equal(h('devnet', 1, sha256()))
  })
})
