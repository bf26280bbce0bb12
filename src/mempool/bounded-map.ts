/**
 * A Map that keeps at most `limit` entries, forgetting the oldest insertion first. Used for
 * histories that must stay bounded whatever a peer sends (dropped txs, verified signatures).
 */
export class BoundedMap<K, V> {
  private readonly entries = new Map<K, V>()

  constructor(
    private readonly limit: number,
    /** told of each entry forgotten to keep the bound (not of explicit deletes) */
    private readonly onEvict?: (key: K, value: V) => void,
  ) {}

  get size(): number {
    return this.entries.size
  }

  get(key: K): V | undefined {
    return this.entries.get(key)
  }

  has(key: K): boolean {
    return this.entries.has(key)
  }

  /** Inserts or refreshes `key` as the newest entry. */
  set(key: K, value: V): void {
    if (this.limit === 0) {
      this.onEvict?.(key, value)
      return
    }
    this.entries.delete(key)
    this.entries.set(key, value)
    while (this.entries.size > this.limit) {
      const oldest = this.entries.entries().next()
      if (oldest.done === true) break
      this.entries.delete(oldest.value[0])
      this.onEvict?.(oldest.value[0], oldest.value[1])
    }
  }

  delete(key: K): boolean {
    return this.entries.delete(key)
  }

  /** The oldest entry (the next to be forgotten), or undefined when empty. */
  oldest(): [K, V] | undefined {
    const first = this.entries.entries().next()
    return first.done === true ? undefined : first.value
  }
}
