/**
 * Key prefixes of the one LevelDB under HOME/data (Lodestar's Bucket enum): every record kind lives
 * under its own first byte, so kinds never collide and each can be scanned as a range.
 * Never renumber: these bytes are on disk.
 */
export enum Bucket {
  /** named singletons: genesis hash, tip, schema version */
  meta = 0x01,
  /** height (u64 BE) → encoded block */
  blockByHeight = 0x02,
  /** height → encoded header (served without reading whole blocks) */
  headerByHeight = 0x03,
  /** block hash → height */
  heightByHash = 0x04,
  /** height → encoded commit certificate */
  certificateByHeight = 0x05,
  /** tx hash → (height u64, index u32) */
  txLocation = 0x06,
  /** app state key → value (the app chooses its keys) */
  appState = 0x07,
  /** consensus write-ahead log: utf-8 key → bytes */
  consensusWal = 0x08,
  /** tx hash → mempool journal record (a tx this node acknowledged: pending or dropped, docs/CONSENSUS.md "Consensus rules") */
  mempoolJournal = 0x09,
  /** (validator u16, kind u8, view u64, height u64) → equivocation evidence record (docs/PROTOCOL.md §3.8) */
  evidence = 0x0a,
}

/** Heights as 8-byte big-endian, so key order is numeric order. */
export function heightKey(height: number): Uint8Array {
  const out = Buffer.alloc(8)
  out.writeBigUInt64BE(BigInt(height))
  return new Uint8Array(out.buffer, out.byteOffset, 8)
}

export function prefixed(bucket: Bucket, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1)
  out[0] = bucket
  out.set(key, 1)
  return out
}

/** [start, end) covering every key of a bucket. */
export function bucketRange(bucket: Bucket): [Uint8Array, Uint8Array] {
  return [new Uint8Array([bucket]), new Uint8Array([bucket + 1])]
}
