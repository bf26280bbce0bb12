/** Pure aggregation of the catch-up benchmark's samples (bench/catchup.ts); unit-tested. */

/** One look at the syncing node: when, its CPU time so far, and its height. */
export interface CatchupSample {
  /** wall clock, ms */
  readonly tMs: number
  /** utime + stime of the syncing process so far, seconds */
  readonly cpuSec: number
  /** the main thread's (where all JS but the signature workers runs) share of cpuSec */
  readonly mainCpuSec: number
  readonly height: number
}

export interface CatchupFigures {
  /** blocks applied inside the measured window */
  readonly blocks: number
  readonly seconds: number
  readonly blocksPerSec: number
  readonly txPerSec: number
  /** CPU time of the syncing node in the window, seconds */
  readonly cpuSec: number
  /** CPU time ÷ wall time: the share of one core the node used */
  readonly cpuShare: number
  readonly cpuMsPerBlock: number
  /** CPU µs per tx; null for empty blocks */
  readonly cpuUsPerTx: number | null
  /** the main thread's CPU per block: what bounds the rate when other cores are free */
  readonly mainCpuMsPerBlock: number
}

/**
 * The window runs from the first sample that shows progress above `startHeight` to the first that
 * reaches `target`: both ends are real observations, so start-up (process start, dialing) stays out
 * and the rate is not diluted by an idle tail. Throws when the samples never show the climb.
 */
export function catchupFigures(
  samples: readonly CatchupSample[],
  startHeight: number,
  target: number,
  txsPerBlock: number,
): CatchupFigures {
  const first = samples.find((s) => s.height > startHeight)
  const last = samples.find((s) => s.height >= target)
  if (first === undefined || last === undefined) {
    throw new Error(`the samples never climb from ${startHeight} to ${target}`)
  }
  if (last.tMs <= first.tMs || last.height <= first.height) {
    throw new Error('the catch-up finished within one sample: sync more blocks or sample more often')
  }
  const blocks = last.height - first.height
  const seconds = (last.tMs - first.tMs) / 1000
  const cpuSec = last.cpuSec - first.cpuSec
  const mainCpuSec = last.mainCpuSec - first.mainCpuSec
  const txs = blocks * txsPerBlock
  return {
    blocks,
    seconds,
    blocksPerSec: blocks / seconds,
    txPerSec: txs / seconds,
    cpuSec,
    cpuShare: cpuSec / seconds,
    cpuMsPerBlock: (cpuSec * 1000) / blocks,
    cpuUsPerTx: txs === 0 ? null : (cpuSec * 1e6) / txs,
    mainCpuMsPerBlock: (mainCpuSec * 1000) / blocks,
  }
}
