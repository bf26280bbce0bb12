import type { Bounds } from './world.js'

/**
 * The bounds `make test` (small) and `make check-model` (large, then viewchange) explore; figures
 * and the bounds beyond them in docs/CONSENSUS.md "Model checking". maxStates is the safety net: a
 * run it stops prints NOT EXHAUSTED.
 */
export const BOUNDS = {
  small: { views: 0, heights: 1, drops: 1, byzantine: 0, depth: 40, maxStates: 20_000 },
  large: { views: 0, heights: 1, drops: 1, byzantine: 1, depth: 40, maxStates: 2_000_000 },
  /**
   * One view change: exhausted (85,740 states with the scratch fields and dead messages out, 437,440
   * before; docs/CONSENSUS.md); the cap is the safety net (a run it stops says NOT EXHAUSTED).
   */
  viewchange: { views: 1, heights: 1, drops: 0, byzantine: 0, depth: 40, maxStates: 3_000_000 },
} satisfies Record<string, Bounds>

/** Bounds as the command line builds them. */
export type MutableBounds = { -readonly [K in keyof Bounds]: Bounds[K] }
