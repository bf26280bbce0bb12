import type { JournalEntry, JournalWrite } from '../chain/store.js'
import { decodeExact, Writer } from '../codec/binary.js'
import { txHash } from '../codec/chain.js'
import { MAX_REASON_BYTES, MAX_TX_BYTES, truncateUtf8 } from '../codec/limits.js'
import { bytesEqual, fromHex, HASH_BYTES, toHex } from '../crypto/hash.js'
import { MempoolError } from './errors.js'

/**
 * What the journal remembers of a tx this node acknowledged (docs/CONSENSUS.md "Consensus rules"): pending until it is final
 * (then the record is deleted) or dropped (then the record says why, for the `tx` RPC).
 */
export type JournalRecord =
  | { readonly kind: 'pending'; readonly admittedAt: number; readonly tx: Uint8Array }
  | {
      readonly kind: 'dropped'
      readonly admittedAt: number
      readonly droppedAt: number
      readonly reason: string
      readonly tx: Uint8Array
    }

const TAG_PENDING = 1
const TAG_DROPPED = 2
const MAX_RECORD_BYTES = 1 + 8 + 8 + 4 + MAX_REASON_BYTES + 4 + MAX_TX_BYTES

/** tag u8 (1 pending, 2 dropped) | admitted_at u64 ms | [dropped_at u64 ms | reason string] | tx bytes */
export function encodeJournalRecord(record: JournalRecord): Uint8Array {
  const w = new Writer(32 + record.tx.length)
  if (record.kind === 'pending') return w.u8(TAG_PENDING).u64(record.admittedAt).bytes(record.tx).finish()
  // A reason is ours, but it may quote an error message: keep it within its decode bound.
  const reason = truncateUtf8(record.reason, MAX_REASON_BYTES)
  return w
    .u8(TAG_DROPPED)
    .u64(record.admittedAt)
    .u64(record.droppedAt)
    .string(reason)
    .bytes(record.tx)
    .finish()
}

/** Throws a CodecError on anything but a well-formed record. */
export function decodeJournalRecord(bytes: Uint8Array): JournalRecord {
  return decodeExact(bytes, MAX_RECORD_BYTES, 'mempool journal record', (r) => {
    const tag = r.u8('record kind')
    const admittedAt = r.u64('admitted_at')
    if (tag === TAG_PENDING) return { kind: 'pending', admittedAt, tx: r.bytes(MAX_TX_BYTES, 'tx') }
    if (tag === TAG_DROPPED) {
      const droppedAt = r.u64('dropped_at')
      const reason = r.string(MAX_REASON_BYTES, 'reason')
      return { kind: 'dropped', admittedAt, droppedAt, reason, tx: r.bytes(MAX_TX_BYTES, 'tx') }
    }
    throw new MempoolJournalError(`unknown record kind ${tag}`)
  })
}

export class MempoolJournalError extends Error {
  override name = 'MempoolJournalError'
}

/** The part of ChainStore the journal uses (its own bucket of the node's LevelDB). */
export interface JournalStore {
  journalWrite(writes: readonly JournalWrite[], sync: boolean): Promise<void>
  journalEntries(): Promise<JournalEntry[]>
}

export interface JournalLogger {
  warn(obj: object, msg: string): void
}

export interface MempoolJournalOptions {
  /** most dropped records kept (as many as the node's in-memory dropped history) */
  readonly maxDropped: number
  readonly log?: JournalLogger
  /** ms clock for drop times; injected for tests */
  readonly now?: () => number
}

/** Where load() puts what it finds. */
export interface JournalReloadTarget {
  /** true when the tx is in the chain's tx index (final) */
  isCommitted(hash: Uint8Array): Promise<boolean>
  /** re-admits a pending tx with its original admission time; throws (e.g. MempoolError) if it cannot */
  readmit(tx: Uint8Array, admittedAt: number): void
  /** a dropped tx, oldest drop first, for the node's dropped history */
  restoreDropped(hash: Uint8Array, reason: string, tx: Uint8Array): void
}

export interface JournalReloadReport {
  readmitted: number
  /** pending records whose re-admission failed: now dropped records with the reason */
  failed: number
  committed: number
  dropped: number
  corrupt: number
}

interface Batch {
  readonly writes: JournalWrite[]
  sync: boolean
  /** hashes whose pending record this batch makes durable (untracked again if it fails) */
  readonly pendingKeys: string[]
  readonly done: Promise<void>
  resolve: () => void
  reject: (err: unknown) => void
}

interface Tracked {
  readonly state: 'pending' | 'dropped'
  readonly admittedAt: number
}

