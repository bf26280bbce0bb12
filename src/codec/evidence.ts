import { SIGNATURE_BYTES } from '../crypto/ed25519.js'
import { bytesEqual, HASH_BYTES, sha256 } from '../crypto/hash.js'
import { decodeExact, type Reader, Writer } from './binary.js'
import { commitVoteSignBytes } from './chain.js'
import { type ConsensusKind, prePrepareSignBytes, prepareSignBytes } from './consensus.js'
import { CodecError } from './errors.js'
import { MAX_EVIDENCE_SIGN_BYTES, MAX_VALIDATORS } from './limits.js'

/**
 * Equivocation evidence as the node keeps it (docs/CONSENSUS.md "Evidence"): not the two whole
 * messages (a PRE-PREPARE carries its block, a VIEW-CHANGE up to four), only what proves that one
 * validator signed two conflicting messages for one slot — per message the signed digest and the
 * signature, plus the sign bytes where the digest alone cannot rebuild them. Byte layout:
 * docs/PROTOCOL.md §3.8.
 */

/** The kinds whose two signed messages for one slot conflict; two REJECTs of two blocks do not. */
export type EvidenceKind = Exclude<ConsensusKind, 'reject'>

/** One of the two signed messages, reduced to what its signature covers. */
export interface EvidenceSide {
  /**
   * PRE-PREPARE, PREPARE, COMMIT: the block hash, which with (chain id, kind, view, height, sender)
   * is all their sign bytes hold. VIEW-CHANGE, NEW-VIEW: the SHA-256 of their sign bytes.
   */
  readonly digest: Uint8Array
  readonly signature: Uint8Array
  /**
   * VIEW-CHANGE, NEW-VIEW: the sign bytes themselves when they fit MAX_EVIDENCE_SIGN_BYTES (an
   * Ed25519 signature is checked against the whole message, not a hash of it), else null: then
   * only this node checked the signature. Always null for the other kinds (rebuilt from the digest).
   */
  readonly signBytes: Uint8Array | null
}

export interface EvidenceRecord {
  /** the equivocating validator's index (genesis order) */
  readonly sender: number
  readonly kind: EvidenceKind
  /** the slot: the message's view (a VIEW-CHANGE's new view) and height (0 for VIEW-CHANGE, NEW-VIEW) */
  readonly view: number
  readonly height: number
  /** ms since the Unix epoch when this node stored it */
  readonly receivedAt: number
  /** ordered by digest (first < second), so a pair reported either way round is one record */
  readonly first: EvidenceSide
  readonly second: EvidenceSide
}

const EVIDENCE_RECORD_TAG = 0x30
/** Each kind by its consensus message tag (docs/PROTOCOL.md §3.6). */
const KIND_CODE: Record<EvidenceKind, number> = {
  preprepare: 0x10,
  prepare: 0x11,
  commit: 0x12,
  viewchange: 0x13,
  newview: 0x14,
}
const KIND_BY_CODE = new Map(Object.entries(KIND_CODE).map(([k, c]) => [c, k as EvidenceKind]))

const SIDE_FIXED_BYTES = HASH_BYTES + SIGNATURE_BYTES + 1
export const MAX_EVIDENCE_RECORD_BYTES =
  1 + 1 + 2 + 8 + 8 + 8 + 2 * (SIDE_FIXED_BYTES + 4 + MAX_EVIDENCE_SIGN_BYTES)
/** The 19-byte key of a record: one record per (sender, kind, view, height). */
export const EVIDENCE_KEY_BYTES = 2 + 1 + 8 + 8

/** VIEW-CHANGE and NEW-VIEW sign whole structures; the others a block hash in a fixed frame. */
export function signsWholeMessage(kind: EvidenceKind): boolean {
  return kind === 'viewchange' || kind === 'newview'
}

export function isEvidenceKind(kind: ConsensusKind): kind is EvidenceKind {
  return kind !== 'reject'
}

/** sender u16 · kind u8 · view u64 · height u64: the dedup key, and the record's LevelDB key. */
export function evidenceKey(r: Pick<EvidenceRecord, 'sender' | 'kind' | 'view' | 'height'>): Uint8Array {
  return new Writer(EVIDENCE_KEY_BYTES).u16(r.sender).u8(KIND_CODE[r.kind]).u64(r.view).u64(r.height).finish()
}

function writeSide(w: Writer, s: EvidenceSide): void {
  w.fixed(s.digest, HASH_BYTES).fixed(s.signature, SIGNATURE_BYTES)
  w.bool(s.signBytes !== null)
  if (s.signBytes !== null) w.bytes(s.signBytes)
}

