import { createHash, hash } from 'node:crypto'

/** Above this many bytes in all, several parts are streamed into a hash object instead of joined. */
const JOIN_LIMIT = 4096

/**
 * SHA-256 with node:crypto. One call of `crypto.hash` (no hash object, no copy of the digest): for
 * the 32–300-byte inputs hashed per tx and per Merkle node it takes about half the CPU of a
 * `createHash` object per digest (docs/PERFORMANCE.md). Several small parts are joined first (one
 * copy of < 4 KiB is cheaper than a hash object); larger ones are streamed. Byte-for-byte the same
 * digest either way (test/unit/crypto/crypto.spec.ts).
 */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return digestView(hash('sha256', parts[0] as Uint8Array, 'buffer'))
  let total = 0
  for (const p of parts) total += p.length
  if (total <= JOIN_LIMIT) return digestView(hash('sha256', Buffer.concat(parts, total), 'buffer'))
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return digestView(h.digest())
}

/**
 * The digest as a plain Uint8Array over the same memory when the Buffer owns exactly its 32 bytes
 * (what node:crypto returns today), else a copy, so a hash never keeps a larger buffer alive.
 */
function digestView(d: Buffer): Uint8Array {
  return d.byteOffset === 0 && d.buffer.byteLength === d.length
    ? new Uint8Array(d.buffer, 0, d.length)
    : new Uint8Array(d)
}

export const HASH_BYTES = 32

export function toHex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`
}

/**
 * Parses 0x-prefixed (or bare) hex; throws TypeError on anything else. Decodes straight into the
 * array it returns (one allocation, which owns its memory): Buffer's hex decoding stops at the first
 * pair that is not hex, so a short count means a bad digit.
 */
export function fromHex(hex: string): Uint8Array {
  const start = hex.startsWith('0x') || hex.startsWith('0X') ? 2 : 0
  const digits = hex.length - start
  if (digits % 2 !== 0) throw new TypeError('invalid hex string')
  const out = new Uint8Array(digits / 2)
  const written = Buffer.from(out.buffer, 0, out.length).write(start === 0 ? hex : hex.slice(start), 'hex')
  if (written !== out.length) throw new TypeError('invalid hex string')
  return out
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
