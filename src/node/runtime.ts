import { setFlagsFromString } from 'node:v8'

/** The `runtime` section of config.json (docs/HOME.md "runtime"): how this process uses memory. */
export interface RuntimeOptions {
  /**
   * 0: V8's own heap policy. N > 0: after each full garbage collection the heap may grow to
   * (1 + N/100) × what survived it before the next one, instead of V8's adaptive factor, which
   * goes up to 4× when the node allocates fast (hundreds of txs per second).
   */
  readonly heapGrowthPercent: number
}

/**
 * Applies the runtime options to this process's V8 heap; returns the V8 flags it set. V8 reads
 * `--heap-growing-percent` at every full collection, so setting it while the process runs takes
 * effect (the young generation's size, by contrast, is fixed when the process starts). Called once,
 * by `pbft start`, before the node opens.
 */
export function applyRuntimeOptions(o: RuntimeOptions): string[] {
  const flags = o.heapGrowthPercent > 0 ? [`--heap-growing-percent=${o.heapGrowthPercent}`] : []
  for (const flag of flags) setFlagsFromString(flag)
  return flags
}
