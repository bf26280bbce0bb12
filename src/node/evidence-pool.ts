import type { EvidenceEntry, EvidenceWrite } from '../chain/store.js'
import type { ValidatorSet } from '../chain/validators.js'
import { blockHash } from '../codec/chain.js'
import { type ConsensusMessage, signBytesOf } from '../codec/consensus.js'
import {
  decodeEvidenceRecord,
  type EvidenceRecord,
  type EvidenceSide,
  encodeEvidenceRecord,
  evidenceKey,
  evidenceSignBytes,
  isEvidenceKind,
} from '../codec/evidence.js'
import { MAX_EVIDENCE_SIGN_BYTES } from '../codec/limits.js'
import type { Evidence } from '../consensus/types.js'
import { verifyConsensusMessage } from '../consensus/verify.js'
import { bytesEqual, sha256, toHex } from '../crypto/hash.js'
import type { NodeMetrics } from './metrics.js'

/** Why a reported equivocation was not kept (the `reason` of pbft_evidence_refused_total). */
export type EvidenceRefusal =
  /** the two messages are of different kinds, or REJECTs (two rejections of two blocks are honest) */
  | 'wrong_kind'
  | 'different_senders'
  /** not the same (view, height); for VIEW-CHANGE the same new view, for NEW-VIEW the same view */
  | 'different_slots'
  /** the same signed content twice: a retransmission, not a second vote */
  | 'not_conflicting'
  /** a message that verifyConsensusMessage refuses: bad signature, sender not a validator, malformed */
  | 'invalid_message'
  /** the evidence's own sender, kind, view or height do not match its messages */
  | 'inconsistent'

export type EvidenceAddResult =
  | { readonly status: 'added'; readonly record: EvidenceRecord }
  | { readonly status: 'duplicate' }
  | { readonly status: 'refused'; readonly reason: EvidenceRefusal }

/** The part of ChainStore the pool uses: its own bucket of the node's LevelDB. */
export interface EvidenceStore {
  evidenceWrite(writes: readonly EvidenceWrite[]): Promise<void>
  evidenceEntries(): Promise<EvidenceEntry[]>
}

export interface EvidencePoolLogger {
  warn(obj: object, msg: string): void
}

export interface EvidencePoolComponents {
  readonly store: EvidenceStore
  readonly chainId: string
  readonly validators: ValidatorSet
  readonly metrics?: Pick<NodeMetrics, 'evidence' | 'evidenceRefused' | 'evidenceStored'>
  readonly log?: EvidencePoolLogger
  /** most records kept (default 1000) */
  readonly maxRecords?: number
  /** most encoded bytes kept (default 16 MiB) */
  readonly maxBytes?: number
  /** ms clock for received_at; injected for tests */
  readonly now?: () => number
  /**
   * Told of every record the pool holds, once verified: each added one, and each reloaded at start
   * with its received_at (the node excludes the validator for a while: docs/PROTOCOL.md §2.5).
   */
  readonly onProof?: (validator: number, receivedAt: number) => void
}

export interface EvidenceLoadReport {
  loaded: number
  /** undecodable records, or ones whose key, sender or signatures do not check out: deleted */
  corrupt: number
  /** over the bounds (a smaller limit than the one they were stored under): deleted */
  evicted: number
}

export const DEFAULT_MAX_EVIDENCE_RECORDS = 1000
export const DEFAULT_MAX_EVIDENCE_BYTES = 16 * 1024 * 1024

interface Stored {
  readonly record: EvidenceRecord
  readonly key: Uint8Array
  readonly encoded: Uint8Array
}

/**
 * The node's equivocation evidence (docs/CONSENSUS.md "Evidence"): what its engine reports, verified
 * again, reduced to an EvidenceRecord (no blocks), one per (validator, kind, view, height), bounded,
 * and kept in the node's LevelDB across restarts. The engine's own list is per run and holds the
 * whole messages; this is what the `evidence` RPC serves (docs/RPC.md).
 *
 * Bounds: at most maxRecords records and maxBytes encoded bytes. Beyond either, the validator holding
 * the most stored bytes loses its oldest record, so one validator equivocating in every view cannot
 * push the evidence against another out of the pool.
 */
export class EvidencePool {
  /** by hex key, in insertion order: oldest first */
  private readonly records = new Map<string, Stored>()
  private totalBytes = 0
  private writing: Promise<void> = Promise.resolve()
  private closed = false
  private readonly maxRecords: number
  private readonly maxBytes: number
  private readonly now: () => number

  constructor(private readonly c: EvidencePoolComponents) {
    this.maxRecords = c.maxRecords ?? DEFAULT_MAX_EVIDENCE_RECORDS
    this.maxBytes = c.maxBytes ?? DEFAULT_MAX_EVIDENCE_BYTES
    this.now = c.now ?? Date.now
  }

