import { Bucket, bucketRange, prefixed } from './buckets.js'
import type { BatchOp, KvBackend } from './kv-backend.js'
import { StoreError } from './store-error.js'

export interface ValueCodec<V> {
  encode(value: V): Uint8Array
  decode(bytes: Uint8Array): V
}

/**
 * One record kind in one bucket (Lodestar's Repository): typed get, batch ops for the caller's atomic
 * batch, and ordered scans. A record that does not decode is reported as a StoreError naming the
 * bucket and key, never as an opaque decoder stack.
 */
export class Repository<K, V> {
  constructor(
    readonly bucket: Bucket,
    private readonly backend: KvBackend,
    private readonly keyBytes: (key: K) => Uint8Array,
    private readonly codec: ValueCodec<V>,
  ) {}

  dbKey(key: K): Uint8Array {
    return prefixed(this.bucket, this.keyBytes(key))
  }

  async get(key: K): Promise<V | undefined> {
    const dbKey = this.dbKey(key)
    const raw = await this.backend.get(dbKey)
    return raw === undefined ? undefined : this.decode(dbKey, raw)
  }

  putOp(key: K, value: V): BatchOp {
    return { type: 'put', key: this.dbKey(key), value: this.codec.encode(value) }
  }

  delOp(key: K): BatchOp {
    return { type: 'del', key: this.dbKey(key) }
  }

  /** Values with from <= key <= to (inclusive), in key order. */
  async *range(from: K, to: K): AsyncIterable<[Uint8Array, V]> {
    const gte = this.dbKey(from)
    const last = this.dbKey(to)
    const lt = new Uint8Array(last.length + 1)
    lt.set(last)
    for await (const [k, v] of this.backend.range(gte, lt)) yield [k.subarray(1), this.decode(k, v)]
  }

  /** Every record of the bucket in key order; keys without the bucket byte. */
  async *entries(): AsyncIterable<[Uint8Array, V]> {
    const [gte, lt] = bucketRange(this.bucket)
    for await (const [k, v] of this.backend.range(gte, lt)) yield [k.subarray(1), this.decode(k, v)]
  }

  private decode(dbKey: Uint8Array, raw: Uint8Array): V {
    try {
      return this.codec.decode(raw)
    } catch (err) {
      throw new StoreError(
        `corrupt ${Bucket[this.bucket]} record at key ${Buffer.from(dbKey).toString('hex')}: ` +
          (err as Error).message,
      )
    }
  }
}
