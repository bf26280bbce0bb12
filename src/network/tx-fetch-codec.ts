import { decodeExact, Writer } from '../codec/binary.js'
import { CodecError } from '../codec/errors.js'
import { MAX_REASON_BYTES, MAX_TX_BYTES, MAX_TXS_PER_BLOCK } from '../codec/limits.js'
import { HASH_BYTES } from '../crypto/hash.js'

/** Frame tags of `/pbft/<chain_id>/txs/1` (docs/PROTOCOL.md "Tx fetch"). */
const TxFetchTag = {
  request: 0x60,
  txs: 0x61,
  error: 0x6f,
} as const

export const TxFetchErrorCode = {
  badRequest: 1,
} as const

/** One request names at most one block's txs. */
export const MAX_TX_FETCH_HASHES = MAX_TXS_PER_BLOCK
export const MAX_TX_FETCH_REQUEST_BYTES = 1 + 4 + MAX_TX_FETCH_HASHES * HASH_BYTES
/** A response frame carries txs up to about this many bytes (one tx may take it a little over). */
export const TX_FETCH_FRAME_TARGET_BYTES = 256 * 1024
/** The largest response frame a client reads: the target plus one largest tx and the framing. */
export const MAX_TX_FETCH_FRAME_BYTES = TX_FETCH_FRAME_TARGET_BYTES + MAX_TX_BYTES + 64

export type TxFetchResponseFrame =
  | { type: 'txs'; txs: Uint8Array[] }
  | { type: 'error'; code: number; reason: string }

export function encodeTxFetchRequest(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0 || hashes.length > MAX_TX_FETCH_HASHES)
    throw new CodecError(`a tx fetch request names 1..${MAX_TX_FETCH_HASHES} hashes, not ${hashes.length}`)
  const w = new Writer(5 + hashes.length * HASH_BYTES).u8(TxFetchTag.request).u32(hashes.length)
  for (const h of hashes) w.fixed(h, HASH_BYTES)
  return w.finish()
}

/** Strict: unknown tag, no hash or too many, truncation and trailing bytes are CodecErrors. */
export function decodeTxFetchRequest(data: Uint8Array): Uint8Array[] {
  return decodeExact(data, MAX_TX_FETCH_REQUEST_BYTES, 'tx fetch request', (r) => {
    r.tag(TxFetchTag.request, 'tx fetch request')
    const n = r.count(MAX_TX_FETCH_HASHES, 'hash count')
    if (n === 0) throw new CodecError('tx fetch request names no hash')
    const hashes: Uint8Array[] = []
    for (let i = 0; i < n; i++) hashes.push(r.fixed(HASH_BYTES, 'tx hash'))
    return hashes
  })
}

export function encodeTxFetchResponse(frame: TxFetchResponseFrame): Uint8Array {
  if (frame.type === 'error')
    return new Writer(64).u8(TxFetchTag.error).u8(frame.code).string(frame.reason).finish()
  const w = new Writer(64).u8(TxFetchTag.txs).u32(frame.txs.length)
  for (const tx of frame.txs) w.bytes(tx)
  return w.finish()
}

export function decodeTxFetchResponse(data: Uint8Array): TxFetchResponseFrame {
  return decodeExact(data, MAX_TX_FETCH_FRAME_BYTES, 'tx fetch response', (r): TxFetchResponseFrame => {
    const tag = r.u8('tx fetch response tag')
    switch (tag) {
      case TxFetchTag.txs: {
        const n = r.count(MAX_TX_FETCH_HASHES, 'tx count')
        const txs: Uint8Array[] = []
        for (let i = 0; i < n; i++) txs.push(r.bytes(MAX_TX_BYTES, 'tx'))
        return { type: 'txs', txs }
      }
      case TxFetchTag.error:
        return { type: 'error', code: r.u8('error code'), reason: r.string(MAX_REASON_BYTES, 'reason') }
      default:
        throw new CodecError(`unknown tx fetch response tag ${tag}`)
    }
  })
}