  get size(): number {
    return this.records.size
  }

  get bytes(): number {
    return this.totalBytes
  }

  /**
   * Reads the bucket at startup, oldest first by received_at. Each record is checked again (key,
   * canonical encoding, the signatures against the genesis keys): storage is not trusted to prove an
   * equivocation. Bad ones are logged and deleted, in one batch with any over the bounds.
   */
  async load(): Promise<EvidenceLoadReport> {
    const report: EvidenceLoadReport = { loaded: 0, corrupt: 0, evicted: 0 }
    const deletes: EvidenceWrite[] = []
    const good: Stored[] = []
    for (const entry of await this.c.store.evidenceEntries()) {
      try {
        const record = decodeEvidenceRecord(entry.value)
        const key = evidenceKey(record)
        if (!bytesEqual(key, entry.key)) throw new Error('the record is not the one its key names')
        if (verifyEvidenceRecord(record, this.c.chainId, this.c.validators) === 'invalid')
          throw new Error('the record does not verify against the validator set')
        good.push({ record, key, encoded: entry.value })
      } catch (err) {
        report.corrupt++
        this.c.log?.warn({ key: toHex(entry.key), err }, 'deleting a corrupt evidence record')
        deletes.push({ key: entry.key, value: null })
      }
    }
    good.sort((a, b) => a.record.receivedAt - b.record.receivedAt || Buffer.compare(a.key, b.key))
    for (const s of good) this.insert(s)
    for (const s of this.evictOverflow()) {
      report.evicted++
      deletes.push({ key: s.key, value: null })
    }
    report.loaded = this.records.size
    for (const s of this.records.values()) this.c.onProof?.(s.record.sender, s.record.receivedAt)
    if (deletes.length > 0) await this.c.store.evidenceWrite(deletes)
    this.c.metrics?.evidenceStored.set(this.records.size)
    return report
  }

  /**
   * Verifies a reported equivocation and keeps it if it is new. Synchronous (the driver calls it
   * inside a consensus step); the write to LevelDB is queued, never awaited by consensus: evidence
   * is for operators and tooling, and a failed write must not stop the node.
   */
  add(e: Evidence): EvidenceAddResult {
    const checked = this.check(e)
    if ('reason' in checked) {
      this.c.metrics?.evidenceRefused.inc({ reason: checked.reason })
      return { status: 'refused', reason: checked.reason }
    }
    if (checked.status === 'duplicate') return checked
    const { record } = checked
    const stored: Stored = { record, key: evidenceKey(record), encoded: encodeEvidenceRecord(record) }
    this.insert(stored)
    const evicted = this.evictOverflow()
    // The new record itself may be the one evicted (its validator holds the most): never written then.
    const writes: EvidenceWrite[] = evicted
      .filter((s) => s !== stored)
      .map((s) => ({ key: s.key, value: null }))
    if (!evicted.includes(stored)) writes.push({ key: stored.key, value: stored.encoded })
    this.persist(writes)
    this.c.metrics?.evidence.inc({ kind: record.kind })
    this.c.onProof?.(record.sender, record.receivedAt)
    this.c.metrics?.evidenceStored.set(this.records.size)
    return { status: 'added', record }
  }

  /** Newest first; `validator` keeps one validator's records. `total` counts every match. */
  list(query: { limit: number; validator?: number }): { total: number; records: EvidenceRecord[] } {
    const all = [...this.records.values()]
    const records: EvidenceRecord[] = []
    let total = 0
    for (let i = all.length - 1; i >= 0; i--) {
      const { record } = all[i] as Stored
      if (query.validator !== undefined && record.sender !== query.validator) continue
      total++
      if (records.length < query.limit) records.push(record)
    }
    return { total, records }
  }

  /** Resolves once every write queued so far is done (or failed and was logged). */
  flush(): Promise<void> {
    return this.writing
  }

  /** Writes what is queued, then writes no more (call before closing the store). */
  async close(): Promise<void> {
    this.closed = true
    await this.flush()
  }

