import { expect } from 'chai'
import fc from 'fast-check'
import {
  decodeBlock,
  decodeCertificate,
  decodeHeader,
  decodeTx,
  encodeBlock,
  encodeCertificate,
  encodeHeader,
  encodeTx,
  encodeTxBody,
  hashTx,
  Tag,
  txHash,
  txSignBytes,
} from '../../../src/codec/chain.js'
import { CodecError } from '../../../src/codec/errors.js'
import { MAX_TX_BYTES, MAX_VALUE_BYTES } from '../../../src/codec/limits.js'
import type { Block, BlockHeader, CommitCertificate, SignedTx } from '../../../src/codec/types.js'

const SEED = 20240611
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const u64 = fc.oneof(fc.nat(1000), fc.maxSafeNat())
// 'binary' strings: any code point but lone surrogates, which UTF-8 cannot carry
const chainId = fc.string({ unit: 'binary', minLength: 1, maxLength: 16 })

const txArb: fc.Arbitrary<SignedTx> = fc.record({
  chainId,
  from: bytes(32),
  nonce: u64,
  op: fc.oneof(
    fc.record({
      type: fc.constant('set' as const),
      key: fc.string({ unit: 'binary', maxLength: 64 }),
      value: fc.string({ unit: 'binary', maxLength: 300 }),
    }),
    fc.record({ type: fc.constant('del' as const), key: fc.string({ unit: 'binary', maxLength: 64 }) }),
  ),
  signature: bytes(64),
})

const headerArb: fc.Arbitrary<BlockHeader> = fc.record({
  chainId,
  height: u64,
  view: u64,
  timestamp: u64,
  proposer: bytes(32),
  parentHash: bytes(32),
  txRoot: bytes(32),
  appHash: bytes(32),
})

const blockArb: fc.Arbitrary<Block> = fc.record({
  header: headerArb,
  txs: fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }),
})

const certificateArb: fc.Arbitrary<CommitCertificate> = fc.record({
  height: u64,
  view: u64,
  blockHash: bytes(32),
  votes: fc
    .uniqueArray(fc.integer({ min: 0, max: 0xffff }), { maxLength: 8 })
    .chain((ids) =>
      fc.tuple(
        ...ids
          .sort((a, b) => a - b)
          .map((validator) => fc.record({ validator: fc.constant(validator), signature: bytes(64) })),
      ),
    ),
})

interface Kind<T> {
  name: string
  tag: number
  arb: fc.Arbitrary<T>
  encode(v: T): Uint8Array
  decode(b: Uint8Array): T
}

const kinds: Kind<unknown>[] = [
  { name: 'tx', tag: Tag.tx, arb: txArb, encode: encodeTx, decode: decodeTx } as Kind<SignedTx>,
  {
    name: 'header',
    tag: Tag.header,
    arb: headerArb,
    encode: encodeHeader,
    decode: decodeHeader,
  } as Kind<BlockHeader>,
  { name: 'block', tag: Tag.block, arb: blockArb, encode: encodeBlock, decode: decodeBlock } as Kind<Block>,
  {
    name: 'certificate',
    tag: Tag.certificate,
    arb: certificateArb,
    encode: encodeCertificate,
    decode: decodeCertificate,
  } as Kind<CommitCertificate>,
] as Kind<unknown>[]

/** Decoding arbitrary input either fails with CodecError or yields a value that re-encodes to the input. */
function expectCanonicalOrCodecError<T>(kind: Kind<T>, input: Uint8Array): void {
  let value: T
  try {
    value = kind.decode(input)
  } catch (err) {
    expect(err, (err as Error).stack).to.be.instanceOf(CodecError)
    return
  }
  expect(kind.encode(value)).to.deep.equal(input)
}

