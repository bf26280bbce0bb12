import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.js'

/**
 * How the KV app names its state entries, both in the state tree and in the store's appState bucket.
 * One byte of kind first, so a user key can never collide with a nonce entry.
 *   0x01 || utf8(key)  → utf8(value)          a KV entry
 *   0x02 || address    → u64 BE next nonce    present once the sender's first tx is final
 */
const KV_KIND = 0x01
const NONCE_KIND = 0x02

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export class AppStateError extends Error {
  override name = 'AppStateError'
}

export function kvStateKey(key: string): Uint8Array {
  const body = utf8.encode(key)
  const out = new Uint8Array(body.length + 1)
  out[0] = KV_KIND
  out.set(body, 1)
  return out
}

export function nonceStateKey(address: Uint8Array): Uint8Array {
  const out = new Uint8Array(PUBLIC_KEY_BYTES + 1)
  out[0] = NONCE_KIND
  out.set(address, 1)
  return out
}

export function encodeString(s: string): Uint8Array {
  return utf8.encode(s)
}

export function encodeNonce(nonce: number): Uint8Array {
  const out = Buffer.alloc(8)
  out.writeBigUInt64BE(BigInt(nonce))
  return new Uint8Array(out.buffer, out.byteOffset, 8)
}

type DecodedEntry =
  | { readonly kind: 'kv'; readonly key: string; readonly value: string }
  | { readonly kind: 'nonce'; readonly address: Uint8Array; readonly nonce: number }

/** Parses a stored entry; a malformed one is an AppStateError (corrupt store), never a crash. */
export function decodeEntry(key: Uint8Array, value: Uint8Array): DecodedEntry {
  try {
    if (key[0] === KV_KIND) {
      return { kind: 'kv', key: utf8Decoder.decode(key.subarray(1)), value: utf8Decoder.decode(value) }
    }
    if (key[0] === NONCE_KIND && key.length === PUBLIC_KEY_BYTES + 1 && value.length === 8) {
      const nonce = Buffer.from(value.buffer, value.byteOffset, 8).readBigUInt64BE()
      if (nonce > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('nonce out of range')
      return { kind: 'nonce', address: key.slice(1), nonce: Number(nonce) }
    }
  } catch (err) {
    throw new AppStateError(
      `corrupt app state entry ${Buffer.from(key).toString('hex')}: ${(err as Error).message}`,
    )
  }
  throw new AppStateError(`unknown app state entry ${Buffer.from(key).toString('hex')}`)
}