  /** The cheap checks first, then the duplicate test, then the signatures. */
  private check(
    e: Evidence,
  ): { reason: EvidenceRefusal } | { status: 'duplicate' } | { status: 'new'; record: EvidenceRecord } {
    const { first, second } = e
    const kind = first.kind
    if (!isEvidenceKind(kind) || second.kind !== kind) return { reason: 'wrong_kind' }
    const sender = first.sender
    if (second.sender !== sender) return { reason: 'different_senders' }
    if (!Number.isInteger(sender) || sender < 0 || sender >= this.c.validators.n)
      return { reason: 'invalid_message' }
    const slot = slotOf(first)
    const other = slotOf(second)
    if (slot.view !== other.view || slot.height !== other.height) return { reason: 'different_slots' }
    if (
      !Number.isSafeInteger(slot.view) ||
      slot.view < 0 ||
      !Number.isSafeInteger(slot.height) ||
      slot.height < 0
    )
      return { reason: 'invalid_message' }
    if (e.sender !== sender || e.kind !== kind || e.view !== slot.view || e.height !== slot.height)
      return { reason: 'inconsistent' }
    if (this.records.has(toHex(evidenceKey({ sender, kind, ...slot })))) return { status: 'duplicate' }
    const a = sideOf(this.c.chainId, first)
    const b = sideOf(this.c.chainId, second)
    if (bytesEqual(a.digest, b.digest)) return { reason: 'not_conflicting' }
    const { chainId, validators } = this.c
    if (
      !verifyConsensusMessage(first, chainId, validators) ||
      !verifyConsensusMessage(second, chainId, validators)
    )
      return { reason: 'invalid_message' }
    const [lo, hi] = Buffer.compare(a.digest, b.digest) < 0 ? [a, b] : [b, a]
    return {
      status: 'new',
      record: { sender, kind, ...slot, receivedAt: this.now(), first: lo, second: hi },
    }
  }

  private insert(s: Stored): void {
    this.records.set(toHex(s.key), s)
    this.totalBytes += s.encoded.length
  }

  /** Drops records until both bounds hold: each time the oldest of the validator with the most bytes. */
  private evictOverflow(): Stored[] {
    const evicted: Stored[] = []
    while (this.records.size > this.maxRecords || this.totalBytes > this.maxBytes) {
      const bytesBySender = new Map<number, number>()
      for (const s of this.records.values())
        bytesBySender.set(s.record.sender, (bytesBySender.get(s.record.sender) ?? 0) + s.encoded.length)
      let worst = -1
      let most = -1
      // Map order is the order of each sender's oldest record: a tie goes to the longest-standing one.
      for (const [sender, bytes] of bytesBySender)
        if (bytes > most) {
          worst = sender
          most = bytes
        }
      for (const [hex, s] of this.records) {
        if (s.record.sender !== worst) continue
        this.records.delete(hex)
        this.totalBytes -= s.encoded.length
        evicted.push(s)
        break
      }
    }
    return evicted
  }

  private persist(writes: EvidenceWrite[]): void {
    if (this.closed || writes.length === 0) return
    // One write at a time, in order: a record's put lands before the delete that may evict it later.
    this.writing = this.writing
      .then(() => this.c.store.evidenceWrite(writes))
      .catch((err: unknown) => this.c.log?.warn({ err }, 'evidence write failed'))
  }
}

/** A message's slot as the engine keys its evidence: VIEW-CHANGE and NEW-VIEW have height 0. */
function slotOf(msg: ConsensusMessage): { view: number; height: number } {
  switch (msg.kind) {
    case 'viewchange':
      return { view: msg.newView, height: 0 }
    case 'newview':
      return { view: msg.view, height: 0 }
    default:
      return { view: msg.view, height: msg.height }
  }
}

/** What a message's signature covers, compactly (EvidenceSide). */
function sideOf(chainId: string, msg: ConsensusMessage): EvidenceSide {
  switch (msg.kind) {
    case 'preprepare':
      return { digest: blockHash(msg.block.header), signature: msg.signature, signBytes: null }
    case 'prepare':
    case 'commit':
    case 'reject':
      return { digest: msg.blockHash, signature: msg.signature, signBytes: null }
    case 'viewchange':
    case 'newview': {
      const bytes = signBytesOf(chainId, msg)
      return {
        digest: sha256(bytes),
        signature: msg.signature,
        signBytes: bytes.length <= MAX_EVIDENCE_SIGN_BYTES ? bytes : null,
      }
    }
  }
}

/**
 * Re-checks a record with nothing but the chain id and the genesis validator set, as any client can
 * (docs/CONSENSUS.md "Evidence"): both signatures verify against the sender's key over the sign
 * bytes of its slot, and the digests differ. 'unverifiable' when a side's sign bytes were too large
 * to keep (only the node that stored it checked that signature).
 */
export function verifyEvidenceRecord(
  record: EvidenceRecord,
  chainId: string,
  validators: ValidatorSet,
): 'valid' | 'invalid' | 'unverifiable' {
  if (!Number.isInteger(record.sender) || record.sender < 0 || record.sender >= validators.n) return 'invalid'
  if (bytesEqual(record.first.digest, record.second.digest)) return 'invalid'
  let complete = true
  for (const side of [record.first, record.second]) {
    let bytes: Uint8Array | null
    try {
      bytes = evidenceSignBytes(chainId, record, side)
    } catch {
      return 'invalid'
    }
    if (bytes === null) complete = false
    else if (!validators.verify(record.sender, bytes, side.signature)) return 'invalid'
  }
  return complete ? 'valid' : 'unverifiable'
}
