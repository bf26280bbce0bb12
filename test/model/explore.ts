import { type Bounds, describe, type Effect, type Transition, Violation, World } from './world.js'

export interface ExploreOptions {
  /** sleep-set partial-order reduction (default on); off = every interleaving */
  readonly reduce?: boolean
  /** successors by World.clone (default) or by replaying the schedule from the initial state */
  readonly successors?: 'clone' | 'replay'
  /** the initial state (default: new World(bounds)); a test passes a mutant */
  readonly root?: () => World
  readonly progress?: (states: number) => void
}

export interface ExploreResult {
  /** distinct states reached (deduplicated by World.hash) */
  readonly states: number
  /** transitions taken (each a successor state computed) */
  readonly transitions: number
  /** transitions a sleep set spared (independent of one explored already: same states) */
  readonly slept: number
  /** states visited again because the sleep set they were stored with was not a subset of the new one */
  readonly revisits: number
  /** engine steps run (replays included) */
  readonly steps: number
  readonly maxDepth: number
  /** the most heights every honest replica finalized in one state */
  readonly maxFinal: number
  /** states whose schedule hit the depth bound (0: every run ended inside it) */
  readonly cut: number
  /** transitions back to a state on the current path (0: no cycle met) */
  readonly cycles: number
  /** terminal states (nothing enabled) and their distinct outcomes (the honest final chains) */
  readonly terminal: number
  readonly outcomes: ReadonlySet<string>
  /** true when maxStates stopped the search before it ran out of states */
  readonly truncated: boolean
  readonly counterexample: { readonly message: string; readonly schedule: string[] } | null
}

/**
 * Two transitions that commute here (docs/CONSENSUS.md "Model checking", "Partial-order
 * reduction"): taken in either order from this state they reach the same state and neither disables
 * the other. True when they step different replicas (a drop steps none), are not both drops nor both
 * Byzantine messages (one budget each), neither is a block sync (it reads the others' chains), and
 * neither takes out of the network a key that the other takes out or puts in again (the network is
 * a set of (receiver, message)). A step changes only its replica's engine, timer, proposal request,
 * chain and ledger, and adds to the network and to what the Byzantine validator saw (its menu only
 * grows); the invariants' verdicts are per replica or, for agreement, symmetric.
 */
export function independent(a: Effect, b: Effect): boolean {
  if (a.kind === 'sync' || b.kind === 'sync') return false
  if (a.kind === b.kind && (a.kind === 'drop' || a.kind === 'byz')) return false
  if (a.locus >= 0 && a.locus === b.locus) return false
  if (a.consumes !== null && (a.consumes === b.consumes || b.emits.has(a.consumes))) return false
  if (b.consumes !== null && a.emits.has(b.consumes)) return false
  if (a.consumes !== null && b.prunes.has(a.consumes)) return false
  if (b.consumes !== null && a.prunes.has(b.consumes)) return false
  return true
}

/**
 * Bounded exhaustive exploration (docs/CONSENSUS.md "Model checking"): depth-first over every
 * enabled transition — each delivery order, each drop within the drop budget, each timer, each
 * Byzantine message within its budget — from the initial state, with states deduplicated by hash,
 * and sleep sets (Godefroid 1996, ch. 5, with state caching: a state stores the sleep set it was
 * explored with, and a later visit with a sleep set that is not a superset explores the transitions
 * it slept then and no longer sleeps now, and stores the intersection). Sleep sets spare
 * transitions, never states: every reachable state is visited, so every violation found without them
 * is found with them. Stops at the first invariant violation and returns its schedule.
 */
export function explore(bounds: Bounds, options: ExploreOptions = {}): ExploreResult {
  const reduce = options.reduce ?? true
  const byReplay = options.successors === 'replay'
  const makeRoot = options.root ?? (() => new World(bounds))
  /** state hash -> its stored sleep set (names, sorted, joined by \n) */
  const visited = new Map<string, string>()
  const onPath = new Set<string>()
  const outcomes = new Set<string>()
  let transitions = 0
  let slept = 0
  let revisits = 0
  let steps = 0
  let maxDepth = 0
  let maxFinal = 0
  let cut = 0
  let cycles = 0
  let terminal = 0
  let truncated = false

  class Found {
    constructor(
      readonly message: string,
      readonly schedule: Transition[],
    ) {}
  }

  const deadline =
    bounds.maxSeconds === undefined ? Number.POSITIVE_INFINITY : Date.now() + bounds.maxSeconds * 1000
  const root = makeRoot()
  steps += root.steps
  try {
    visit(root, root.hash(), new Map(), [])
  } catch (err) {
    if (err instanceof Found) return result({ message: err.message, schedule: err.schedule.map(describe) })
    throw err
  }
  return result(null)

  function visit(w: World, h: string, sleepIn: Map<string, Effect>, schedule: Transition[]): void {
    let sleep = sleepIn
    let todo: Transition[]
    const stored = visited.get(h)
    if (stored !== undefined) {
      if (!reduce || stored === '') return
      const before = stored.split('\n')
      const awake = before.filter((n) => !sleep.has(n))
      if (awake.length === 0) return
      revisits++
      sleep = new Map([...sleep].filter(([n]) => before.includes(n)))
      visited.set(h, [...sleep.keys()].sort().join('\n'))
      todo = w.enabled().filter((tr) => awake.includes(describe(tr)))
    } else {
      if (visited.size >= bounds.maxStates || (visited.size % 1_000 === 0 && Date.now() > deadline)) {
        truncated = true
        return
      }
      visited.set(h, [...sleep.keys()].sort().join('\n'))
      if (visited.size % 10_000 === 0) options.progress?.(visited.size)
      maxDepth = Math.max(maxDepth, schedule.length)
      maxFinal = Math.max(maxFinal, Math.min(...w.finalHeights()))
      const enabled = w.enabled()
      if (enabled.length === 0) {
        terminal++
        outcomes.add(w.outcome())
      }
      todo = enabled.filter((tr) => !sleep.has(describe(tr)))
      slept += enabled.length - todo.length
    }
    if (schedule.length >= bounds.depth) {
      if (todo.length > 0) cut++
      return
    }
    onPath.add(h)
    const done = new Map(sleep)
    for (const tr of todo) {
      const next = [...schedule, tr]
      let child: World
      let effect: Effect
      try {
        if (byReplay) {
          child = makeRoot()
          for (const t of schedule) child.apply(t)
          steps += child.steps
          child.steps = 0
        } else child = w.clone()
        effect = child.applyTracked(tr)
      } catch (err) {
        if (err instanceof Violation) throw new Found(err.message, next)
        throw err
      }
      transitions++
      steps += child.steps
      const childSleep = new Map<string, Effect>()
      if (reduce) for (const [n, u] of done) if (independent(u, effect)) childSleep.set(n, u)
      const ch = child.hash()
      if (onPath.has(ch)) cycles++
      visit(child, ch, childSleep, next)
      if (truncated) break
      done.set(effect.name, effect)
    }
    onPath.delete(h)
  }

  function result(counterexample: ExploreResult['counterexample']): ExploreResult {
    return {
      states: visited.size,
      transitions,
      slept,
      revisits,
      steps,
      maxDepth,
      maxFinal,
      cut,
      cycles,
      terminal,
      outcomes,
      truncated,
      counterexample,
    }
  }
}
