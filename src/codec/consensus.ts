import { SIGNATURE_BYTES } from '../crypto/ed25519.js'
import { HASH_BYTES } from '../crypto/hash.js'
import { decodeExact, type Reader, Writer } from './binary.js'
import {
  blockHash,
  COMMIT_VOTE_TAG,
  commitVoteSignBytes,
  readBlock,
  readCertificate,
  readHeader,
  writeBlock,
  writeCertificate,
  writeHeader,
} from './chain.js'
import { CodecError } from './errors.js'
import {
  MAX_BLOCK_BYTES,
  MAX_MESSAGE_BYTES,
  MAX_PIPELINE_DEPTH,
  MAX_REASON_BYTES,
  MAX_VALIDATORS,
} from './limits.js'
import type { Block, BlockHeader, CommitCertificate, CommitVote } from './types.js'

/**
 * PBFT consensus messages (Castro & Liskov §4) and their canonical encodings. Every message is signed
 * by its sender over its "sign bytes": the message tag, the chain id, then the fields without the
 * signature. COMMIT is the exception: it signs commitVoteSignBytes so that 2f+1 COMMITs are, as they
 * are, a CommitCertificate. Blocks are never signed directly: PRE-PREPARE signs the block hash, so a
 * prepared certificate can carry the primary's signature without the block.
 */
const ConsensusTag = {
  preprepare: 0x10,
  prepare: 0x11,
  commit: COMMIT_VOTE_TAG, // 0x12
  viewchange: 0x13,
  newview: 0x14,
  reject: 0x15,
  wal: 0x20,
} as const

export type ConsensusKind = 'preprepare' | 'prepare' | 'commit' | 'viewchange' | 'newview' | 'reject'
export const CONSENSUS_KINDS: readonly ConsensusKind[] = [
  'preprepare',
  'prepare',
  'commit',
  'viewchange',
  'newview',
  'reject',
]

/** PRE-PREPARE(v, h, d) with the block itself (§4.2); signed over (v, h, sender, blockHash). */
export interface PrePrepareMsg {
  readonly kind: 'preprepare'
  readonly view: number
  readonly height: number
  readonly sender: number
  readonly block: Block
  readonly signature: Uint8Array
}

/** PREPARE(v, h, d, i) (§4.2). */
export interface PrepareMsg {
  readonly kind: 'prepare'
  readonly view: number
  readonly height: number
  readonly blockHash: Uint8Array
  readonly sender: number
  readonly signature: Uint8Array
}

/** COMMIT(v, h, d, i) (§4.2); the signature is over commitVoteSignBytes(chainId, v, h, d). */
export interface CommitMsg {
  readonly kind: 'commit'
  readonly view: number
  readonly height: number
  readonly blockHash: Uint8Array
  readonly sender: number
  readonly signature: Uint8Array
}

/** A signed rejection of a proposal (docs/CONSENSUS.md "Consensus rules"): f+1 of them prove the primary faulty. */
export interface RejectMsg {
  readonly kind: 'reject'
  readonly view: number
  readonly height: number
  readonly blockHash: Uint8Array
  readonly sender: number
  readonly reason: string
  readonly signature: Uint8Array
}

/**
 * A prepared certificate (§4.4, the P set): the primary's PRE-PREPARE signature and 2f PREPARE
 * signatures from other validators, all for (view, height, blockHash). `block` travels with a
 * standalone VIEW-CHANGE (the new primary may need to re-propose it) and is stripped inside a
 * NEW-VIEW (the NEW-VIEW's own PRE-PREPARE carries the one block that matters).
 */
export interface PreparedCert {
  readonly view: number
  readonly height: number
  readonly blockHash: Uint8Array
  readonly prePrepareSignature: Uint8Array
  /** sorted by validator index, no duplicates, never the primary of `view` */
  readonly prepares: readonly CommitVote[]
  readonly block: Block | null
}