/**
 * The mempool journal: a durable record, in the node's LevelDB, of every tx this node acknowledged
 * to a client as pending, so a crash (SIGKILL, power loss) after the ack cannot make the node forget
 * it (docs/CONSENSUS.md "Consensus rules"). A pending record is written with sync before the ack; it is deleted once the tx is
 * final, and replaced by a dropped record (reason) if the tx is dropped.
 *
 * Group commit: every change made in one event-loop turn goes into one LevelDB batch, and while a
 * batch is being written the next one collects; a batch is synced when it holds a pending record
 * (the acks wait for it), else not (a lost delete or drop record is redone by load()). Batches are
 * written one at a time in order, so a record's put, drop and delete land in the order they happened.
 *
 * Only hashes this journal wrote are tracked (in memory), so committing a block issues deletes for
 * those alone, not one tombstone per block tx.
 */
export class MempoolJournal {
  private readonly tracked = new Map<string, Tracked>()
  /** dropped records in drop order, to keep at most maxDropped of them */
  private readonly droppedOrder = new Set<string>()
  private next: Batch | undefined
  private inFlight: Batch | undefined
  private closed = false
  private readonly now: () => number

  constructor(
    private readonly store: JournalStore,
    private readonly opts: MempoolJournalOptions,
  ) {
    this.now = opts.now ?? Date.now
  }

  /** Hashes with a pending record (for tests and metrics). */
  get pendingCount(): number {
    return this.tracked.size - this.droppedOrder.size
  }

  get droppedCount(): number {
    return this.droppedOrder.size
  }

  has(hash: Uint8Array): boolean {
    return this.tracked.has(toHex(hash))
  }

  /**
   * Journals a tx about to be acknowledged as pending; resolves once its record is on disk (the
   * ack must wait for it). For a hash already journaled as pending, resolves once every write
   * issued so far is on disk (its own may still be in flight).
   */
  recordPending(hash: Uint8Array, tx: Uint8Array, admittedAt: number): Promise<void> {
    if (this.closed) return Promise.reject(new MempoolJournalError('the mempool journal is closed'))
    const key = toHex(hash)
    if (this.tracked.get(key)?.state === 'pending') return this.barrier()
    this.droppedOrder.delete(key)
    this.tracked.set(key, { state: 'pending', admittedAt })
    const batch = this.enqueue(
      { hash, value: encodeJournalRecord({ kind: 'pending', admittedAt, tx }) },
      true,
    )
    batch.pendingKeys.push(key)
    return batch.done
  }

  /** A block was committed: its journaled txs need no record any more. */
  committed(hashes: readonly Uint8Array[]): void {
    if (this.closed) return // the store is closing; load() redoes what is lost
    for (const hash of hashes) {
      const key = toHex(hash)
      if (!this.tracked.has(key)) continue
      this.untrack(key)
      this.enqueue({ hash, value: null }, false)
    }
  }

  /** A journaled tx left the mempool without being committed: keep why, for after a restart. */
  dropped(hash: Uint8Array, reason: string, tx: Uint8Array): void {
    if (this.closed) return // the store is closing; load() redoes what is lost
    const key = toHex(hash)
    const entry = this.tracked.get(key)
    if (entry?.state !== 'pending') return
    const { admittedAt } = entry
    this.markDropped(key, admittedAt)
    const droppedAt = this.now()
    this.enqueue(
      { hash, value: encodeJournalRecord({ kind: 'dropped', admittedAt, droppedAt, reason, tx }) },
      false,
    )
  }

  /** The node's dropped history forgot this tx: so does the journal. */
  forget(hash: Uint8Array): void {
    if (this.closed) return // the store is closing; load() redoes what is lost
    const key = toHex(hash)
    if (this.tracked.get(key)?.state !== 'dropped') return
    this.untrack(key)
    this.enqueue({ hash, value: null }, false)
  }

  /** Resolves once every write issued so far is on disk (or failed). */
  async flush(): Promise<void> {
    await this.barrier().catch(() => undefined)
  }

  /** Writes what is queued, then refuses new pending records (call before closing the store). */
  async close(): Promise<void> {
    this.closed = true
    await this.flush()
  }

