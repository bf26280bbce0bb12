import type { PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import { blockHash, decodeBlock, decodeCertificate } from '../codec/chain.js'
import type { Block, CommitCertificate } from '../codec/types.js'
import { bytesEqual } from '../crypto/hash.js'
import { SyncRequestError } from './errors.js'
import type { SyncOptions } from './options.js'
import {
  decodeSyncResponse,
  encodeSyncRequest,
  MAX_SYNC_FRAME_BYTES,
  type SyncRequest,
  type SyncResponseFrame,
} from './sync-codec.js'

export interface PeerStatus {
  height: number
  hash: Uint8Array
}

/** A block received by sync, decoded and checked for shape — not yet verified against validators. */
export interface SyncedBlock {
  height: number
  block: Block
  certificate: CommitCertificate
  /** the bytes as received, so the node can store them without re-encoding */
  encoded: { block: Uint8Array; certificate: Uint8Array }
}

export interface SyncRequestOptions {
  signal?: AbortSignal
  /** overrides SyncOptions.requestTimeoutMs */
  timeoutMs?: number
}

interface SyncClientComponents {
  dialProtocol(peer: PeerId, protocol: string, options: { signal: AbortSignal }): Promise<Stream>
}

/** The requesting side of `/pbft/<chain_id>/sync/1`; every request has a deadline. */
export class SyncClient {
  constructor(
    private readonly components: SyncClientComponents,
    private readonly protocol: string,
    private readonly options: SyncOptions,
  ) {}

  async requestStatus(peerId: string, opts: SyncRequestOptions = {}): Promise<PeerStatus> {
    const frames = await this.exchange(peerId, { type: 'status' }, 1, opts)
    const frame = frames[0]
    if (frames.length !== 1 || frame?.type !== 'status') {
      throw new SyncRequestError('expected exactly one status frame', peerId, 'protocol')
    }
    return { height: frame.height, hash: frame.hash }
  }

  /**
   * Blocks from..to (inclusive); the peer may send fewer (its tip, its per-request limit) but
   * never more, never out of order, and each block must match its certificate.
   */
  async requestBlocks(
    peerId: string,
    from: number,
    to: number,
    opts: SyncRequestOptions = {},
  ): Promise<SyncedBlock[]> {
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to) {
      throw new RangeError(`invalid block range ${from}..${to}`)
    }
    const count = Math.min(to - from + 1, this.options.maxBlocksPerRequest)
    const frames = await this.exchange(peerId, { type: 'blocks', from, to: from + count - 1 }, count, opts)
    return frames.map((frame, i) => toSyncedBlock(peerId, frame, from + i))
  }

  private async exchange(
    peerId: string,
    request: SyncRequest,
    maxFrames: number,
    opts: SyncRequestOptions,
  ): Promise<SyncResponseFrame[]> {
    const timeoutMs = opts.timeoutMs ?? this.options.requestTimeoutMs
    const signals = [AbortSignal.timeout(timeoutMs)]
    if (opts.signal !== undefined) signals.push(opts.signal)
    const signal = AbortSignal.any(signals)
    let peer: PeerId
    try {
      peer = peerIdFromString(peerId)
    } catch {
      throw new RangeError(`invalid peer id ${peerId}`)
    }
    let stream: Stream
    try {
      stream = await this.components.dialProtocol(peer, this.protocol, { signal })
    } catch (err) {
      throw requestError(peerId, err, signal)
    }
    const onAbort = (): void =>
      stream.abort(new SyncRequestError('sync request timed out', peerId, 'timeout'))
    signal.addEventListener('abort', onAbort, { once: true })
    const frames: SyncResponseFrame[] = []
    try {
      const source = pipe(
        [encodeSyncRequest(request)],
        (s) => lp.encode(s),
        stream,
        (s) => lp.decode(s, { maxDataLength: MAX_SYNC_FRAME_BYTES }),
      )
      for await (const chunk of source) {
        let frame: SyncResponseFrame
        try {
          frame = decodeSyncResponse(chunk.subarray())
        } catch (err) {
          throw new SyncRequestError(`malformed frame: ${(err as Error).message}`, peerId, 'protocol')
        }
        if (frame.type === 'error') {
          throw new SyncRequestError(`peer refused (${frame.code}): ${frame.reason}`, peerId, 'refused')
        }
        frames.push(frame)
        if (frames.length > maxFrames) throw new SyncRequestError('too many frames', peerId, 'protocol')
      }
      return frames
    } catch (err) {
      const e = requestError(peerId, err, signal)
      stream.abort(e)
      throw e
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }
}

function requestError(peerId: string, err: unknown, signal: AbortSignal): SyncRequestError {
  if (err instanceof SyncRequestError) return err
  if (signal.aborted) return new SyncRequestError('sync request timed out', peerId, 'timeout')
  return new SyncRequestError(`sync stream failed: ${(err as Error).message}`, peerId, 'stream')
}

function toSyncedBlock(peerId: string, frame: SyncResponseFrame, height: number): SyncedBlock {
  if (frame.type !== 'block') throw new SyncRequestError('expected a block frame', peerId, 'protocol')
  let block: Block
  let certificate: CommitCertificate
  try {
    block = decodeBlock(frame.block)
    certificate = decodeCertificate(frame.certificate)
  } catch (err) {
    throw new SyncRequestError(`undecodable block ${height}: ${(err as Error).message}`, peerId, 'protocol')
  }
  if (block.header.height !== height || certificate.height !== height) {
    throw new SyncRequestError(`expected height ${height}, got ${block.header.height}`, peerId, 'protocol')
  }
  if (!bytesEqual(certificate.blockHash, blockHash(block.header))) {
    throw new SyncRequestError(`certificate of ${height} is for another block`, peerId, 'protocol')
  }
  return { height, block, certificate, encoded: { block: frame.block, certificate: frame.certificate } }
}
