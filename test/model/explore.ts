import { type Bounds, describe, type Transition, Violation, World } from './world.js'

export interface ExploreResult {
  /** distinct states reached (deduplicated by World.hash) */
  readonly states: number
  /** transitions taken (each one a replay of its schedule) */
  readonly transitions: number
  /** engine steps run, replays included */
  readonly steps: number
  readonly maxDepth: number
  /** the most heights every honest replica finalized in one state */
  readonly maxFinal: number
  /** states whose schedule hit the depth bound */
  readonly cut: number
  /** true when maxStates stopped the search before it ran out of states */
  readonly truncated: boolean
  readonly counterexample: { readonly message: string; readonly schedule: string[] } | null
}

/**
 * Bounded exhaustive exploration (docs/CONSENSUS.md "Model checking"): depth-first over every
 * enabled transition — each delivery order, each drop within the drop budget, each timer, each
 * Byzantine message within its budget — from the initial state, with states deduplicated by hash.
 * A state is rebuilt by replaying its schedule (the engine has no clone; it is deterministic).
 * Stops at the first invariant violation and returns its schedule.
 */
export function explore(bounds: Bounds, progress?: (states: number) => void): ExploreResult {
  const visited = new Set<string>()
  const stack: Transition[][] = [[]]
  let transitions = 0
  let steps = 0
  let maxDepth = 0
  let maxFinal = 0
  let cut = 0
  const root = new World(bounds)
  visited.add(root.hash())
  steps += root.steps
  while (stack.length > 0) {
    if (visited.size >= bounds.maxStates) return result(true, null)
    const schedule = stack.pop() as Transition[]
    if (schedule.length >= bounds.depth) {
      cut++
      continue
    }
    const parent = World.replay(bounds, schedule)
    steps += parent.steps
    for (const tr of parent.enabled()) {
      const next = [...schedule, tr]
      let child: World
      try {
        child = World.replay(bounds, next)
      } catch (err) {
        if (err instanceof Violation)
          return result(false, { message: err.message, schedule: next.map(describe) })
        throw err
      }
      transitions++
      steps += child.steps
      const h = child.hash()
      if (visited.has(h)) continue
      visited.add(h)
      if (visited.size % 5_000 === 0) progress?.(visited.size)
      maxDepth = Math.max(maxDepth, next.length)
      maxFinal = Math.max(maxFinal, Math.min(...child.finalHeights()))
      stack.push(next)
    }
  }
  return result(false, null)

  function result(truncated: boolean, counterexample: ExploreResult['counterexample']): ExploreResult {
    return { states: visited.size, transitions, steps, maxDepth, maxFinal, cut, truncated, counterexample }
  }
}