  /**
   * Reads the journal at startup (before RPC serves): a record whose tx is final is deleted; a
   * pending one is re-admitted with its admission time (in admission-time order), or, if the
   * mempool refuses it, kept as dropped with the reason; dropped ones go to the node's history
   * (the newest maxDropped). A corrupt record is logged and deleted. One synced batch at the end.
   */
  async load(target: JournalReloadTarget): Promise<JournalReloadReport> {
    const report: JournalReloadReport = { readmitted: 0, failed: 0, committed: 0, dropped: 0, corrupt: 0 }
    const writes: JournalWrite[] = []
    const pending: { hash: Uint8Array; key: string; admittedAt: number; tx: Uint8Array }[] = []
    const dropped: {
      hash: Uint8Array
      key: string
      admittedAt: number
      droppedAt: number
      reason: string
      tx: Uint8Array
    }[] = []
    for (const entry of await this.store.journalEntries()) {
      let record: JournalRecord
      try {
        record = decodeJournalRecord(entry.value)
        if (entry.hash.length !== HASH_BYTES)
          throw new MempoolJournalError(`key of ${entry.hash.length} bytes`)
        if (!bytesEqual(txHash(record.tx), entry.hash))
          throw new MempoolJournalError('tx does not hash to its key')
      } catch (err) {
        report.corrupt++
        this.opts.log?.warn(
          { key: Buffer.from(entry.hash).toString('hex'), err },
          'deleting a corrupt mempool journal record',
        )
        writes.push({ hash: entry.hash, value: null })
        continue
      }
      if (await target.isCommitted(entry.hash)) {
        report.committed++
        writes.push({ hash: entry.hash, value: null })
        continue
      }
      const key = toHex(entry.hash)
      if (record.kind === 'pending')
        pending.push({ hash: entry.hash, key, admittedAt: record.admittedAt, tx: record.tx })
      else dropped.push({ hash: entry.hash, key, ...record })
    }

    // evictExpired relies on arrival order being time order; the key breaks ties deterministically.
    pending.sort((a, b) => a.admittedAt - b.admittedAt || (a.key < b.key ? -1 : 1))
    const now = this.now()
    for (const p of pending) {
      try {
        target.readmit(p.tx, p.admittedAt)
        this.tracked.set(p.key, { state: 'pending', admittedAt: p.admittedAt })
        report.readmitted++
      } catch (err) {
        report.failed++
        const reason = readmitFailureReason(err)
        this.opts.log?.warn({ hash: p.key, reason }, 'journaled tx not re-admitted after restart: dropped')
        dropped.push({ ...p, droppedAt: now, reason })
        writes.push({
          hash: p.hash,
          value: encodeJournalRecord({
            kind: 'dropped',
            admittedAt: p.admittedAt,
            droppedAt: now,
            reason,
            tx: p.tx,
          }),
        })
      }
    }

    dropped.sort((a, b) => a.droppedAt - b.droppedAt)
    const excess = Math.max(0, dropped.length - this.opts.maxDropped)
    for (const [i, d] of dropped.entries()) {
      if (i < excess) {
        writes.push({ hash: d.hash, value: null })
        continue
      }
      this.markDropped(d.key, d.admittedAt)
      target.restoreDropped(d.hash, d.reason, d.tx)
      report.dropped++
    }
    await this.store.journalWrite(writes, true)
    return report
  }

  private markDropped(key: string, admittedAt: number): void {
    this.tracked.set(key, { state: 'dropped', admittedAt })
    this.droppedOrder.delete(key)
    this.droppedOrder.add(key)
    while (this.droppedOrder.size > this.opts.maxDropped) {
      const oldest = this.droppedOrder.values().next().value as string
      if (oldest === key) break
      this.untrack(oldest)
      this.enqueue({ hash: fromHex(oldest), value: null }, false)
    }
  }

  private untrack(key: string): void {
    this.tracked.delete(key)
    this.droppedOrder.delete(key)
  }

  /** The promise of the last batch issued (queued or in flight). */
  private barrier(): Promise<void> {
    return this.next?.done ?? this.inFlight?.done ?? Promise.resolve()
  }

  private enqueue(write: JournalWrite, sync: boolean): Batch {
    let batch = this.next
    if (batch === undefined) {
      batch = newBatch()
      this.next = batch
      // One batch per event-loop turn: everything admitted in this turn shares one sync.
      if (this.inFlight === undefined) setImmediate(() => void this.writeLoop())
    }
    batch.writes.push(write)
    batch.sync ||= sync
    return batch
  }

  private async writeLoop(): Promise<void> {
    if (this.inFlight !== undefined) return
    for (let batch = this.next; batch !== undefined; batch = this.next) {
      this.next = undefined
      this.inFlight = batch
      try {
        await this.store.journalWrite(batch.writes, batch.sync)
        batch.resolve()
      } catch (err) {
        // Not durable: forget those pending records so a resubmission journals them again.
        for (const key of batch.pendingKeys) if (this.tracked.get(key)?.state === 'pending') this.untrack(key)
        this.opts.log?.warn({ err, writes: batch.writes.length }, 'mempool journal write failed')
        batch.reject(err)
      }
      this.inFlight = undefined
    }
  }
}

function newBatch(): Batch {
  let resolve: () => void = () => {}
  let reject: (err: unknown) => void = () => {}
  const done = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // Deletes and drop records are fire-and-forget: a failure is logged, not an unhandled rejection.
  done.catch(() => undefined)
  return { writes: [], sync: false, pendingKeys: [], done, resolve, reject }
}

/** Why a journaled tx could not be re-admitted: 'stale_nonce' as in the mempool, else the refusal. */
export function readmitFailureReason(err: unknown): string {
  if (err instanceof MempoolError) {
    if (err.code === 'bad_nonce') return 'stale_nonce'
    return `not re-admitted after restart (${err.code}): ${err.message}`
  }
  return `not re-admitted after restart: ${String(err)}`
}
