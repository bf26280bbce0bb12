import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../crypto/ed25519.js'
import { HASH_BYTES, sha256 } from '../crypto/hash.js'
import { decodeExact, type Reader, Writer } from './binary.js'
import { CodecError } from './errors.js'
import {
  MAX_BLOCK_BYTES,
  MAX_CHAIN_ID_BYTES,
  MAX_KEY_BYTES,
  MAX_TX_BYTES,
  MAX_TXS_PER_BLOCK,
  MAX_VALIDATORS,
  MAX_VALUE_BYTES,
} from './limits.js'
import type { Block, BlockHeader, CommitCertificate, CommitVote, SignedTx, TxBody, TxOp } from './types.js'

/** Leading type tags: every encoded object says what it is, so no two kinds share sign-bytes. */
export const Tag = {
  tx: 0x01,
  header: 0x02,
  block: 0x03,
  certificate: 0x04,
} as const

const OP_SET = 1
const OP_DEL = 2

function writeTxBody(w: Writer, tx: TxBody): void {
  w.u8(Tag.tx).string(tx.chainId).fixed(tx.from, PUBLIC_KEY_BYTES).u64(tx.nonce)
  if (tx.op.type === 'set') w.u8(OP_SET).string(tx.op.key).string(tx.op.value)
  else w.u8(OP_DEL).string(tx.op.key)
}

function readChainId(r: Reader): string {
  const id = r.string(MAX_CHAIN_ID_BYTES, 'chain_id')
  if (id.length === 0) throw new CodecError('chain_id is empty')
  return id
}

/** The bytes a sender signs: the tx without its signature. */
export function encodeTxBody(tx: TxBody): Uint8Array {
  const w = new Writer(128)
  writeTxBody(w, tx)
  return w.finish()
}

/**
 * The bytes a decoded tx's signature is over, as a view of its encoding (no re-encoding): the body
 * comes first, then the 64-byte signature, and the codec is canonical — every tx that decodes
 * re-encodes to exactly its input (fixed-width integers, strict UTF-8 with the BOM kept, no
 * trailing bytes) — so this equals encodeTxBody(decodeTx(encodedTx)). Only for bytes that decoded.
 */
export function txSignBytes(encodedTx: Uint8Array): Uint8Array {
  return encodedTx.subarray(0, encodedTx.length - SIGNATURE_BYTES)
}

export function encodeTx(tx: SignedTx): Uint8Array {
  const w = new Writer(192)
  writeTxBody(w, tx)
  w.fixed(tx.signature, SIGNATURE_BYTES)
  const out = w.finish()
  if (out.length > MAX_TX_BYTES) throw new CodecError(`tx too large: ${out.length} > ${MAX_TX_BYTES} bytes`)
  return out
}

export function decodeTx(data: Uint8Array): SignedTx {
  return decodeExact(data, MAX_TX_BYTES, 'tx', (r) => {
    r.tag(Tag.tx, 'tx')
    const chainId = readChainId(r)
    const from = r.fixed(PUBLIC_KEY_BYTES, 'from')
    const nonce = r.u64('nonce')
    const opType = r.u8('op type')
    let op: TxOp
    if (opType === OP_SET) {
      const key = r.string(MAX_KEY_BYTES, 'key')
      op = { type: 'set', key, value: r.string(MAX_VALUE_BYTES, 'value') }
    } else if (opType === OP_DEL) {
      op = { type: 'del', key: r.string(MAX_KEY_BYTES, 'key') }
    } else {
      throw new CodecError(`unknown op type ${opType}`)
    }
    const signature = r.fixed(SIGNATURE_BYTES, 'signature')
    return { chainId, from, nonce, op, signature }
  })
}

/** The tx hash: SHA-256 of the canonical encoded signed tx. */
export function txHash(encodedTx: Uint8Array): Uint8Array {
  return sha256(encodedTx)
}

/**
 * An encoded tx with its hash (and, once asked for, its decoding), so each is computed once per
 * node and passed along (tx gossip, mempool, block building, validation, execution) instead of
 * recomputed at each step. The hash is a signature-cache key (a hit skips the Ed25519 verify), so
 * it must be the hash of exactly these bytes: `hashTx` is the only way to make one (the constructor
 * is private), and tx bytes are never mutated once received (every holder treats them as read-only).
 */
/** HashedTx.of's memo: each tx array's HashedTx, for as long as the array lives */
const known = new WeakMap<Uint8Array, HashedTx>()

export class HashedTx {
  #decoded: SignedTx | undefined

  private constructor(
    readonly bytes: Uint8Array,
    readonly hash: Uint8Array,
  ) {}

  /**
   * The HashedTx of these bytes: the one made before for this very array, if any (a replica's
   * validation finds the mempool's, block sync's finds its pre-verification's: hashed and decoded
   * once per node), else a new one. Keyed by the array's identity, weakly; sound because tx bytes
   * are never mutated once received (above).
   */
  static of(bytes: Uint8Array): HashedTx {
    let hashed = known.get(bytes)
    if (hashed === undefined) {
      hashed = new HashedTx(bytes, txHash(bytes))
      known.set(bytes, hashed)
    }
    return hashed
  }