/** A byte-level mutation: flip, truncate, insert, delete, or append. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
)

function mutate(b: Uint8Array, m: MutationT): Uint8Array {
  const out = [...b]
  switch (m.kind) {
    case 'flip':
      if (out.length > 0) out[m.at % out.length] = (out[m.at % out.length] as number) ^ (1 << m.bit)
      break
    case 'truncate':
      out.length = out.length === 0 ? 0 : m.at % out.length
      break
    case 'insert':
      out.splice(m.at % (out.length + 1), 0, m.byte)
      break
    case 'delete':
      if (out.length > 0) out.splice(m.at % out.length, 1)
      break
    case 'append':
      out.push(...m.extra)
      break
  }
  return new Uint8Array(out)
}
type MutationT = typeof mutation extends fc.Arbitrary<infer M> ? M : never

describe('codec/chain (property tests)', () => {
  for (const kind of kinds) {
    describe(kind.name, () => {
      it('round-trips: decode(encode(x)) equals x and re-encodes to the same bytes', () => {
        fc.assert(
          fc.property(kind.arb, (x) => {
            const encoded = kind.encode(x)
            const decoded = kind.decode(encoded)
            expect(decoded).to.deep.equal(x)
            expect(kind.encode(decoded)).to.deep.equal(encoded)
          }),
          { seed: SEED, numRuns: 300 },
        )
      })

      it('mutated encodings give CodecError or a canonical value, never anything else', () => {
        fc.assert(
          fc.property(kind.arb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (x, ms) => {
            let b = kind.encode(x)
            for (const m of ms) b = mutate(b, m)
            expectCanonicalOrCodecError(kind, b)
          }),
          { seed: SEED, numRuns: 500 },
        )
      })

      it('random bytes give CodecError or a canonical value', () => {
        fc.assert(
          // half the inputs start with the kind's own tag, so decoding gets past the first byte
          fc.property(fc.boolean(), fc.uint8Array({ maxLength: 300 }), (tagged, b) =>
            expectCanonicalOrCodecError(kind, tagged ? new Uint8Array([kind.tag, ...b]) : b),
          ),
          { seed: SEED, numRuns: 300 },
        )
      })
    })
  }

  it('txSignBytes (a view of the encoding) equals the re-encoded body of any tx that decodes', () => {
    let decodedMutants = 0
    fc.assert(
      fc.property(txArb, fc.array(mutation, { maxLength: 3 }), fc.boolean(), (tx, ms, bom) => {
        const withBom: SignedTx =
          bom && tx.op.type === 'set' ? { ...tx, op: { ...tx.op, value: `\uFEFF${tx.op.value}` } } : tx
        let b = encodeTx(withBom)
        for (const m of ms) b = mutate(b, m)
        let decoded: SignedTx
        try {
          decoded = decodeTx(b)
        } catch (err) {
          expect(err).to.be.instanceOf(CodecError)
          return
        }
        if (ms.length > 0) decodedMutants++
        expect(Buffer.from(txSignBytes(b)).equals(encodeTxBody(decoded))).to.equal(true)
      }),
      { seed: SEED, numRuns: 1000 },
    )
    expect(decodedMutants).to.be.greaterThan(10)
  })

  it('hashTx: the hash of exactly its bytes, decoded once on demand like decodeTx', () => {
    fc.assert(
      fc.property(txArb, (tx) => {
        const bytes = encodeTx(tx)
        const h = hashTx(bytes)
        expect(h.bytes).to.equal(bytes)
        expect(h.hash).to.deep.equal(txHash(bytes))
        expect(h.decoded()).to.deep.equal(decodeTx(bytes))
        expect(h.decoded()).to.equal(h.decoded())
        // one HashedTx per array: hashed and decoded once per node, wherever it is asked for again
        expect(hashTx(bytes)).to.equal(h)
        // an equal copy is another array: its own HashedTx, the same hash
        const copy = hashTx(bytes.slice())
        expect(copy).to.not.equal(h)
        expect(copy.hash).to.deep.equal(h.hash)
      }),
      { seed: SEED, numRuns: 100 },
    )
    const bad = hashTx(new Uint8Array([Tag.tx, 0, 0]))
    expect(() => bad.decoded()).to.throw(CodecError)
    expect(() => bad.decoded()).to.throw(CodecError)
  })

  it('rejects oversized txs on both sides', () => {
    const tx: SignedTx = {
      chainId: 'c',
      from: new Uint8Array(32),
      nonce: 0,
      op: { type: 'set', key: 'k', value: 'x'.repeat(MAX_TX_BYTES) },
      signature: new Uint8Array(64),
    }
    expect(() => encodeTx(tx)).to.throw(CodecError, /too large/)
    expect(() => decodeTx(new Uint8Array(MAX_TX_BYTES + 1))).to.throw(CodecError, /too large/)
    // a value just over its own limit is refused even though the tx fits MAX_TX_BYTES
    const overValue = encodeTx({
      ...tx,
      op: { type: 'set', key: 'k', value: 'x'.repeat(MAX_VALUE_BYTES + 1) },
    })
    expect(() => decodeTx(overValue)).to.throw(CodecError, /value too long/)
    expect(() =>
      decodeTx(encodeTx({ ...tx, op: { type: 'set', key: 'k', value: 'x'.repeat(MAX_VALUE_BYTES) } })),
    ).not.to.throw()
  })
})