/**
 * VIEW-CHANGE(v+1, n, C, P, i) (§4.4) adapted to a chain: the stable checkpoint is the last final
 * height with its commit certificate (null only at genesis), P holds this replica's highest-view
 * prepared certificate for each height above the checkpoint it has one for (at most the pipelining
 * depth K of them), sorted by height.
 */
export interface ViewChangeMsg {
  readonly kind: 'viewchange'
  readonly newView: number
  readonly sender: number
  readonly checkpointHeight: number
  readonly checkpoint: CommitCertificate | null
  readonly prepared: readonly PreparedCert[]
  readonly signature: Uint8Array
}

/** NEW-VIEW(v+1, V, O) (§4.4): 2f+1 VIEW-CHANGEs (blocks stripped) and the re-proposals (a chain, by height). */
export interface NewViewMsg {
  readonly kind: 'newview'
  readonly view: number
  readonly sender: number
  readonly viewChanges: readonly ViewChangeMsg[]
  readonly prePrepares: readonly PrePrepareMsg[]
  /**
   * When O stops below the highest-view candidates (new-view.ts linkedPrefix): the header of the first
   * candidate left out, proving it does not extend O (its hash is the candidate's block hash). Null
   * when every candidate is re-proposed.
   */
  readonly stopHeader: BlockHeader | null
  readonly signature: Uint8Array
}

export type ConsensusMessage = PrePrepareMsg | PrepareMsg | CommitMsg | RejectMsg | ViewChangeMsg | NewViewMsg

/** Records the engine asks its driver to persist before sending (persist-before-send). */
export type WalRecord =
  | { readonly kind: 'preprepare'; readonly msg: PrePrepareMsg }
  | { readonly kind: 'prepare'; readonly prePrepare: PrePrepareMsg; readonly msg: PrepareMsg }
  | { readonly kind: 'commit'; readonly prepared: PreparedCert; readonly msg: CommitMsg }
  /** own REJECT: after a restart the replica still refuses that (view, height)'s proposal */
  | { readonly kind: 'reject'; readonly msg: RejectMsg }
  | { readonly kind: 'viewchange'; readonly msg: ViewChangeMsg }
  | { readonly kind: 'newview'; readonly msg: NewViewMsg }

const MAX_REASON = MAX_REASON_BYTES
const MAX_WAL_RECORD_BYTES = MAX_MESSAGE_BYTES

// ---------- sign bytes ----------

function head(tag: number, chainId: string): Writer {
  return new Writer(160).u8(tag).string(chainId)
}

export function prePrepareSignBytes(
  chainId: string,
  view: number,
  height: number,
  sender: number,
  hash: Uint8Array,
): Uint8Array {
  return head(ConsensusTag.preprepare, chainId)
    .u64(view)
    .u64(height)
    .u16(sender)
    .fixed(hash, HASH_BYTES)
    .finish()
}

export function prepareSignBytes(
  chainId: string,
  view: number,
  height: number,
  sender: number,
  hash: Uint8Array,
): Uint8Array {
  return head(ConsensusTag.prepare, chainId)
    .u64(view)
    .u64(height)
    .u16(sender)
    .fixed(hash, HASH_BYTES)
    .finish()
}

export function rejectSignBytes(chainId: string, m: Omit<RejectMsg, 'signature' | 'kind'>): Uint8Array {
  return head(ConsensusTag.reject, chainId)
    .u64(m.view)
    .u64(m.height)
    .u16(m.sender)
    .fixed(m.blockHash, HASH_BYTES)
    .string(m.reason)
    .finish()
}

function writePreparedBody(w: Writer, p: PreparedCert): void {
  w.u64(p.view).u64(p.height).fixed(p.blockHash, HASH_BYTES).fixed(p.prePrepareSignature, SIGNATURE_BYTES)
  w.u32(p.prepares.length)
  for (const v of p.prepares) w.u16(v.validator).fixed(v.signature, SIGNATURE_BYTES)
}