  /** decodeTx(bytes), decoded on the first call only (throws CodecError like decodeTx; not kept then). */
  decoded(): SignedTx {
    if (this.#decoded === undefined) this.#decoded = decodeTx(this.bytes)
    return this.#decoded
  }
}

export function hashTx(bytes: Uint8Array): HashedTx {
  return HashedTx.of(bytes)
}

export function writeHeader(w: Writer, h: BlockHeader): void {
  w.u8(Tag.header)
    .string(h.chainId)
    .u64(h.height)
    .u64(h.view)
    .u64(h.timestamp)
    .fixed(h.proposer, PUBLIC_KEY_BYTES)
    .fixed(h.parentHash, HASH_BYTES)
    .fixed(h.txRoot, HASH_BYTES)
    .fixed(h.appHash, HASH_BYTES)
}

export function readHeader(r: Reader): BlockHeader {
  r.tag(Tag.header, 'header')
  return {
    chainId: readChainId(r),
    height: r.u64('height'),
    view: r.u64('view'),
    timestamp: r.u64('timestamp'),
    proposer: r.fixed(PUBLIC_KEY_BYTES, 'proposer'),
    parentHash: r.fixed(HASH_BYTES, 'parent_hash'),
    txRoot: r.fixed(HASH_BYTES, 'tx_root'),
    appHash: r.fixed(HASH_BYTES, 'app_hash'),
  }
}

export function encodeHeader(h: BlockHeader): Uint8Array {
  const w = new Writer(256)
  writeHeader(w, h)
  return w.finish()
}

export function decodeHeader(data: Uint8Array): BlockHeader {
  return decodeExact(data, 512, 'header', readHeader)
}

/** The block hash: SHA-256 of the canonical header (the txs are bound through tx_root). */
export function blockHash(header: BlockHeader): Uint8Array {
  return sha256(encodeHeader(header))
}

export function writeBlock(w: Writer, b: Block): void {
  w.u8(Tag.block)
  writeHeader(w, b.header)
  w.u32(b.txs.length)
  for (const tx of b.txs) w.bytes(tx)
}

export function readBlock(r: Reader): Block {
  r.tag(Tag.block, 'block')
  const header = readHeader(r)
  const n = r.count(MAX_TXS_PER_BLOCK, 'tx count')
  const txs: Uint8Array[] = []
  for (let i = 0; i < n; i++) txs.push(r.bytes(MAX_TX_BYTES, 'tx'))
  return { header, txs }
}

export function encodeBlock(b: Block): Uint8Array {
  const w = new Writer(512)
  writeBlock(w, b)
  const out = w.finish()
  if (out.length > MAX_BLOCK_BYTES)
    throw new CodecError(`block too large: ${out.length} > ${MAX_BLOCK_BYTES} bytes`)
  return out
}

export function decodeBlock(data: Uint8Array): Block {
  return decodeExact(data, MAX_BLOCK_BYTES, 'block', readBlock)
}

export function writeCertificate(w: Writer, c: CommitCertificate): void {
  w.u8(Tag.certificate).u64(c.height).u64(c.view).fixed(c.blockHash, HASH_BYTES).u32(c.votes.length)
  for (const v of c.votes) w.u16(v.validator).fixed(v.signature, SIGNATURE_BYTES)
}

export function readCertificate(r: Reader): CommitCertificate {
  r.tag(Tag.certificate, 'certificate')
  const height = r.u64('height')
  const view = r.u64('view')
  const blockHash = r.fixed(HASH_BYTES, 'block_hash')
  const n = r.count(MAX_VALIDATORS, 'vote count')
  const votes: CommitVote[] = []
  for (let i = 0; i < n; i++) {
    const validator = r.u16('validator index')
    if (i > 0 && validator <= (votes[i - 1] as CommitVote).validator) {
      throw new CodecError('certificate votes must be sorted by validator index without duplicates')
    }
    votes.push({ validator, signature: r.fixed(SIGNATURE_BYTES, 'vote signature') })
  }
  return { height, view, blockHash, votes }
}

export function encodeCertificate(c: CommitCertificate): Uint8Array {
  const w = new Writer(128 + c.votes.length * 66)
  writeCertificate(w, c)
  return w.finish()
}

export function decodeCertificate(data: Uint8Array): CommitCertificate {
  return decodeExact(data, 64 + MAX_VALIDATORS * 66, 'certificate', readCertificate)
}

/** Tag of a COMMIT vote's sign-bytes; consensus message tags start at 0x10 (codec/consensus). */
export const COMMIT_VOTE_TAG = 0x12

/**
 * The bytes a validator signs in a COMMIT (PBFT §4.2): (chain_id, view, height, block hash).
 * A CommitCertificate is a set of these signatures, so anyone can check it against genesis.
 */
export function commitVoteSignBytes(
  chainId: string,
  view: number,
  height: number,
  hash: Uint8Array,
): Uint8Array {
  return new Writer(128)
    .u8(COMMIT_VOTE_TAG)
    .string(chainId)
    .u64(view)
    .u64(height)
    .fixed(hash, HASH_BYTES)
    .finish()
}
