import { hash } from 'node:crypto'
import { sha256 } from '../crypto/hash.js'

/**
 * The app_hash structure: a bucketed Merkle tree over the whole state.
 *
 * Why this shape: the root must cover every entry yet stay cheap when the state is large and a block
 * touches few entries. Entries are spread over BUCKET_COUNT fixed buckets by the first bits of
 * sha256(state key); a bucket's hash is sha256 over its entries' hashes in sorted order; the root is
 * the RFC 6962 Merkle root of the bucket hashes (chain/merkle.ts; BUCKET_COUNT is a power of two, so
 * the tree is complete and kept as a heap array). A block rehashes only the buckets it dirtied
 * (~state/65536 entry hashes each, kept cached) and the 16 nodes above each one — unlike rehashing
 * the whole state per block, or an IAVL/Patricia trie, which would be far more code to get right. The
 * root is a pure function of the set of (key, value) entries, so the same blocks give the same hash.
 *
 * Changes are prepared speculatively (a StatePatch: new bucket contents and the nodes above them)
 * and only installed by commit(), so executing a proposed block never touches committed state.
 */
/**
 * SHA-256 in one call (crypto/hash.ts: node:crypto's hash(), no hash object, no copy of the digest):
 * a block's execution hashes ~20k inputs of 32–100 bytes here (docs/PERFORMANCE.md).
 */
function sha256Once(data: Uint8Array): Uint8Array {
  return sha256(data)
}

// Reused input buffers: JS is single-threaded and sha256 reads its input before returning.
const leafInput = Buffer.alloc(33)
const nodeInput = Buffer.alloc(65)

/** RFC 6962 leaf hash sha256(0x00 || leaf) of a 32-byte bucket hash (= chain/merkle's merkleLeafHash). */
function leafHash(bucket: Uint8Array): Uint8Array {
  leafInput[0] = 0x00
  leafInput.set(bucket, 1)
  return sha256Once(leafInput)
}

/** RFC 6962 inner node hash sha256(0x01 || left || right) (= chain/merkle's merkleNodeHash). */
function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  nodeInput[0] = 0x01
  nodeInput.set(left, 1)
  nodeInput.set(right, 33)
  return sha256Once(nodeInput)
}

export const BUCKET_BITS = 16
export const BUCKET_COUNT = 1 << BUCKET_BITS

/** An entry's identity in memory: its key bytes as a latin1 string (one char per byte, cheap). */
type EntryId = string

export function entryId(key: Uint8Array): EntryId {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
}

/** Which bucket a state key falls in: the top BUCKET_BITS of sha256(key). */
export function bucketOf(key: Uint8Array): number {
  const h = hash('sha256', key, 'buffer')
  return (((h[0] as number) << 8) | (h[1] as number)) >> (16 - BUCKET_BITS)
}

/** sha256(u32 key length || key || value): the length prefix makes the split point unambiguous. */
export function entryHash(key: Uint8Array, value: Uint8Array): Uint8Array {
  const input = Buffer.allocUnsafe(4 + key.length + value.length)
  input.writeUInt32BE(key.length, 0)
  input.set(key, 4)
  input.set(value, 4 + key.length)
  return sha256Once(input)
}

/** A bucket's hash: sha256 of its entry hashes, sorted bytewise. An empty bucket hashes to sha256(). */
export function bucketHash(entryHashes: Iterable<Uint8Array>): Uint8Array {
  const sorted = [...entryHashes].sort(Buffer.compare)
  return sha256Once(sorted.length === 1 ? (sorted[0] as Uint8Array) : Buffer.concat(sorted))
}

interface StateChange {
  readonly key: Uint8Array
  /** null deletes the entry */
  readonly value: Uint8Array | null
}

/** Speculative result of applying changes: new bucket contents and tree nodes, and the new root. */
export interface StatePatch {
  readonly root: Uint8Array
  readonly buckets: ReadonlyMap<number, Map<EntryId, Uint8Array>>
  readonly nodes: ReadonlyMap<number, Uint8Array>
}

export class StateTree {
  /** per bucket: entry id → entry hash (undefined = empty bucket) */
  private readonly buckets: (Map<EntryId, Uint8Array> | undefined)[] = new Array(BUCKET_COUNT)
  /** heap layout: node 1 is the root, node BUCKET_COUNT + b is bucket b's leaf */
  private readonly nodes: Uint8Array[] = new Array(2 * BUCKET_COUNT)

