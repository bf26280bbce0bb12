import { sha256 } from '../crypto/hash.js'

const LEAF_PREFIX = new Uint8Array([0x00])
const NODE_PREFIX = new Uint8Array([0x01])

/** RFC 6962 §2.1 leaf hash: the 0x00 prefix keeps leaves and inner nodes from colliding. */
export function merkleLeafHash(leaf: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, leaf)
}

/** RFC 6962 §2.1 inner node hash. */
export function merkleNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right)
}

/** The root of an empty tree: SHA-256 of the empty string (RFC 6962). */
export const EMPTY_MERKLE_ROOT: Uint8Array = sha256()

/**
 * RFC 6962 Merkle tree hash (MTH). Computed bottom-up: pairing neighbours and carrying an odd last
 * node up unchanged gives exactly the RFC's "split at the largest power of two below n" tree, without
 * recursion or slicing (checked against the recursive definition in the tests).
 */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return EMPTY_MERKLE_ROOT.slice()
  let level: Uint8Array[] = leaves.map(merkleLeafHash)
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i + 1 < level.length; i += 2) {
      next.push(merkleNodeHash(level[i] as Uint8Array, level[i + 1] as Uint8Array))
    }
    if (level.length % 2 === 1) next.push(level[level.length - 1] as Uint8Array)
    level = next
  }
  return level[0] as Uint8Array
}
