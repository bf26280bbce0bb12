import type { Bounds } from './world.js'

/**
 * The bounds `make test` (small: explored to the end) and `make check-model` (large: as many states
 * as maxStates allows) explore; figures in docs/CONSENSUS.md "Model checking".
 */
export const BOUNDS = {
  small: { views: 0, heights: 1, drops: 1, byzantine: 0, depth: 40, maxStates: 20_000 },
  large: { views: 1, heights: 2, drops: 1, byzantine: 1, depth: 40, maxStates: 200_000 },
} satisfies Record<string, Bounds>

/** Bounds as the command line builds them. */
export type MutableBounds = { -readonly [K in keyof Bounds]: Bounds[K] }