function writeViewChangeBody(w: Writer, m: Omit<ViewChangeMsg, 'signature' | 'kind'>): void {
  w.u64(m.newView).u16(m.sender).u64(m.checkpointHeight)
  w.bool(m.checkpoint !== null)
  if (m.checkpoint !== null) writeCertificate(w, m.checkpoint)
  w.u32(m.prepared.length)
  for (const p of m.prepared) writePreparedBody(w, p)
}

export function viewChangeSignBytes(
  chainId: string,
  m: Omit<ViewChangeMsg, 'signature' | 'kind'>,
): Uint8Array {
  const w = head(ConsensusTag.viewchange, chainId)
  writeViewChangeBody(w, m)
  return w.finish()
}

export function newViewSignBytes(chainId: string, m: Omit<NewViewMsg, 'signature' | 'kind'>): Uint8Array {
  const w = head(ConsensusTag.newview, chainId).u64(m.view).u16(m.sender).u32(m.viewChanges.length)
  for (const vc of m.viewChanges) {
    writeViewChangeBody(w, vc)
    w.fixed(vc.signature, SIGNATURE_BYTES)
  }
  w.u32(m.prePrepares.length)
  for (const pp of m.prePrepares) {
    w.u64(pp.view).u64(pp.height).u16(pp.sender).fixed(blockHash(pp.block.header), HASH_BYTES)
    w.fixed(pp.signature, SIGNATURE_BYTES)
  }
  w.bool(m.stopHeader !== null)
  if (m.stopHeader !== null) w.fixed(blockHash(m.stopHeader), HASH_BYTES)
  return w.finish()
}

/** The bytes `msg.sender` must have signed. */
export function signBytesOf(chainId: string, msg: ConsensusMessage): Uint8Array {
  switch (msg.kind) {
    case 'preprepare':
      return prePrepareSignBytes(chainId, msg.view, msg.height, msg.sender, blockHash(msg.block.header))
    case 'prepare':
      return prepareSignBytes(chainId, msg.view, msg.height, msg.sender, msg.blockHash)
    case 'commit':
      return commitVoteSignBytes(chainId, msg.view, msg.height, msg.blockHash)
    case 'reject':
      return rejectSignBytes(chainId, msg)
    case 'viewchange':
      return viewChangeSignBytes(chainId, msg)
    case 'newview':
      return newViewSignBytes(chainId, msg)
  }
}

// ---------- wire encoding ----------

function writePrePrepare(w: Writer, m: PrePrepareMsg): void {
  w.u8(ConsensusTag.preprepare).u64(m.view).u64(m.height).u16(m.sender)
  writeBlock(w, m.block)
  w.fixed(m.signature, SIGNATURE_BYTES)
}

function readPrePrepare(r: Reader): PrePrepareMsg {
  r.tag(ConsensusTag.preprepare, 'preprepare')
  const view = r.u64('view')
  const height = r.u64('height')
  const sender = readSender(r)
  const block = readBlock(r)
  return { kind: 'preprepare', view, height, sender, block, signature: r.fixed(SIGNATURE_BYTES, 'signature') }
}

function readSender(r: Reader): number {
  const s = r.u16('sender')
  if (s >= MAX_VALIDATORS) throw new CodecError(`sender index ${s} out of range`)
  return s
}

function writeVote(w: Writer, tag: number, m: PrepareMsg | CommitMsg): void {
  w.u8(tag)
    .u64(m.view)
    .u64(m.height)
    .fixed(m.blockHash, HASH_BYTES)
    .u16(m.sender)
    .fixed(m.signature, SIGNATURE_BYTES)
}

function readVote<K extends 'prepare' | 'commit'>(r: Reader, kind: K) {
  r.tag(ConsensusTag[kind], kind)
  return {
    kind,
    view: r.u64('view'),
    height: r.u64('height'),
    blockHash: r.fixed(HASH_BYTES, 'block_hash'),
    sender: readSender(r),
    signature: r.fixed(SIGNATURE_BYTES, 'signature'),
  }
}

