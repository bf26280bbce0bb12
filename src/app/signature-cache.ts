/**
 * Tx hashes whose signatures already verified (Ed25519 verify is the node's hottest cost: ~13k/s per
 * core). The hash covers the whole signed tx, signature included, so a hit means these exact bytes
 * were checked. Bounded: the oldest entries are dropped first (Map keeps insertion order).
 */
export class SignatureCache {
  private readonly seen = new Map<string, true>()

  constructor(private readonly limit = 100_000) {}

  has(hash: Uint8Array): boolean {
    return this.seen.has(key(hash))
  }

  add(hash: Uint8Array): void {
    const k = key(hash)
    if (this.seen.has(k)) return
    if (this.seen.size >= this.limit) {
      const oldest = this.seen.keys().next()
      if (oldest.done !== true) this.seen.delete(oldest.value)
    }
    this.seen.set(k, true)
  }

  get size(): number {
    return this.seen.size
  }
}

function key(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('latin1')
}
