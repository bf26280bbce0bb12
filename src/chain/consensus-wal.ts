import { blockHash, decodeBlock, encodeBlock } from '../codec/chain.js'
import { decodeWalRecord, encodeWalRecord, type WalRecord } from '../codec/consensus.js'
import type { Block } from '../codec/types.js'
import { bytesEqual, sha256, toHex } from '../crypto/hash.js'

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
 * in-memory map in the simulator. Each write is durable when it resolves; `walPut` writes its
 * entries in one batch (atomic on LevelDB; a store without atomic batches must at least write them
 * in order), `walDelete` likewise.
 */
export interface WalStorage {
  walEntries(): Awaitable<readonly WalEntry[]>
  walPut(entries: readonly WalEntry[]): Awaitable<void>
  walDelete(keys: readonly string[]): Awaitable<void>
}

/** Thrown by `load` when the WAL is inconsistent in a way that could hide a vote: never skipped. */
export class WalIntegrityError extends Error {}

export interface WalLoadResult {
  readonly records: WalRecord[]
  /** undecodable entries (torn or foreign), skipped */
  readonly corrupt: { readonly key: string; readonly error: string }[]
}

/**
 * The consensus write-ahead log as typed records (Lodestar's Repository, one record kind): what
 * the engine signed and must never contradict after a crash (docs/CONSENSUS.md).
 *
 * Compact (docs/PROTOCOL.md §3.8): a record keeps each block it names as its header and a reference
 * to the block's own entry, written once in the same batch as the first record that names it
 * (before that record) and deleted with the last one. A PREPARE, the COMMIT after it and every
 * `retain` after a commit so write and hash a block once, not once per record. An entry's key is
 * the hash of its bytes — `c` + a compact record's, `b` + a block's, which is also the record's
 * reference — so a torn or flipped entry cannot pass for a valid one, two blocks with one header
 * and different txs (a faulty primary's) never share an entry, writing a record twice is harmless,
 * and `retain` can tell which are missing without reading them back. Entries under a bare 64-hex key
 * are records of the earlier
 * format (blocks inline): still loaded, rewritten compact by the next `retain`.
 */
export class ConsensusWal {
  /** every key on storage, as of the last load/append/retain */
  private readonly keys = new Set<string>()
  /** keys on storage whose bytes failed their check at load: rewritten, never trusted */
  private readonly corruptKeys = new Set<string>()
  /** the entry key of blocks already on storage, by object: the engine passes one Block object around */
  private readonly blockKeys = new WeakMap<Block, string>()
  private records = 0

  constructor(private readonly storage: WalStorage) {}

  /**
   * Every record on storage, in write order; must be called before append/retain. A record naming a
   * block whose entry is missing or corrupt throws WalIntegrityError: the record proves a vote was
   * sent, so it cannot be skipped, and without its block it cannot be restored.
   */
  load(): Awaitable<WalLoadResult> {
    return andThen(this.storage.walEntries(), (entries) => {
      const records: WalRecord[] = []
      const corrupt: { key: string; error: string }[] = []
      const blocks = new Map<string, Block>()
      const compact: { key: string; record: WalRecord }[] = []
      this.keys.clear()
      this.corruptKeys.clear()
      this.records = 0
      const bad = (key: string, error: string) => {
        corrupt.push({ key, error })
        this.corruptKeys.add(key)
      }
      for (const e of entries) {
        this.keys.add(e.key)
        const kind = entryKind(e.key)
        if (kind !== 'block') this.records++
        // A key is the hash of its bytes: a torn write (a prefix, left by a crash on a store without
        // atomic puts) or a flipped bit cannot pass for an entry, even one that happens to decode.
        if (kind === null || entryKey(kind, e.value) !== e.key) {
          bad(e.key, `WAL entry of ${e.value.length} bytes does not hash to its key (torn?)`)
          continue
        }
        try {
          if (kind === 'block') {
            const block = decodeBlock(e.value)
            blocks.set(e.key, block)
            this.blockKeys.set(block, e.key)
          } else if (kind === 'compact') compact.push({ key: e.key, record: decodeWalRecord(e.value) })
          else records.push(decodeWalRecord(e.value))
        } catch (err) {
          // A torn or foreign record is not ours to trust; it can only make us forget a vote, and a
          // vote is written whole (one put) before it is sent, so a corrupt one was never sent.
          bad(e.key, String(err))
        }
      }
      for (const { key, record } of compact) {
        records.push(
          mapBlocks(record, (stub) => {
            const ref = stubRef(stub)
            const block = ref === null ? undefined : blocks.get(ref)
            if (block === undefined || !bytesEqual(blockHash(block.header), blockHash(stub.header)))
              throw new WalIntegrityError(
                `consensus WAL record ${key} names block ${toHex(blockHash(stub.header))}, which is ` +
                  'not in the WAL: the store lost data; the record is a vote this node sent and cannot be dropped',
              )
            return block
          }),
        )
      }
      // Storage order is key (hash) order: arbitrary. Replay in the order the records were written,
      // as far as it is known, so a restart's outcome depends on the WAL's contents alone.
      records.sort(compareWalRecords)
      return { records, corrupt }
    })
  }

  /** records on storage (block entries not counted) */
  get size(): number {
    return this.records
  }

  /** Writes one record durably; the caller acts on it (sends the vote) only after this resolves. */
  append(record: WalRecord): Awaitable<void> {
    const batch: WalEntry[] = []
    const newBlocks = new Map<Block, string>()
    const { entry } = this.compactEntry(record, batch, newBlocks)
    batch.push(entry)
    return andThen(this.storage.walPut(batch), () => this.noteWritten(batch, newBlocks))
  }