  constructor() {
    // An all-empty tree needs one hash per level, not 8191: every node of a level is equal.
    let level = leafHash(bucketHash([]))
    for (let width = BUCKET_COUNT; width >= 1; width >>= 1) {
      for (let i = width; i < 2 * width; i++) this.nodes[i] = level
      level = nodeHash(level, level)
    }
  }

  /** Builds a tree from a full set of entries in one pass (restart, genesis). */
  static fromEntries(entries: Iterable<StateChange>): StateTree {
    const tree = new StateTree()
    const dirty = new Set<number>()
    for (const { key, value } of entries) {
      if (value === null) continue
      const b = bucketOf(key)
      let bucket = tree.buckets[b]
      if (bucket === undefined) {
        bucket = new Map()
        tree.buckets[b] = bucket
      }
      bucket.set(entryId(key), entryHash(key, value))
      dirty.add(b)
    }
    const patchNodes = new Map<number, Uint8Array>()
    for (const b of dirty) {
      patchNodes.set(
        BUCKET_COUNT + b,
        leafHash(bucketHash((tree.buckets[b] as Map<EntryId, Uint8Array>).values())),
      )
    }
    tree.installNodes(tree.rehashAbove(patchNodes))
    return tree
  }

  root(): Uint8Array {
    return this.nodes[1] as Uint8Array
  }

  /** The current hash of bucket b (for tests and diagnostics). */
  bucketHashAt(b: number): Uint8Array {
    return bucketHash(this.buckets[b]?.values() ?? [])
  }

  /**
   * Computes the root after `changes` without modifying this tree. With `base` (a patch prepared
   * against this tree and not committed yet: pipelining), the changes apply on top of it and the
   * result includes base's changes too, so committing base and then the result is the same as
   * committing the result alone.
   */
  prepare(changes: Iterable<StateChange>, base?: StatePatch): StatePatch {
    const buckets = new Map<number, Map<EntryId, Uint8Array>>()
    for (const { key, value } of changes) {
      const b = bucketOf(key)
      let bucket = buckets.get(b)
      if (bucket === undefined) {
        bucket = new Map(base?.buckets.get(b) ?? this.buckets[b] ?? [])
        buckets.set(b, bucket)
      }
      if (value === null) bucket.delete(entryId(key))
      else bucket.set(entryId(key), entryHash(key, value))
    }
    const leaves = new Map<number, Uint8Array>()
    for (const [b, bucket] of buckets) leaves.set(BUCKET_COUNT + b, leafHash(bucketHash(bucket.values())))
    const nodes = this.rehashAbove(leaves, base?.nodes)
    if (base === undefined) return { root: nodes.get(1) ?? this.root(), buckets, nodes }
    const allBuckets = new Map(base.buckets)
    for (const [b, bucket] of buckets) allBuckets.set(b, bucket)
    const allNodes = new Map(base.nodes)
    for (const [i, h] of nodes) allNodes.set(i, h)
    return { root: nodes.get(1) ?? base.root, buckets: allBuckets, nodes: allNodes }
  }

  /** Installs a patch prepared against the current tree. */
  commit(patch: StatePatch): void {
    for (const [b, bucket] of patch.buckets) this.buckets[b] = bucket.size === 0 ? undefined : bucket
    this.installNodes(patch.nodes)
  }

  /** Given changed leaves, returns them plus every changed ancestor, recomputed level by level. */
  private rehashAbove(
    leaves: Map<number, Uint8Array>,
    base?: ReadonlyMap<number, Uint8Array>,
  ): Map<number, Uint8Array> {
    const nodes = new Map(leaves)
    const at = (i: number): Uint8Array => nodes.get(i) ?? base?.get(i) ?? (this.nodes[i] as Uint8Array)
    let level = new Set(leaves.keys())
    while (!level.has(1) && level.size > 0) {
      const parents = new Set<number>()
      for (const i of level) parents.add(i >> 1)
      for (const p of parents) {
        const left = at(2 * p)
        const right = at(2 * p + 1)
        nodes.set(p, nodeHash(left, right))
      }
      level = parents
    }
    return nodes
  }

  private installNodes(nodes: ReadonlyMap<number, Uint8Array>): void {
    for (const [i, h] of nodes) this.nodes[i] = h
  }
}
