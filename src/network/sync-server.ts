import type { Stream, StreamHandler } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import type { BlockSource } from './block-source.js'
import type { NetworkLogger } from './logger.js'
import type { SyncOptions } from './options.js'
import {
  decodeSyncRequest,
  encodeSyncResponse,
  MAX_SYNC_FRAME_BYTES,
  MAX_SYNC_REQUEST_BYTES,
  SyncErrorCode,
  type SyncRequest,
} from './sync-codec.js'

interface SyncServerInit {
  blockSource: BlockSource | undefined
  options: SyncOptions
  logger: NetworkLogger
}

class SyncServeTimeoutError extends Error {
  override name = 'SyncServeTimeoutError'
}

/**
 * Serves `/pbft/<chain_id>/sync/1`: one request frame in, response frames out, then the stream
 * ends. A malformed request gets an error frame and the stream is closed; a client that does not
 * send its request in time, or reads too slowly, is aborted. Nothing here can throw into libp2p.
 */
export function createSyncHandler(init: SyncServerInit): StreamHandler {
  return ({ stream, connection }) => {
    void serve(init, stream, connection.remotePeer.toString())
  }
}

async function serve(init: SyncServerInit, stream: Stream, peer: string): Promise<void> {
  const { options, logger } = init
  const readTimer = setTimeout(
    () => stream.abort(new SyncServeTimeoutError('no sync request in time')),
    options.serverReadTimeoutMs,
  )
  const totalTimer = setTimeout(
    () => stream.abort(new SyncServeTimeoutError('sync response took too long')),
    options.requestTimeoutMs,
  )
  try {
    let frames: AsyncIterable<Uint8Array> | Iterable<Uint8Array>
    try {
      const request = decodeSyncRequest(await readRequestFrame(stream))
      clearTimeout(readTimer)
      frames = responseFrames(init, request)
    } catch (err) {
      if (stream.status !== 'open') throw err
      logger.debug({ peer, err }, 'bad sync request')
      frames = [
        encodeSyncResponse({
          type: 'error',
          code: SyncErrorCode.badRequest,
          reason: (err as Error).message.slice(0, 200),
        }),
      ]
    }
    await pipe(frames, (s) => lp.encode(s, { maxDataLength: MAX_SYNC_FRAME_BYTES }), stream.sink)
  } catch (err) {
    logger.debug({ peer, err }, 'sync stream aborted')
    stream.abort(err as Error)
  } finally {
    clearTimeout(readTimer)
    clearTimeout(totalTimer)
  }
}

async function readRequestFrame(stream: Stream): Promise<Uint8Array> {
  for await (const chunk of lp.decode(stream.source, { maxDataLength: MAX_SYNC_REQUEST_BYTES })) {
    return chunk.subarray()
  }
  throw new Error('stream ended before the request')
}

async function* responseFrames(init: SyncServerInit, request: SyncRequest): AsyncGenerator<Uint8Array> {
  const source = init.blockSource
  if (source === undefined) {
    yield encodeSyncResponse({ type: 'error', code: SyncErrorCode.unavailable, reason: 'no block source' })
    return
  }
  if (request.type === 'status') {
    yield encodeSyncResponse({ type: 'status', height: source.tipHeight(), hash: source.tipHash() })
    return
  }
  // Ranges longer than our limit are clamped, not refused: the client continues from where we stop.
  const last = Math.min(request.to, request.from + init.options.maxBlocksPerRequest - 1, source.tipHeight())
  for (let height = request.from; height <= last; height++) {
    const item = await source.getBlockWithCertificate(height)
    if (item === undefined) return
    yield encodeSyncResponse({ type: 'block', block: item.block, certificate: item.certificate })
  }
}