  /**
   * Replaces the WAL by exactly `records`: writes what is missing first (one batch, blocks before the
   * records that name them), then deletes the rest (records before blocks), so a crash in between
   * leaves a superset of both (never a lost vote, never a record without its block).
   */
  retain(records: readonly WalRecord[]): Awaitable<void> {
    const keep = new Set<string>()
    const batch: WalEntry[] = []
    const newBlocks = new Map<Block, string>()
    const recordEntries: WalEntry[] = []
    for (const r of records) {
      const { entry, blocks } = this.compactEntry(r, batch, newBlocks)
      for (const k of blocks) keep.add(k)
      if (keep.has(entry.key)) continue
      keep.add(entry.key)
      if (!this.keys.has(entry.key) || this.corruptKeys.has(entry.key)) recordEntries.push(entry)
    }
    batch.push(...recordEntries)
    const written: Awaitable<void> = batch.length === 0 ? undefined : this.storage.walPut(batch)
    return andThen(written, () => {
      this.noteWritten(batch, newBlocks)
      const obsolete = [...this.keys].filter((k) => !keep.has(k))
      if (obsolete.length === 0) return
      obsolete.sort((a, b) => Number(entryKind(a) === 'block') - Number(entryKind(b) === 'block'))
      return andThen(this.storage.walDelete(obsolete), () => {
        for (const k of obsolete) {
          this.keys.delete(k)
          this.corruptKeys.delete(k)
          if (entryKind(k) !== 'block') this.records--
        }
      })
    })
  }

  /**
   * `record` in its compact form: each block as its header plus a reference to its entry (the key's
   * hash as the only "tx"). The entries of the blocks it names that are not on storage yet are added
   * to `batch` (once per batch, tracked in `newBlocks`). Returns the record's entry and the keys of
   * all the block entries it needs.
   */
  private compactEntry(
    record: WalRecord,
    batch: WalEntry[],
    newBlocks: Map<Block, string>,
  ): { entry: WalEntry; blocks: string[] } {
    const blocks: string[] = []
    const stubbed = mapBlocks(record, (block) => {
      let key = newBlocks.get(block)
      const known = this.blockKeys.get(block)
      // A block object met before is on storage under that key, unless a retain deleted it since.
      if (key === undefined && known !== undefined && this.keys.has(known) && !this.corruptKeys.has(known))
        key = known
      if (key === undefined) {
        // By content: another object with these exact bytes may be on storage already; a block
        // with the same header but other txs (a faulty primary's) gets an entry of its own.
        const value = encodeBlock(block)
        key = entryKey('block', value)
        newBlocks.set(block, key)
        if (!this.keys.has(key) || this.corruptKeys.has(key)) batch.push({ key, value })
      }
      blocks.push(key)
      return { header: block.header, txs: [Buffer.from(key.slice(1), 'hex')] }
    })
    const value = encodeWalRecord(stubbed)
    return { entry: { key: entryKey('compact', value), value }, blocks }
  }

  private noteWritten(batch: readonly WalEntry[], newBlocks: ReadonlyMap<Block, string>): void {
    for (const e of batch) {
      if (!this.keys.has(e.key) && entryKind(e.key) !== 'block') this.records++
      this.keys.add(e.key)
      this.corruptKeys.delete(e.key)
    }
    for (const [block, key] of newBlocks) this.blockKeys.set(block, key)
  }
}

/** The entry key a stub block refers to, or null when it is not a well-formed reference. */
function stubRef(stub: Block): string | null {
  const ref = stub.txs[0]
  if (stub.txs.length !== 1 || ref === undefined || ref.length !== 32) return null
  return `b${Buffer.from(ref.buffer, ref.byteOffset, ref.byteLength).toString('hex')}`
}

type EntryKind = 'block' | 'compact' | 'legacy'

function entryKind(key: string): EntryKind | null {
  if (key.length === 65 && key[0] === 'b') return 'block'
  if (key.length === 65 && key[0] === 'c') return 'compact'
  if (key.length === 64) return 'legacy'
  return null
}

function entryKey(kind: EntryKind, value: Uint8Array): string {
  const hash = toHex(sha256(value)).slice(2)
  return kind === 'block' ? `b${hash}` : kind === 'compact' ? `c${hash}` : hash
}

/** `record` with every block it carries replaced by `f(block)` (the same object when it has none). */
function mapBlocks(record: WalRecord, f: (block: Block) => Block): WalRecord {
  switch (record.kind) {
    case 'preprepare':
      return { ...record, msg: { ...record.msg, block: f(record.msg.block) } }
    case 'prepare':
      return { ...record, prePrepare: { ...record.prePrepare, block: f(record.prePrepare.block) } }
    case 'commit': {
      const block = record.prepared.block
      return block === null ? record : { ...record, prepared: { ...record.prepared, block: f(block) } }
    }
    case 'reject':
      return record
    case 'viewchange':
      if (record.msg.prepared.every((p) => p.block === null)) return record
      return {
        ...record,
        msg: {
          ...record.msg,
          prepared: record.msg.prepared.map((p) => (p.block === null ? p : { ...p, block: f(p.block) })),
        },
      }
    case 'newview':
      // the VIEW-CHANGEs inside a NEW-VIEW carry no blocks (stripViewChange); its O does
      if (record.msg.prePrepares.length === 0) return record
      return {
        ...record,
        msg: {
          ...record.msg,
          prePrepares: record.msg.prePrepares.map((pp) => ({ ...pp, block: f(pp.block) })),
        },
      }
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
