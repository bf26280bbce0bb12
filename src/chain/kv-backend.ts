import { ClassicLevel } from 'classic-level'
import { StoreError } from './store-error.js'

export type BatchOp =
  | { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: Uint8Array }

/**
 * The ordered key-value store under ChainStore: LevelDB on disk, or a Map for the simulator and tests.
 * A batch is atomic; `sync` asks for it to be on disk before the promise resolves.
 */
export interface KvBackend {
  get(key: Uint8Array): Promise<Uint8Array | undefined>
  batch(ops: readonly BatchOp[], sync: boolean): Promise<void>
  /** Entries with gte <= key < lt, in key order. */
  range(gte: Uint8Array, lt: Uint8Array): AsyncIterable<[Uint8Array, Uint8Array]>
  close(): Promise<void>
}

export class LevelBackend implements KvBackend {
  private constructor(private readonly db: ClassicLevel<Uint8Array, Uint8Array>) {}

  static async open(dir: string): Promise<LevelBackend> {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
    try {
      await db.open()
    } catch (err) {
      const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message
      const hint = /lock/i.test(cause) ? ' (is another node running with this home?)' : ''
      throw new StoreError(`cannot open the database at ${dir}: ${cause}${hint}`)
    }
    return new LevelBackend(db)
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.db.get(key)
  }

  async batch(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    if (ops.length === 0) return
    await this.db.batch(ops as BatchOp[], { sync })
  }

  async *range(gte: Uint8Array, lt: Uint8Array): AsyncIterable<[Uint8Array, Uint8Array]> {
    for await (const entry of this.db.iterator({ gte, lt })) yield entry
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}

/** An in-memory backend with the same semantics (minus durability), for the simulator and unit tests. */
export class MemoryBackend implements KvBackend {
  private readonly map = new Map<string, [Uint8Array, Uint8Array]>()

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.map.get(Buffer.from(key).toString('hex'))?.[1]
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    for (const op of ops) {
      const id = Buffer.from(op.key).toString('hex')
      if (op.type === 'put') this.map.set(id, [op.key.slice(), op.value.slice()])
      else this.map.delete(id)
    }
  }

  async *range(gte: Uint8Array, lt: Uint8Array): AsyncIterable<[Uint8Array, Uint8Array]> {
    const hits = [...this.map.values()].filter(
      ([k]) => Buffer.compare(k, gte) >= 0 && Buffer.compare(k, lt) < 0,
    )
    hits.sort((a, b) => Buffer.compare(a[0], b[0]))
    for (const entry of hits) yield entry
  }

  async close(): Promise<void> {}
}