function writeReject(w: Writer, m: RejectMsg): void {
  w.u8(ConsensusTag.reject).u64(m.view).u64(m.height).fixed(m.blockHash, HASH_BYTES).u16(m.sender)
  w.string(m.reason).fixed(m.signature, SIGNATURE_BYTES)
}

function readReject(r: Reader): RejectMsg {
  r.tag(ConsensusTag.reject, 'reject')
  return {
    kind: 'reject',
    view: r.u64('view'),
    height: r.u64('height'),
    blockHash: r.fixed(HASH_BYTES, 'block_hash'),
    sender: readSender(r),
    reason: r.string(MAX_REASON, 'reason'),
    signature: r.fixed(SIGNATURE_BYTES, 'signature'),
  }
}

function writePrepared(w: Writer, p: PreparedCert, withBlock: boolean): void {
  writePreparedBody(w, p)
  const block = withBlock ? p.block : null
  w.bool(block !== null)
  if (block !== null) writeBlock(w, block)
}

function readVotes(r: Reader, what: string): CommitVote[] {
  const n = r.count(MAX_VALIDATORS, `${what} count`)
  const votes: CommitVote[] = []
  for (let i = 0; i < n; i++) {
    const validator = r.u16('validator index')
    if (i > 0 && validator <= (votes[i - 1] as CommitVote).validator) {
      throw new CodecError(`${what} must be sorted by validator index without duplicates`)
    }
    votes.push({ validator, signature: r.fixed(SIGNATURE_BYTES, 'signature') })
  }
  return votes
}

function readPrepared(r: Reader): PreparedCert {
  const view = r.u64('prepared view')
  const height = r.u64('prepared height')
  const hash = r.fixed(HASH_BYTES, 'prepared block_hash')
  const prePrepareSignature = r.fixed(SIGNATURE_BYTES, 'pre-prepare signature')
  const prepares = readVotes(r, 'prepares')
  const block = r.bool('has block') ? readBlock(r) : null
  return { view, height, blockHash: hash, prePrepareSignature, prepares, block }
}

function writeViewChange(w: Writer, m: ViewChangeMsg, withBlock: boolean): void {
  w.u8(ConsensusTag.viewchange).u64(m.newView).u16(m.sender).u64(m.checkpointHeight)
  w.bool(m.checkpoint !== null)
  if (m.checkpoint !== null) writeCertificate(w, m.checkpoint)
  w.u32(m.prepared.length)
  for (const p of m.prepared) writePrepared(w, p, withBlock)
  w.fixed(m.signature, SIGNATURE_BYTES)
}

function readViewChange(r: Reader): ViewChangeMsg {
  r.tag(ConsensusTag.viewchange, 'viewchange')
  const newView = r.u64('new view')
  const sender = readSender(r)
  const checkpointHeight = r.u64('checkpoint height')
  const checkpoint = r.bool('has checkpoint') ? readCertificate(r) : null
  const n = r.count(MAX_PIPELINE_DEPTH, 'prepared certificate count')
  const prepared: PreparedCert[] = []
  for (let i = 0; i < n; i++) prepared.push(readPrepared(r))
  const signature = r.fixed(SIGNATURE_BYTES, 'signature')
  return { kind: 'viewchange', newView, sender, checkpointHeight, checkpoint, prepared, signature }
}

/** A VIEW-CHANGE as carried inside a NEW-VIEW: the prepared block is dropped (the signature does not cover it). */
export function stripViewChange(vc: ViewChangeMsg): ViewChangeMsg {
  if (vc.prepared.every((p) => p.block === null)) return vc
  return { ...vc, prepared: vc.prepared.map((p) => ({ ...p, block: null })) }
}

