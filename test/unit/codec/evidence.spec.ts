import { expect } from 'chai'
import fc from 'fast-check'
import { Writer } from '../../../src/codec/binary.js'
import { prepareSignBytes } from '../../../src/codec/consensus.js'
import { CodecError } from '../../../src/codec/errors.js'
import {
  decodeEvidenceRecord,
  type EvidenceKind,
  type EvidenceRecord,
  type EvidenceSide,
  encodeEvidenceRecord,
  evidenceKey,
  evidenceSignBytes,
  MAX_EVIDENCE_RECORD_BYTES,
} from '../../../src/codec/evidence.js'
import { MAX_EVIDENCE_SIGN_BYTES } from '../../../src/codec/limits.js'
import { sha256 } from '../../../src/crypto/hash.js'

const SEED = 20250301
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const u64 = fc.oneof(fc.nat(1000), fc.maxSafeNat())
const VOTE_KINDS = ['preprepare', 'prepare', 'commit'] as const

function ordered(a: EvidenceSide, b: EvidenceSide): [EvidenceSide, EvidenceSide] {
  return Buffer.compare(a.digest, b.digest) < 0 ? [a, b] : [b, a]
}

const voteSide = fc.record({ digest: bytes(32), signature: bytes(64), signBytes: fc.constant(null) })
const wholeSide = fc
  .record({ signature: bytes(64), signBytes: fc.option(fc.uint8Array({ minLength: 1, maxLength: 300 })) })
  .chain(({ signature, signBytes }) =>
    signBytes === null
      ? bytes(32).map((digest): EvidenceSide => ({ digest, signature, signBytes: null }))
      : fc.constant<EvidenceSide>({ digest: sha256(signBytes), signature, signBytes }),
  )

const recordArb: fc.Arbitrary<EvidenceRecord> = fc
  .oneof(
    fc.record({
      kind: fc.constantFrom<EvidenceKind>(...VOTE_KINDS),
      height: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
      a: voteSide,
      b: voteSide,
    }),
    fc.record({
      kind: fc.constantFrom<EvidenceKind>('viewchange', 'newview'),
      height: fc.constant(0),
      a: wholeSide,
      b: wholeSide,
    }),
  )
  .filter(({ a, b }) => Buffer.compare(a.digest, b.digest) !== 0)
  .chain(({ kind, height, a, b }) => {
    const [first, second] = ordered(a, b)
    return fc.record({
      sender: fc.integer({ min: 0, max: 255 }),
      kind: fc.constant(kind),
      view: u64,
      height: fc.constant(height),
      receivedAt: u64,
      first: fc.constant(first),
      second: fc.constant(second),
    })
  })

function sample(kind: EvidenceKind = 'prepare'): EvidenceRecord {
  const side = (b: number, signBytes: Uint8Array | null = null): EvidenceSide => ({
    digest: signBytes === null ? new Uint8Array(32).fill(b) : sha256(signBytes),
    signature: new Uint8Array(64).fill(b),
    signBytes,
  })
  if (kind === 'viewchange' || kind === 'newview') {
    const [first, second] = ordered(side(1, new Uint8Array([1, 2, 3])), side(2, new Uint8Array([4, 5])))
    return { sender: 2, kind, view: 7, height: 0, receivedAt: 1_700_000_000_000, first, second }
  }
  return {
    sender: 2,
    kind,
    view: 7,
    height: 3,
    receivedAt: 1_700_000_000_000,
    first: side(1),
    second: side(2),
  }
}

function throwsCodec(f: () => unknown, message: RegExp): void {
  expect(f).to.throw(CodecError, message)
}

