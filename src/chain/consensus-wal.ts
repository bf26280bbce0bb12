import { decodeWalRecord, encodeWalRecord, type WalRecord } from '../codec/consensus.js'
import { sha256, toHex } from '../crypto/hash.js'

/** A value, or a promise of it: the simulator's stores answer at once, LevelDB asynchronously. */
export type Awaitable<T> = T | Promise<T>

/** Runs `next` on the value now if it is one, or once the promise resolves. */
export function andThen<T, U>(value: Awaitable<T>, next: (v: T) => Awaitable<U>): Awaitable<U> {
  return value instanceof Promise ? value.then(next) : next(value)
}

/** One raw WAL entry: its key and its encoded record. */
export interface WalEntry {
  readonly key: string
  readonly value: Uint8Array
}

/**
 * Where the WAL's bytes live: the consensus-WAL bucket of the node's LevelDB (ChainStore), or an
 * in-memory map in the simulator. Each write is durable when it resolves.
 */
export interface WalStorage {
  walEntries(): Awaitable<readonly WalEntry[]>
  walPut(key: string, value: Uint8Array): Awaitable<void>
  walDelete(keys: readonly string[]): Awaitable<void>
}

export interface WalLoadResult {
  readonly records: WalRecord[]
  /** undecodable entries (torn or foreign), skipped */
  readonly corrupt: { readonly key: string; readonly error: string }[]
}

/**
 * The consensus write-ahead log as typed records (Lodestar's Repository, one record kind): what
 * the engine signed and must never contradict after a crash (docs/CONSENSUS.md). A record's key is
 * the hash of its encoding, so writing it twice is harmless and `retain` can tell which are
 * missing without reading them back.
 */
export class ConsensusWal {
  /** the keys on storage, as of the last load/append/retain */
  private readonly keys = new Set<string>()

  constructor(private readonly storage: WalStorage) {}

  /** Every record on storage, in storage order; must be called before append/retain. */
  load(): Awaitable<WalLoadResult> {
    return andThen(this.storage.walEntries(), (entries) => {
      const records: WalRecord[] = []
      const corrupt: { key: string; error: string }[] = []
      this.keys.clear()
      for (const e of entries) {
        this.keys.add(e.key)
        // A record's key is the hash of its bytes: a torn write (a prefix of the record, left by a
        // crash on a store without atomic puts) or a flipped bit cannot pass for a record, even
        // one that happens to decode.
        if (walKey(e.value) !== e.key) {
          corrupt.push({
            key: e.key,
            error: `WAL record of ${e.value.length} bytes does not hash to its key (torn?)`,
          })
          continue
        }
        try {
          records.push(decodeWalRecord(e.value))
        } catch (err) {
          // A torn or foreign record is not ours to trust; it can only make us forget a vote, and a
          // vote is written whole (one put) before it is sent, so a corrupt one was never sent.
          corrupt.push({ key: e.key, error: String(err) })
        }
      }
      // Storage order is key (hash) order: arbitrary. Replay in the order the records were written,
      // as far as it is known, so a restart's outcome depends on the WAL's contents alone.
      records.sort(compareWalRecords)
      return { records, corrupt }
    })
  }

  get size(): number {
    return this.keys.size
  }

  /** Writes one record durably; the caller acts on it (sends the vote) only after this resolves. */
  append(record: WalRecord): Awaitable<void> {
    const bytes = encodeWalRecord(record)
    const key = walKey(bytes)
    return andThen(this.storage.walPut(key, bytes), () => {
      this.keys.add(key)
    })
  }

  /**
   * Replaces the WAL by exactly `records`: writes what is missing first, then deletes the rest, so a
   * crash in between leaves a superset of both (never a lost vote).
   */
  retain(records: readonly WalRecord[]): Awaitable<void> {
    const keep = new Map<string, Uint8Array>()
    for (const r of records) {
      const bytes = encodeWalRecord(r)
      keep.set(walKey(bytes), bytes)
    }
    const missing = [...keep].filter(([key]) => !this.keys.has(key))
    const writeMissing = (i: number): Awaitable<void> => {
      for (; i < missing.length; i++) {
        const [key, bytes] = missing[i] as [string, Uint8Array]
        const written = andThen(this.storage.walPut(key, bytes), () => {
          this.keys.add(key)
        })
        if (written instanceof Promise) {
          const next = i + 1
          return written.then(() => writeMissing(next))
        }
      }
    }
    return andThen(writeMissing(0), () => {
      const obsolete = [...this.keys].filter((k) => !keep.has(k))
      if (obsolete.length === 0) return
      return andThen(this.storage.walDelete(obsolete), () => {
        for (const k of obsolete) this.keys.delete(k)
      })
    })
  }
}

const KIND_ORDER: Record<WalRecord['kind'], number> = {
  newview: 0,
  preprepare: 1,
  prepare: 2,
  // written instead of a PREPARE for that (view, height)
  reject: 2,
  commit: 3,
  viewchange: 4,
}

/**
 * Write order: by view — a VIEW-CHANGE for v is written in view v - 1, after that view's votes — then
 * NEW-VIEW, PRE-PREPARE, PREPARE or REJECT, COMMIT, VIEW-CHANGE, then height; equal keys by encoding, so the
 * order is total.
 */
function compareWalRecords(a: WalRecord, b: WalRecord): number {
  return (
    writeView(a) - writeView(b) ||
    KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
    recordHeight(a) - recordHeight(b) ||
    Buffer.compare(encodeWalRecord(a), encodeWalRecord(b))
  )
}

function writeView(r: WalRecord): number {
  return r.kind === 'viewchange' ? r.msg.newView - 1 : r.msg.view
}

function recordHeight(r: WalRecord): number {
  switch (r.kind) {
    case 'viewchange':
      return r.msg.checkpointHeight
    case 'newview':
      return 0
    default:
      return r.msg.height
  }
}

function walKey(encodedRecord: Uint8Array): string {
  return toHex(sha256(encodedRecord)).slice(2)
}
