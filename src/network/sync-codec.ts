import { decodeExact, Writer } from '../codec/binary.js'
import { CodecError } from '../codec/errors.js'
import { MAX_BLOCK_BYTES, MAX_MESSAGE_BYTES, MAX_REASON_BYTES, MAX_VALIDATORS } from '../codec/limits.js'
import { HASH_BYTES } from '../crypto/hash.js'

/** Frame tags of `/pbft/<chain_id>/sync/1` (docs/PROTOCOL.md "Block sync"). */
const SyncTag = {
  statusRequest: 0x40,
  blocksRequest: 0x41,
  status: 0x50,
  block: 0x51,
  error: 0x5f,
} as const

export const SyncErrorCode = {
  badRequest: 1,
  unavailable: 2,
  internal: 3,
} as const

/** A request is one tiny frame; anything longer is not a request. */
export const MAX_SYNC_REQUEST_BYTES = 64
/** A response frame: one block and its certificate, well inside the generic message bound. */
export const MAX_SYNC_FRAME_BYTES = MAX_MESSAGE_BYTES
const MAX_CERTIFICATE_BYTES = 64 + MAX_VALIDATORS * 66

export type SyncRequest = { type: 'status' } | { type: 'blocks'; from: number; to: number }

export type SyncResponseFrame =
  | { type: 'status'; height: number; hash: Uint8Array }
  | { type: 'block'; block: Uint8Array; certificate: Uint8Array }
  | { type: 'error'; code: number; reason: string }

export function encodeSyncRequest(req: SyncRequest): Uint8Array {
  if (req.type === 'status') return new Writer(1).u8(SyncTag.statusRequest).finish()
  return new Writer(17).u8(SyncTag.blocksRequest).u64(req.from).u64(req.to).finish()
}

/** Strict: unknown tags, truncation, trailing bytes and from > to are CodecErrors. */
export function decodeSyncRequest(data: Uint8Array): SyncRequest {
  return decodeExact(data, MAX_SYNC_REQUEST_BYTES, 'sync request', (r): SyncRequest => {
    const tag = r.u8('sync request tag')
    if (tag === SyncTag.statusRequest) return { type: 'status' }
    if (tag === SyncTag.blocksRequest) {
      const from = r.u64('from')
      const to = r.u64('to')
      if (from > to) throw new CodecError(`from ${from} > to ${to}`)
      return { type: 'blocks', from, to }
    }
    throw new CodecError(`unknown sync request tag ${tag}`)
  })
}

export function encodeSyncResponse(frame: SyncResponseFrame): Uint8Array {
  switch (frame.type) {
    case 'status':
      return new Writer(48).u8(SyncTag.status).u64(frame.height).fixed(frame.hash, HASH_BYTES).finish()
    case 'block':
      return new Writer(frame.block.length + frame.certificate.length + 16)
        .u8(SyncTag.block)
        .bytes(frame.block)
        .bytes(frame.certificate)
        .finish()
    case 'error':
      return new Writer(64).u8(SyncTag.error).u8(frame.code).string(frame.reason).finish()
  }
}

export function decodeSyncResponse(data: Uint8Array): SyncResponseFrame {
  return decodeExact(data, MAX_SYNC_FRAME_BYTES, 'sync response', (r): SyncResponseFrame => {
    const tag = r.u8('sync response tag')
    switch (tag) {
      case SyncTag.status:
        return { type: 'status', height: r.u64('height'), hash: r.fixed(HASH_BYTES, 'hash') }
      case SyncTag.block:
        return {
          type: 'block',
          block: r.bytes(MAX_BLOCK_BYTES, 'block'),
          certificate: r.bytes(MAX_CERTIFICATE_BYTES, 'certificate'),
        }
      case SyncTag.error:
        return { type: 'error', code: r.u8('error code'), reason: r.string(MAX_REASON_BYTES, 'reason') }
      default:
        throw new CodecError(`unknown sync response tag ${tag}`)
    }
  })
}
