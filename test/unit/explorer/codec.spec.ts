import { expect } from 'chai'
import fc from 'fast-check'
import {
  commitVoteSignBytes,
  decodeTx,
  encodeTx,
  encodeHeader as nodeEncodeHeader,
} from '../../../src/codec/chain.js'
import { CodecError } from '../../../src/codec/errors.js'
import {
  MAX_CHAIN_ID_BYTES,
  MAX_KEY_BYTES,
  MAX_TX_BYTES,
  MAX_VALUE_BYTES,
} from '../../../src/codec/limits.js'
import type { BlockHeader, SignedTx } from '../../../src/codec/types.js'
import { toHex as nodeHex } from '../../../src/crypto/hash.js'
import {
  commitSignBytes,
  DecodeError,
  decodeTxFields,
  encodeHeader,
  fromHex,
  TX_LIMITS,
  toHex,
} from '../../../src/explorer/codec.js'
import { headerToJson } from '../../../src/rpc/convert.js'

/**
 * The explorer's codec (src/explorer/codec.ts) runs in the browser and in the CLI's describeTx; the
 * node's codec (src/codec/chain.ts) is the authority. These properties keep the two in step.
 */
const SEED = 20261202
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const u64 = fc.oneof(fc.nat(1000), fc.maxSafeNat())
const text = (maxLength: number) => fc.string({ unit: 'binary', maxLength })

const txArb: fc.Arbitrary<SignedTx> = fc.record({
  chainId: fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }),
  from: bytes(32),
  nonce: u64,
  op: fc.oneof(
    fc.record({ type: fc.constant('set' as const), key: text(64), value: text(300) }),
    fc.record({ type: fc.constant('del' as const), key: text(64) }),
  ),
  signature: bytes(64),
})

const headerArb: fc.Arbitrary<BlockHeader> = fc.record({
  chainId: fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }),
  height: u64,
  view: u64,
  timestamp: u64,
  proposer: bytes(32),
  parentHash: bytes(32),
  txRoot: bytes(32),
  appHash: bytes(32),
})

/** What the node's decoder makes of bytes: the fields, or that it refuses them. */
function nodeView(data: Uint8Array): unknown {
  try {
    const tx = decodeTx(data)
    return {
      chain_id: tx.chainId,
      sender: nodeHex(tx.from),
      nonce: tx.nonce,
      op: tx.op.type,
      key: tx.op.key,
      value: tx.op.type === 'set' ? tx.op.value : null,
      signature: nodeHex(tx.signature),
    }
  } catch (err) {
    if (err instanceof CodecError) return 'refused'
    throw err
  }
}

function explorerView(data: Uint8Array): unknown {
  try {
    return decodeTxFields(data)
  } catch (err) {
    if (err instanceof DecodeError) return 'refused'
    throw err
  }
}

describe('explorer/codec: the browser-side decoder agrees with the node codec', () => {
  it('has the node codec limits', () => {
    expect(TX_LIMITS).to.deep.equal({
      tx: MAX_TX_BYTES,
      chainId: MAX_CHAIN_ID_BYTES,
      key: MAX_KEY_BYTES,
      value: MAX_VALUE_BYTES,
    })
  })

  it('decodes every encoded tx to the fields the node decodes', () => {
    fc.assert(
      fc.property(txArb, (tx) => {
        const encoded = encodeTx(tx)
        expect(explorerView(encoded)).to.deep.equal(nodeView(encoded))
        expect(decodeTxFields(nodeHex(encoded))).to.deep.equal(nodeView(encoded))
      }),
      { seed: SEED, numRuns: 300 },
    )
  })

  it('refuses exactly what the node refuses: truncations, extensions and corruptions of a tx', () => {
    fc.assert(
      fc.property(
        txArb,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom('cut', 'extend', 'flip'),
        (tx, at, byte, how) => {
          const encoded = encodeTx(tx)
          const i = at % encoded.length
          let bad: Uint8Array
          if (how === 'cut') bad = encoded.slice(0, i)
          else if (how === 'extend') bad = Uint8Array.from([...encoded, byte])
          else {
            bad = encoded.slice()
            bad[i] = byte
          }
          expect(explorerView(bad), `${how} at ${i}`).to.deep.equal(nodeView(bad))
        },
      ),
      { seed: SEED, numRuns: 500 },
    )
  })

  it('refuses oversized fields and bad hex as the node does', () => {
    const big = encodeTx({
      chainId: 'c',
      from: new Uint8Array(32),
      nonce: 1,
      op: { type: 'set', key: 'k', value: 'v'.repeat(MAX_VALUE_BYTES) },
      signature: new Uint8Array(64),
    })
    expect(explorerView(big)).to.deep.equal(nodeView(big)).and.not.equal('refused')
    // a value one byte over the limit: patch the length prefix and append a byte
    const over = Uint8Array.from([...big.slice(0, -64), 0x76, ...big.slice(-64)])
    const lengthAt = big.length - 64 - MAX_VALUE_BYTES - 4
    new DataView(over.buffer).setUint32(lengthAt, MAX_VALUE_BYTES + 1)
    expect(nodeView(over)).to.equal('refused')
    expect(explorerView(over)).to.equal('refused')
    for (const hex of ['0xzz', '0x0', 'nothex']) expect(() => decodeTxFields(hex)).to.throw(DecodeError)
  })

  it('encodes a header as the node does: the same block hash', () => {
    fc.assert(
      fc.property(headerArb, (h) => {
        expect(toHex(encodeHeader(headerToJson(h)))).to.equal(nodeHex(nodeEncodeHeader(h)))
      }),
      { seed: SEED, numRuns: 200 },
    )
  })

  it("builds a COMMIT's sign bytes as the node does", () => {
    fc.assert(
      fc.property(headerArb, bytes(32), (h, hash) => {
        expect(toHex(commitSignBytes(h.chainId, h.view, h.height, nodeHex(hash)))).to.equal(
          nodeHex(commitVoteSignBytes(h.chainId, h.view, h.height, hash)),
        )
      }),
      { seed: SEED, numRuns: 200 },
    )
  })

  it('hex both ways', () => {
    expect(toHex(fromHex('0xABcd00'))).to.equal('0xabcd00')
    expect(toHex(fromHex(''))).to.equal('0x')
  })
})
