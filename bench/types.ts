/** What run.ts hands the load process (as a JSON file) and what the load process writes back. */

export interface LoadConfig {
  /** JSON-RPC HTTP endpoints; client c submits to rpcUrls[c % n] (a wallet talks to one node) */
  readonly rpcUrls: readonly string[]
  /** WebSocket endpoint whose NewBlock events timestamp finality */
  readonly wsUrl: string
  readonly chainId: string
  /** distinct client keys (seeded); each sends its txs with consecutive nonces */
  readonly clients: number
  readonly seed: string
  /** seconds of load, warm-up included */
  readonly durationSec: number
  /** the first seconds, excluded from the steady-state numbers */
  readonly warmupSec: number
  /** offered tx/s; 0 = as fast as the window allows (closed loop) */
  readonly rate: number
  /** most txs submitted and not yet final at any time */
  readonly window: number
  /** txs per JSON-RPC batch request */
  readonly batch: number
  /** HTTP requests in flight per node */
  readonly concurrency: number
  /** signed txs prepared before the clock starts (more are signed on the fly if they run out) */
  readonly poolTxs: number
  /** after the load stops, how long to wait for outstanding txs to become final */
  readonly drainSec: number
  /**
   * stop submitting once this many of the load's txs are final, even before durationSec (the
   * steady window then ends there); absent or 0: run for durationSec
   */
  readonly stopAfterFinalized?: number
  /** where to write the LoadResult */
  readonly out: string
}

export interface LatencySummary {
  readonly count: number
  readonly mean: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

/** One second of the run (t = seconds since the load started). */
export interface SeriesPoint {
  readonly t: number
  readonly submitted: number
  readonly finalized: number
  readonly blocks: number
  /** latency of the txs finalized in this second, ms (null when none) */
  readonly p50: number | null
  readonly p99: number | null
}

/** One block as the load saw it arrive (t = seconds since the load started). */
export interface BlockPoint {
  readonly t: number
  readonly height: number
  readonly txs: number
  /** latency of this block's bench txs, ms (null when it held none) */
  readonly p50: number | null
  readonly p99: number | null
}

export interface LoadResult {
  readonly steady: {
    readonly fromSec: number
    readonly toSec: number
    readonly finalizedTxs: number
    /** finalized txs in the window / its length */
    readonly txPerSec: number
    /** txs of blocks 2..k of the window / time from block 1 to block k (null with < 2 blocks) */
    readonly txPerSecBetweenBlocks: number | null
    readonly blocks: number
    readonly blocksPerSec: number
    readonly meanTxsPerBlock: number
    /** submit (request sent) → NewBlock received, ms */
    readonly latencyMs: LatencySummary
  }
  readonly totals: {
    readonly generated: number
    readonly signedDuringRun: number
    readonly submitted: number
    readonly accepted: number
    /** JSON-RPC error code → count (mempool-full rejections are retried and also counted here) */
    readonly rejected: Readonly<Record<string, number>>
    readonly httpErrors: number
    readonly finalized: number
    /** accepted but not final when the drain ended */
    readonly outstandingAtEnd: number
    readonly firstHeight: number | null
    readonly lastHeight: number | null
  }
  readonly series: readonly SeriesPoint[]
  readonly blocks: readonly BlockPoint[]
  readonly loadProcess: {
    readonly cpuUserSec: number
    readonly cpuSystemSec: number
    readonly signSec: number
  }
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] as number
}

export function summarize(values: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(values).sort()
  let sum = 0
  for (const v of sorted) sum += v
  return {
    count: sorted.length,
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] as number),
  }
}
