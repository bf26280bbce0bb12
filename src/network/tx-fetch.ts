import type { PeerId, Stream, StreamHandler } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import { txHash } from '../codec/chain.js'
import { TxFetchError } from './errors.js'
import type { NetworkLogger } from './logger.js'
import type { TxFetchOptions } from './options.js'
import {
  decodeTxFetchRequest,
  decodeTxFetchResponse,
  encodeTxFetchRequest,
  encodeTxFetchResponse,
  MAX_TX_FETCH_FRAME_BYTES,
  MAX_TX_FETCH_HASHES,
  MAX_TX_FETCH_REQUEST_BYTES,
  TX_FETCH_FRAME_TARGET_BYTES,
  TxFetchErrorCode,
} from './tx-fetch-codec.js'
import type { TxSource } from './tx-source.js'

export interface TxFetchRequestOptions {
  signal?: AbortSignal
  /** overrides TxFetchOptions.requestTimeoutMs */
  timeoutMs?: number
}

interface TxFetchClientComponents {
  dialProtocol(peer: PeerId, protocol: string, options: { signal: AbortSignal }): Promise<Stream>
}

const hexKey = (h: Uint8Array): string => Buffer.from(h).toString('hex')

/**
 * The requesting side of `/pbft/<chain_id>/txs/1` (docs/PROTOCOL.md "Tx fetch"). A peer answers
 * with the txs it has among those asked for; each one must hash to a hash that was asked for and
 * not yet answered, or the whole answer is refused (the peer is broken or lying). Every request has
 * a deadline; the result may be partial (the peer lacks some), never wrong.
 */
export class TxFetchClient {
  constructor(
    private readonly components: TxFetchClientComponents,
    private readonly protocol: string,
    private readonly options: TxFetchOptions,
  ) {}

  async fetch(peerId: string, hashes: readonly Uint8Array[], opts: TxFetchRequestOptions = {}) {
    if (hashes.length === 0) return []
    if (hashes.length > MAX_TX_FETCH_HASHES)
      throw new RangeError(`at most ${MAX_TX_FETCH_HASHES} hashes per tx fetch, not ${hashes.length}`)
    const wanted = new Set(hashes.map(hexKey))
    // every frame but an empty last one carries at least one tx asked for
    const maxFrames = wanted.size + 1
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
      throw fetchError(peerId, err, signal)
    }
    const onAbort = (): void => stream.abort(new TxFetchError('tx fetch timed out', peerId, 'timeout'))
    signal.addEventListener('abort', onAbort, { once: true })
    const got: Uint8Array[] = []
    let frames = 0
    try {
      const source = pipe(
        [encodeTxFetchRequest(hashes)],
        (s) => lp.encode(s),
        stream,
        (s) => lp.decode(s, { maxDataLength: MAX_TX_FETCH_FRAME_BYTES }),
      )
      for await (const chunk of source) {
        if (++frames > maxFrames) throw new TxFetchError('too many frames', peerId, 'protocol')
        let frame: ReturnType<typeof decodeTxFetchResponse>
        try {
          frame = decodeTxFetchResponse(chunk.subarray())
        } catch (err) {
          throw new TxFetchError(`malformed frame: ${(err as Error).message}`, peerId, 'protocol')
        }
        if (frame.type === 'error')
          throw new TxFetchError(`peer refused (${frame.code}): ${frame.reason}`, peerId, 'refused')
        for (const tx of frame.txs) {
          const key = hexKey(txHash(tx))
          if (!wanted.delete(key)) throw new TxFetchError('a tx that was not asked for', peerId, 'protocol')
          got.push(tx)
        }
      }
      return got
    } catch (err) {
      const e = fetchError(peerId, err, signal)
      stream.abort(e)
      throw e
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }
}

function fetchError(peerId: string, err: unknown, signal: AbortSignal): TxFetchError {
  if (err instanceof TxFetchError) return err
  if (signal.aborted) return new TxFetchError('tx fetch timed out', peerId, 'timeout')
  return new TxFetchError(`tx fetch stream failed: ${(err as Error).message}`, peerId, 'stream')
}

class TxServeTimeoutError extends Error {
  override name = 'TxServeTimeoutError'
}

interface TxFetchServerInit {
  txSource: TxSource | undefined
  options: TxFetchOptions
  logger: NetworkLogger
}

/**
 * Serves `/pbft/<chain_id>/txs/1`: one request frame in (at most MAX_TX_FETCH_HASHES hashes), the
 * txs this node has among them out, in frames of about TX_FETCH_FRAME_TARGET_BYTES, then the stream
 * ends. A malformed request gets an error frame; a client that does not send its request in time,
 * or reads too slowly, is aborted. Nothing here can throw into libp2p.
 */
export function createTxFetchHandler(init: TxFetchServerInit): StreamHandler {
  return ({ stream, connection }) => {
    void serveTxs(init, stream, connection.remotePeer.toString())
  }
}

async function serveTxs(init: TxFetchServerInit, stream: Stream, peer: string): Promise<void> {
  const { options, logger } = init
  const readTimer = setTimeout(
    () => stream.abort(new TxServeTimeoutError('no tx fetch request in time')),
    options.serverReadTimeoutMs,
  )
  const totalTimer = setTimeout(
    () => stream.abort(new TxServeTimeoutError('tx fetch response took too long')),
    options.requestTimeoutMs,
  )
  try {
    let frames: Uint8Array[]
    try {
      const hashes = decodeTxFetchRequest(await readRequestFrame(stream))
      clearTimeout(readTimer)
      frames = responseFrames(init.txSource, hashes)
    } catch (err) {
      if (stream.status !== 'open') throw err
      logger.debug({ peer, err }, 'bad tx fetch request')
      const reason = (err as Error).message.slice(0, 200)
      frames = [encodeTxFetchResponse({ type: 'error', code: TxFetchErrorCode.badRequest, reason })]
    }
    await pipe(frames, (s) => lp.encode(s, { maxDataLength: MAX_TX_FETCH_FRAME_BYTES }), stream.sink)
  } catch (err) {
    logger.debug({ peer, err }, 'tx fetch stream aborted')
    stream.abort(err as Error)
  } finally {
    clearTimeout(readTimer)
    clearTimeout(totalTimer)
  }
}

async function readRequestFrame(stream: Stream): Promise<Uint8Array> {
  for await (const chunk of lp.decode(stream.source, { maxDataLength: MAX_TX_FETCH_REQUEST_BYTES })) {
    return chunk.subarray()
  }
  throw new Error('stream ended before the request')
}

/** The txs found, in request order, packed into frames; an empty txs frame when none is found. */
function responseFrames(source: TxSource | undefined, hashes: readonly Uint8Array[]): Uint8Array[] {
  const frames: Uint8Array[] = []
  let txs: Uint8Array[] = []
  let bytes = 0
  const seen = new Set<string>()
  for (const hash of hashes) {
    const key = hexKey(hash)
    if (seen.has(key)) continue // a repeated hash is answered once (the client accepts each once)
    seen.add(key)
    const tx = source?.getTx(hash)
    if (tx === undefined) continue
    txs.push(tx)
    bytes += 4 + tx.length
    if (bytes >= TX_FETCH_FRAME_TARGET_BYTES) {
      frames.push(encodeTxFetchResponse({ type: 'txs', txs }))
      txs = []
      bytes = 0
    }
  }
  if (txs.length > 0 || frames.length === 0) frames.push(encodeTxFetchResponse({ type: 'txs', txs }))
  return frames
}