function writeNewView(w: Writer, m: NewViewMsg): void {
  w.u8(ConsensusTag.newview).u64(m.view).u16(m.sender).u32(m.viewChanges.length)
  for (const vc of m.viewChanges) writeViewChange(w, vc, false)
  w.u32(m.prePrepares.length)
  for (const pp of m.prePrepares) writePrePrepare(w, pp)
  w.bool(m.stopHeader !== null)
  if (m.stopHeader !== null) writeHeader(w, m.stopHeader)
  w.fixed(m.signature, SIGNATURE_BYTES)
}

function readNewView(r: Reader): NewViewMsg {
  r.tag(ConsensusTag.newview, 'newview')
  const view = r.u64('view')
  const sender = readSender(r)
  const n = r.count(MAX_VALIDATORS, 'view-change count')
  const viewChanges: ViewChangeMsg[] = []
  for (let i = 0; i < n; i++) {
    const vc = readViewChange(r)
    if (vc.prepared.some((p) => p.block !== null)) {
      throw new CodecError('a VIEW-CHANGE inside a NEW-VIEW must not carry a block')
    }
    viewChanges.push(vc)
  }
  const m = r.count(MAX_PIPELINE_DEPTH, 'pre-prepare count')
  const prePrepares: PrePrepareMsg[] = []
  for (let i = 0; i < m; i++) prePrepares.push(readPrePrepare(r))
  const stopHeader = r.bool('has stop header') ? readHeader(r) : null
  const signature = r.fixed(SIGNATURE_BYTES, 'signature')
  return { kind: 'newview', view, sender, viewChanges, prePrepares, stopHeader, signature }
}

function writeMessage(w: Writer, msg: ConsensusMessage): void {
  switch (msg.kind) {
    case 'preprepare':
      writePrePrepare(w, msg)
      return
    case 'prepare':
      writeVote(w, ConsensusTag.prepare, msg)
      return
    case 'commit':
      writeVote(w, ConsensusTag.commit, msg)
      return
    case 'reject':
      writeReject(w, msg)
      return
    case 'viewchange':
      writeViewChange(w, msg, true)
      return
    case 'newview':
      writeNewView(w, msg)
      return
  }
}

function readMessage(r: Reader, kind: ConsensusKind): ConsensusMessage {
  switch (kind) {
    case 'preprepare':
      return readPrePrepare(r)
    case 'prepare':
      return readVote(r, 'prepare')
    case 'commit':
      return readVote(r, 'commit')
    case 'reject':
      return readReject(r)
    case 'viewchange':
      return readViewChange(r)
    case 'newview':
      return readNewView(r)
  }
}

/** Upper bound of one encoded message of each kind (a block plus certificates for the big ones). */
function maxMessageBytes(kind: ConsensusKind): number {
  switch (kind) {
    case 'prepare':
    case 'commit':
      return 1 + 8 + 8 + HASH_BYTES + 2 + SIGNATURE_BYTES
    case 'reject':
      return 1 + 8 + 8 + HASH_BYTES + 2 + 4 + MAX_REASON + SIGNATURE_BYTES
    case 'preprepare':
      return 1 + 8 + 8 + 2 + MAX_BLOCK_BYTES + SIGNATURE_BYTES
    case 'viewchange':
    case 'newview':
      return MAX_MESSAGE_BYTES
  }
}

export function encodeConsensusMessage(msg: ConsensusMessage): Uint8Array {
  const w = new Writer(msg.kind === 'prepare' || msg.kind === 'commit' ? 128 : 1024)
  writeMessage(w, msg)
  const out = w.finish()
  if (out.length > maxMessageBytes(msg.kind))
    throw new CodecError(`${msg.kind} too large: ${out.length} bytes`)
  return out
}

/** Strict decoder for one gossip topic's payload: the leading tag must be `kind`'s. */
export function decodeConsensusMessage(kind: ConsensusKind, data: Uint8Array): ConsensusMessage {
  if (!CONSENSUS_KINDS.includes(kind)) throw new CodecError(`unknown consensus message kind ${String(kind)}`)
  return decodeExact(data, maxMessageBytes(kind), kind, (r) => readMessage(r, kind))
}