describe('codec/evidence', () => {
  it('round-trips every record exactly (property)', () => {
    fc.assert(
      fc.property(recordArb, (r) => {
        const encoded = encodeEvidenceRecord(r)
        expect(decodeEvidenceRecord(encoded)).to.deep.equal(r)
        expect(encodeEvidenceRecord(decodeEvidenceRecord(encoded))).to.deep.equal(encoded)
      }),
      { seed: SEED, numRuns: 300 },
    )
  })

  it('has the documented layout: 222 bytes for a vote, the sign bytes length-prefixed otherwise', () => {
    const vote = encodeEvidenceRecord(sample('commit'))
    expect(vote.length).to.equal(222)
    expect([...vote.subarray(0, 4)]).to.deep.equal([0x30, 0x12, 0x00, 0x02])
    expect(encodeEvidenceRecord(sample('viewchange')).length).to.equal(222 + 8 + 3 + 2)
  })

  it('keys a record by (sender u16, kind u8, view u64, height u64)', () => {
    const key = evidenceKey(sample('prepare'))
    expect(key.length).to.equal(19)
    expect(Buffer.from(key).toString('hex')).to.equal(`0002${'11'}${'0000000000000007'}${'0000000000000003'}`)
  })

  describe('the decoder is strict', () => {
    const good = encodeEvidenceRecord(sample())
    const patched = (at: number, value: number): Uint8Array => {
      const b = good.slice()
      b[at] = value
      return b
    }

    it('refuses an unknown tag or kind, and REJECT', () => {
      throwsCodec(() => decodeEvidenceRecord(patched(0, 0x31)), /unexpected tag/)
      throwsCodec(() => decodeEvidenceRecord(patched(1, 0x15)), /unknown kind 21/)
      throwsCodec(() => decodeEvidenceRecord(patched(1, 0x01)), /unknown kind/)
    })

    it('refuses truncation, trailing bytes and oversized input', () => {
      throwsCodec(() => decodeEvidenceRecord(good.subarray(0, good.length - 1)), /truncated/)
      throwsCodec(() => decodeEvidenceRecord(new Uint8Array([...good, 0])), /trailing/)
      throwsCodec(() => decodeEvidenceRecord(new Uint8Array(MAX_EVIDENCE_RECORD_BYTES + 1)), /too large/)
    })

    it('refuses a sender ≥ 256 and a height that is not the kind’s slot', () => {
      throwsCodec(() => decodeEvidenceRecord(patched(2, 0x01)), /sender index 258/)
      const zero = good.slice()
      zero.fill(0, 12, 20)
      throwsCodec(() => decodeEvidenceRecord(zero), /height 0 is not a prepare slot/)
      throwsCodec(() => encodeEvidenceRecord({ ...sample('newview'), height: 1 }), /height 1/)
    })

    it('refuses sides out of order or equal: one encoding per pair', () => {
      const r = sample()
      throwsCodec(
        () => encodeEvidenceRecord({ ...r, first: r.second, second: r.first }),
        /sort strictly before/,
      )
      throwsCodec(() => encodeEvidenceRecord({ ...r, second: r.first }), /sort strictly before/)
      const swapped = new Writer(256)
      swapped.u8(0x30).u8(0x11).u16(2).u64(7).u64(3).u64(1)
      for (const s of [r.second, r.first]) swapped.fixed(s.digest, 32).fixed(s.signature, 64).bool(false)
      throwsCodec(() => decodeEvidenceRecord(swapped.finish()), /sort strictly before/)
    })

    it('refuses sign bytes on a vote, sign bytes that do not hash to the digest, or over the limit', () => {
      const r = sample()
      throwsCodec(
        () => encodeEvidenceRecord({ ...r, second: { ...r.second, signBytes: new Uint8Array([1]) } }),
        /a prepare carries no sign bytes/,
      )
      const vc = sample('viewchange')
      throwsCodec(
        () => encodeEvidenceRecord({ ...vc, second: { ...vc.second, signBytes: new Uint8Array([9]) } }),
        /do not hash to the digest/,
      )
      const big = new Uint8Array(MAX_EVIDENCE_SIGN_BYTES + 1)
      const [first, second] = ordered(vc.first, { ...vc.second, digest: sha256(big), signBytes: big })
      throwsCodec(() => encodeEvidenceRecord({ ...vc, first, second }), /sign bytes over/)
      const w = new Writer(256)
      w.u8(0x30).u8(0x13).u16(2).u64(7).u64(0).u64(1)
      w.fixed(new Uint8Array(32), 32)
        .fixed(new Uint8Array(64), 64)
        .bool(true)
        .u32(MAX_EVIDENCE_SIGN_BYTES + 1)
      throwsCodec(() => decodeEvidenceRecord(w.finish()), /too long/)
    })
  })

  describe('evidenceSignBytes', () => {
    it('rebuilds a vote’s sign bytes from the digest', () => {
      const r = sample('prepare')
      expect(evidenceSignBytes('c', r, r.first)).to.deep.equal(prepareSignBytes('c', 7, 3, 2, r.first.digest))
    })

    it('returns kept sign bytes only if they name this chain, kind, view and sender; null if none kept', () => {
      const signBytes = new Writer(64).u8(0x13).string('c').u64(7).u16(2).u32(0).finish()
      const side: EvidenceSide = { digest: sha256(signBytes), signature: new Uint8Array(64), signBytes }
      const r: EvidenceRecord = { ...sample('viewchange'), first: side }
      expect(evidenceSignBytes('c', r, side)).to.deep.equal(signBytes)
      throwsCodec(() => evidenceSignBytes('other', r, side), /not for this chain/)
      throwsCodec(() => evidenceSignBytes('c', { ...r, sender: 3 }, side), /not for this chain/)
      throwsCodec(() => evidenceSignBytes('c', { ...r, kind: 'newview' }, side), /not for this chain/)
      expect(evidenceSignBytes('c', r, { ...side, signBytes: null })).to.equal(null)
    })
  })
})
