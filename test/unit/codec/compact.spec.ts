import { expect } from 'chai'
import { merkleRoot } from '../../../src/chain/merkle.js'
import { blockHash, hashTx, txHash } from '../../../src/codec/chain.js'
import {
  COMPACT_PREPREPARE_TAG,
  compactPrePrepare,
  decodeCompactPrePrepare,
  encodeCompactPrePrepare,
  expandPrePrepare,
  isCompactPrePrepare,
  MAX_COMPACT_PREPREPARE_BYTES,
  peekCompactSender,
} from '../../../src/codec/compact.js'
import { encodeConsensusMessage, peekConsensusSender, signBytesOf } from '../../../src/codec/consensus.js'
import { CodecError } from '../../../src/codec/errors.js'
import { MAX_TXS_PER_BLOCK } from '../../../src/codec/limits.js'
import type { Block } from '../../../src/codec/types.js'
import { verifyConsensusMessage } from '../../../src/consensus/verify.js'
import { CHAIN, GENESIS_HASH, makeSigners, makeValidators, signPrePrepare } from '../consensus/harness.js'

const signers = makeSigners(4)
const validators = makeValidators(signers)
const tx = (i: number): Uint8Array => new TextEncoder().encode(`tx number ${i}`)

function block(txs: Uint8Array[], view = 0): Block {
  return {
    header: {
      chainId: CHAIN,
      height: 1,
      view,
      timestamp: 1000,
      proposer: (signers[view % 4] as (typeof signers)[0]).publicKey,
      parentHash: GENESIS_HASH,
      txRoot: merkleRoot(txs.map(txHash)),
      appHash: new Uint8Array(32),
    },
    txs,
  }
}

const txs = [tx(1), tx(2), tx(3)]
const full = signPrePrepare(signers[0] as (typeof signers)[0], 0, 0, 1, block(txs))

describe('codec/compact', () => {
  it("takes each tx's hash from hashTx: a primary's admitted txs are not hashed again on publish", () => {
    const admitted = [tx(7), tx(8)]
    const known = admitted.map((t) => hashTx(t).hash) // what mempool admission computed
    const c = compactPrePrepare(signPrePrepare(signers[0] as (typeof signers)[0], 0, 0, 1, block(admitted)))
    // the very same arrays, not equal copies: no SHA-256 was run again
    c.txHashes.forEach((h, i) => {
      expect(h).to.equal(known[i])
    })
    expect(c.txHashes).to.deep.equal(admitted.map(txHash))
  })

  it('round-trips a compact PRE-PREPARE and expands to the full one', () => {
    const c = compactPrePrepare(full)
    expect(c.txHashes).to.deep.equal(txs.map(txHash))
    const bytes = encodeCompactPrePrepare(c)
    expect(bytes[0]).to.equal(COMPACT_PREPREPARE_TAG)
    expect(isCompactPrePrepare(bytes)).to.equal(true)
    expect(isCompactPrePrepare(encodeConsensusMessage(full))).to.equal(false)
    const back = decodeCompactPrePrepare(bytes)
    expect(back).to.deep.equal(c)
    expect(expandPrePrepare(back, txs)).to.deep.equal(full)
    expect(peekCompactSender(bytes)).to.equal(0)
    expect(peekConsensusSender('preprepare', bytes)).to.equal(undefined)
  })

  it('is signed as the full form: the header-only stand-in verifies with the same signature', () => {
    const headerOnly = expandPrePrepare(
      decodeCompactPrePrepare(encodeCompactPrePrepare(compactPrePrepare(full))),
      [],
    )
    expect(signBytesOf(CHAIN, headerOnly)).to.deep.equal(signBytesOf(CHAIN, full))
    expect(verifyConsensusMessage(headerOnly, CHAIN, validators)).to.equal(true)
    expect(blockHash(headerOnly.block.header)).to.deep.equal(blockHash(full.block.header))
  })

  it('is about 32 bytes per tx instead of the tx', () => {
    const many = Array.from({ length: 2000 }, (_, i) => new Uint8Array(170).fill(i % 251))
    const pp = signPrePrepare(signers[0] as (typeof signers)[0], 0, 0, 1, block(many))
    const compact = encodeCompactPrePrepare(compactPrePrepare(pp)).length
    expect(compact).to.be.below(2000 * 32 + 400)
    expect(encodeConsensusMessage(pp).length).to.be.above(2000 * 174)
    const empty = signPrePrepare(signers[0] as (typeof signers)[0], 0, 0, 1, block([]))
    expect(decodeCompactPrePrepare(encodeCompactPrePrepare(compactPrePrepare(empty))).txHashes).to.deep.equal(
      [],
    )
  })

  it('decodes strictly: tag, truncation, trailing bytes, sender range, hash count', () => {
    const good = encodeCompactPrePrepare(compactPrePrepare(full))
    const withByte = (at: number, v: number): Uint8Array => {
      const b = good.slice()
      b[at] = v
      return b
    }
    const hashCountAt = good.length - 64 - 3 * 32 - 4
    const bad: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['full tag', withByte(0, 0x10)],
      ['unknown tag', withByte(0, 0x99)],
      ['truncated', good.subarray(0, good.length - 1)],
      ['truncated in the header', good.subarray(0, 40)],
      ['trailing byte', Uint8Array.from([...good, 0])],
      ['sender >= 256', withByte(17, 1)],
      ['one hash more than counted', withByte(hashCountAt + 3, 4)],
      ['one hash fewer than counted', withByte(hashCountAt + 3, 2)],
      ['count over the limit', withByte(hashCountAt + 1, 0xff)],
      ['oversized', new Uint8Array(MAX_COMPACT_PREPREPARE_BYTES + 1).fill(COMPACT_PREPREPARE_TAG)],
    ]
    for (const [what, b] of bad) expect(() => decodeCompactPrePrepare(b), what).to.throw(CodecError)
    expect(() =>
      encodeCompactPrePrepare({
        ...compactPrePrepare(full),
        txHashes: new Array(MAX_TXS_PER_BLOCK + 1).fill(txHash(tx(0))),
      }),
    ).to.throw(CodecError)
  })
})