/**
 * Where each kind's u16 sender index sits on the wire: after the tag, view (and height, and for
 * votes and REJECT the block hash). The layouts are the read* functions below; a unit test checks
 * this against decodeConsensusMessage for every kind.
 */
const SENDER_OFFSET: Readonly<Record<ConsensusKind, number>> = {
  preprepare: 1 + 8 + 8,
  prepare: 1 + 8 + 8 + HASH_BYTES,
  commit: 1 + 8 + 8 + HASH_BYTES,
  reject: 1 + 8 + 8 + HASH_BYTES,
  viewchange: 1 + 8,
  newview: 1 + 8,
}

/**
 * The sender index of an encoded `kind` message, read without decoding anything else: undefined
 * when the tag is not `kind`'s or the bytes end before the field. Nothing is checked beyond that,
 * so it is only good for dropping a message early (a message that passes still gets decoded).
 */
export function peekConsensusSender(kind: ConsensusKind, data: Uint8Array): number | undefined {
  const at = SENDER_OFFSET[kind]
  if (data.length < at + 2 || data[0] !== ConsensusTag[kind]) return undefined
  return ((data[at] as number) << 8) | (data[at + 1] as number)
}

const KIND_BY_TAG = new Map<number, ConsensusKind>(CONSENSUS_KINDS.map((k) => [ConsensusTag[k], k]))

/** Decodes any consensus message by its leading tag. */
export function decodeAnyConsensusMessage(data: Uint8Array): ConsensusMessage {
  const kind = data.length > 0 ? KIND_BY_TAG.get(data[0] as number) : undefined
  if (kind === undefined) throw new CodecError('not a consensus message')
  return decodeConsensusMessage(kind, data)
}

// ---------- WAL records ----------

const WAL_KIND = { preprepare: 1, prepare: 2, commit: 3, viewchange: 4, newview: 5, reject: 6 } as const

export function encodeWalRecord(rec: WalRecord): Uint8Array {
  const w = new Writer(1024).u8(ConsensusTag.wal).u8(WAL_KIND[rec.kind])
  switch (rec.kind) {
    case 'preprepare':
    case 'reject':
    case 'viewchange':
    case 'newview':
      writeMessage(w, rec.msg)
      break
    case 'prepare':
      writePrePrepare(w, rec.prePrepare)
      writeMessage(w, rec.msg)
      break
    case 'commit':
      writePrepared(w, rec.prepared, true)
      writeMessage(w, rec.msg)
      break
  }
  return w.finish()
}

export function decodeWalRecord(data: Uint8Array): WalRecord {
  return decodeExact(data, MAX_WAL_RECORD_BYTES, 'wal record', (r): WalRecord => {
    r.tag(ConsensusTag.wal, 'wal record')
    const k = r.u8('wal kind')
    switch (k) {
      case WAL_KIND.preprepare:
        return { kind: 'preprepare', msg: readPrePrepare(r) }
      case WAL_KIND.prepare: {
        const prePrepare = readPrePrepare(r)
        return { kind: 'prepare', prePrepare, msg: readVote(r, 'prepare') }
      }
      case WAL_KIND.commit: {
        const prepared = readPrepared(r)
        if (prepared.block === null) throw new CodecError('wal commit record without its block')
        return { kind: 'commit', prepared, msg: readVote(r, 'commit') }
      }
      case WAL_KIND.viewchange:
        return { kind: 'viewchange', msg: readViewChange(r) }
      case WAL_KIND.newview:
        return { kind: 'newview', msg: readNewView(r) }
      case WAL_KIND.reject:
        return { kind: 'reject', msg: readReject(r) }
      default:
        throw new CodecError(`unknown wal record kind ${k}`)
    }
  })
}
