/**
 * The figures the explorer derives from recent blocks (docs/EXPLORER.md "Pages"): the average block
 * interval and tx rate, and each validator's share of the commit certificates. No DOM: unit-tested
 * in Node.
 */

/** What the rates need of a block: its height, time and tx count (a `blockchain` block meta). */
export interface BlockTiming {
  header: { height: number; timestamp: number }
  num_txs: number
}

/**
 * Average block interval (ms) and tx/s over the blocks (ascending by height), genesis left out (its
 * time is the chain's creation, not a block interval). The first block's txs came before the span
 * measured, so they are not counted. Null when fewer than two blocks or no time passed.
 */
export function chainRates(blocks: readonly BlockTiming[]): {
  intervalMs: number | null
  txPerSec: number | null
} {
  const counted = blocks.filter((b) => b.header.height > 0)
  const first = counted[0]
  const last = counted[counted.length - 1]
  if (first === undefined || last === undefined || counted.length < 2)
    return { intervalMs: null, txPerSec: null }
  const span = last.header.timestamp - first.header.timestamp
  if (span <= 0) return { intervalMs: null, txPerSec: null }
  const txs = counted.slice(1).reduce((n, b) => n + b.num_txs, 0)
  return { intervalMs: span / (counted.length - 1), txPerSec: (txs * 1000) / span }
}

/** How many of the certificates carry each validator's vote: index → count (absent = 0). */
export function participation(
  certificates: readonly ({ votes: readonly { validator: number }[] } | null)[],
): Map<number, number> {
  const signed = new Map<number, number>()
  for (const cert of certificates) {
    for (const v of cert?.votes ?? []) signed.set(v.validator, (signed.get(v.validator) ?? 0) + 1)
  }
  return signed
}
