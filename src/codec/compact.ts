import { SIGNATURE_BYTES } from '../crypto/ed25519.js'
import { HASH_BYTES } from '../crypto/hash.js'
import { decodeExact, Writer } from './binary.js'
import { hashTx, readHeader, writeHeader } from './chain.js'
import type { PrePrepareMsg } from './consensus.js'
import { CodecError } from './errors.js'
import { MAX_TXS_PER_BLOCK, MAX_VALIDATORS } from './limits.js'
import type { BlockHeader } from './types.js'

/**
 * The compact form of a PRE-PREPARE on the preprepare topic (docs/PROTOCOL.md §3.4a): the header and
 * the hashes of the block's txs instead of the txs. The primary's signature covers the block hash,
 * that is the header, and the header commits to the txs through tx_root (an RFC 6962 Merkle root
 * over the tx hashes), so this form is authenticated exactly as the full one: the same signature
 * verifies, and the hash list must give the header's tx_root. The engine never sees it: the node
 * rebuilds the full PRE-PREPARE from its mempool and fetched txs first.
 */
export interface CompactPrePrepare {
  readonly view: number
  readonly height: number
  readonly sender: number
  readonly header: BlockHeader
  /** the block's tx hashes in block order (duplicates are the primary's fault, judged by the engine) */
  readonly txHashes: readonly Uint8Array[]
  readonly signature: Uint8Array
}

/** Its tag: after the full PRE-PREPARE's 0x10 … REJECT's 0x15 (src/codec/consensus.ts). */
export const COMPACT_PREPREPARE_TAG = 0x16

/** tag, view, height, sender, the largest header, the hash count, the hashes, the signature */
export const MAX_COMPACT_PREPREPARE_BYTES =
  1 + 8 + 8 + 2 + 512 + 4 + MAX_TXS_PER_BLOCK * HASH_BYTES + SIGNATURE_BYTES

/** Whether gossip bytes on the preprepare topic are the compact form (else: the full one, or junk). */
export function isCompactPrePrepare(data: Uint8Array): boolean {
  return data.length > 0 && data[0] === COMPACT_PREPREPARE_TAG
}

/**
 * The compact form of a full PRE-PREPARE; `txHashes` when the caller has them already. Otherwise each
 * tx's hash comes from hashTx, which a primary's txs already went through (mempool admission): no
 * second SHA-256 of the block's txs on publish.
 */
export function compactPrePrepare(msg: PrePrepareMsg, txHashes?: readonly Uint8Array[]): CompactPrePrepare {
  return {
    view: msg.view,
    height: msg.height,
    sender: msg.sender,
    header: msg.block.header,
    txHashes: txHashes ?? msg.block.txs.map((tx) => hashTx(tx).hash),
    signature: msg.signature,
  }
}

/**
 * The full PRE-PREPARE with `txs` (in the order of txHashes; the caller checked each against its
 * hash). With no txs it is the header-only stand-in the stateless checks take: signature, sender
 * and header rules read only the header (src/consensus/verify.ts), never the txs.
 */
export function expandPrePrepare(c: CompactPrePrepare, txs: readonly Uint8Array[]): PrePrepareMsg {
  return {
    kind: 'preprepare',
    view: c.view,
    height: c.height,
    sender: c.sender,
    block: { header: c.header, txs: [...txs] },
    signature: c.signature,
  }
}

export function encodeCompactPrePrepare(c: CompactPrePrepare): Uint8Array {
  if (c.txHashes.length > MAX_TXS_PER_BLOCK)
    throw new CodecError(`compact preprepare: ${c.txHashes.length} tx hashes > ${MAX_TXS_PER_BLOCK}`)
  const w = new Writer(320 + c.txHashes.length * HASH_BYTES)
  w.u8(COMPACT_PREPREPARE_TAG).u64(c.view).u64(c.height).u16(c.sender)
  writeHeader(w, c.header)
  w.u32(c.txHashes.length)
  for (const h of c.txHashes) w.fixed(h, HASH_BYTES)
  w.fixed(c.signature, SIGNATURE_BYTES)
  return w.finish()
}

/** Strict: wrong tag, sender out of range, too many hashes, truncation and trailing bytes are CodecErrors. */
export function decodeCompactPrePrepare(data: Uint8Array): CompactPrePrepare {
  return decodeExact(data, MAX_COMPACT_PREPREPARE_BYTES, 'compact preprepare', (r) => {
    r.tag(COMPACT_PREPREPARE_TAG, 'compact preprepare')
    const view = r.u64('view')
    const height = r.u64('height')
    const sender = r.u16('sender')
    if (sender >= MAX_VALIDATORS) throw new CodecError(`sender index ${sender} out of range`)
    const header = readHeader(r)
    const n = r.count(MAX_TXS_PER_BLOCK, 'tx hash count')
    const txHashes: Uint8Array[] = []
    for (let i = 0; i < n; i++) txHashes.push(r.fixed(HASH_BYTES, 'tx hash'))
    const signature = r.fixed(SIGNATURE_BYTES, 'signature')
    return { view, height, sender, header, txHashes, signature }
  })
}

/** The sender index of an encoded compact PRE-PREPARE (same offset as the full form's), unchecked. */
export function peekCompactSender(data: Uint8Array): number | undefined {
  const at = 1 + 8 + 8
  if (data.length < at + 2 || data[0] !== COMPACT_PREPREPARE_TAG) return undefined
  return ((data[at] as number) << 8) | (data[at + 1] as number)
}