/**
 * u8 0x30 · u8 kind (its message tag) · u16 sender · u64 view · u64 height · u64 received_at ·
 * side · side, where side = [32] digest · [64] signature · bool has_sign_bytes · [bytes sign_bytes].
 */
export function encodeEvidenceRecord(r: EvidenceRecord): Uint8Array {
  checkCanonical(r)
  const w = new Writer(256 + (r.first.signBytes?.length ?? 0) + (r.second.signBytes?.length ?? 0))
  w.u8(EVIDENCE_RECORD_TAG).u8(KIND_CODE[r.kind]).u16(r.sender).u64(r.view).u64(r.height).u64(r.receivedAt)
  writeSide(w, r.first)
  writeSide(w, r.second)
  return w.finish()
}

function readSide(r: Reader, what: string): EvidenceSide {
  const digest = r.fixed(HASH_BYTES, `${what} digest`)
  const signature = r.fixed(SIGNATURE_BYTES, `${what} signature`)
  const signBytes = r.bool(`${what} has sign bytes`)
    ? r.bytes(MAX_EVIDENCE_SIGN_BYTES, `${what} sign bytes`)
    : null
  return { digest, signature, signBytes }
}

/** Strict: throws a CodecError on anything but the one canonical encoding of a record. */
export function decodeEvidenceRecord(bytes: Uint8Array): EvidenceRecord {
  return decodeExact(bytes, MAX_EVIDENCE_RECORD_BYTES, 'evidence record', (r) => {
    r.tag(EVIDENCE_RECORD_TAG, 'evidence record')
    const code = r.u8('evidence kind')
    const kind = KIND_BY_CODE.get(code)
    if (kind === undefined) throw new CodecError(`evidence record: unknown kind ${code}`)
    const sender = r.u16('sender')
    const view = r.u64('view')
    const height = r.u64('height')
    const receivedAt = r.u64('received_at')
    const record = {
      sender,
      kind,
      view,
      height,
      receivedAt,
      first: readSide(r, 'first'),
      second: readSide(r, 'second'),
    }
    checkCanonical(record)
    return record
  })
}

/** The rules that make the encoding canonical, checked on both sides of the codec. */
function checkCanonical(r: EvidenceRecord): void {
  if (r.sender >= MAX_VALIDATORS)
    throw new CodecError(`evidence record: sender index ${r.sender} out of range`)
  if (signsWholeMessage(r.kind) ? r.height !== 0 : r.height < 1)
    throw new CodecError(`evidence record: height ${r.height} is not a ${r.kind} slot`)
  if (Buffer.compare(r.first.digest, r.second.digest) >= 0)
    throw new CodecError('evidence record: the first digest must sort strictly before the second')
  for (const side of [r.first, r.second]) {
    if (side.signBytes === null) continue
    if (!signsWholeMessage(r.kind)) throw new CodecError(`evidence record: a ${r.kind} carries no sign bytes`)
    if (side.signBytes.length > MAX_EVIDENCE_SIGN_BYTES)
      throw new CodecError(`evidence record: sign bytes over ${MAX_EVIDENCE_SIGN_BYTES} bytes`)
    if (!bytesEqual(sha256(side.signBytes), side.digest))
      throw new CodecError('evidence record: the sign bytes do not hash to the digest')
  }
}

/**
 * The bytes `side.signature` must verify against (the sender's key), or null when they were too large
 * to keep. For VIEW-CHANGE and NEW-VIEW the kept sign bytes must start with this chain, kind, view and
 * sender (docs/PROTOCOL.md §3.6), else they prove nothing about this slot: a CodecError.
 */
export function evidenceSignBytes(chainId: string, r: EvidenceRecord, side: EvidenceSide): Uint8Array | null {
  switch (r.kind) {
    case 'preprepare':
      return prePrepareSignBytes(chainId, r.view, r.height, r.sender, side.digest)
    case 'prepare':
      return prepareSignBytes(chainId, r.view, r.height, r.sender, side.digest)
    case 'commit':
      return commitVoteSignBytes(chainId, r.view, r.height, side.digest)
    case 'viewchange':
    case 'newview': {
      if (side.signBytes === null) return null
      const prefix = new Writer(96).u8(KIND_CODE[r.kind]).string(chainId).u64(r.view).u16(r.sender).finish()
      if (!bytesEqual(side.signBytes.subarray(0, prefix.length), prefix))
        throw new CodecError(
          `evidence record: the ${r.kind} sign bytes are not for this chain, view and sender`,
        )
      return side.signBytes
    }
  }
}
