import { MAX_TX_BYTES } from '../codec/limits.js'

/** Mempool limits (config.json "mempool"); every field has a default. */
export interface MempoolOptions {
  /** most pending txs held at once */
  readonly maxTxs: number
  /** most encoded bytes of pending txs held at once */
  readonly maxBytes: number
  /** a tx nonce may be at most the sender's state nonce + this (bounds what one sender can park) */
  readonly maxNonceAhead: number
  /** a pending tx older than this is dropped as 'expired' by evictExpired() */
  readonly ttlMs: number
  /** largest encoded tx admitted (never above the codec's MAX_TX_BYTES) */
  readonly maxTxBytes: number
  /**
   * how many dropped txs (with their bytes) are remembered for status() and the `tx` RPC, here and
   * in the mempool journal; the oldest are forgotten first
   */
  readonly maxDroppedHistory: number
  /** how many recently verified tx hashes are remembered after they leave the pool */
  readonly maxVerifiedCache: number
}

export const defaultMempoolOptions: MempoolOptions = {
  maxTxs: 10_000,
  maxBytes: 64 * 1024 * 1024,
  maxNonceAhead: 64,
  ttlMs: 10 * 60 * 1000,
  maxTxBytes: MAX_TX_BYTES,
  maxDroppedHistory: 10_000,
  maxVerifiedCache: 20_000,
}

function check(name: keyof MempoolOptions, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`mempool.${name} must be an integer >= ${min}, got ${value}`)
  }
}

/** Fills in defaults and rejects nonsense early, at startup rather than at the first tx. */
export function resolveMempoolOptions(partial: Partial<MempoolOptions> = {}): MempoolOptions {
  const o: MempoolOptions = { ...defaultMempoolOptions, ...stripUndefined(partial) }
  check('maxTxs', o.maxTxs, 1)
  check('maxBytes', o.maxBytes, 1)
  check('maxNonceAhead', o.maxNonceAhead, 0)
  check('ttlMs', o.ttlMs, 1)
  check('maxTxBytes', o.maxTxBytes, 1)
  check('maxDroppedHistory', o.maxDroppedHistory, 0)
  check('maxVerifiedCache', o.maxVerifiedCache, 0)
  if (o.maxTxBytes > MAX_TX_BYTES) {
    throw new RangeError(`mempool.maxTxBytes must be <= ${MAX_TX_BYTES}, got ${o.maxTxBytes}`)
  }
  return o
}

// A config key present with value undefined must not erase its default.
function stripUndefined(partial: Partial<MempoolOptions>): Partial<MempoolOptions> {
  return Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined))
}
