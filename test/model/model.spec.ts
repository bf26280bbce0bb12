import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { independent } from './explore.js'
import { MUTANTS } from './mutants.js'
import { type Bounds, describe as name, type Transition, World } from './world.js'

/**
 * The bounded model checker (test/model/, docs/CONSENSUS.md "Model checking"): its successor states
 * and independence relation in this process, its searches at the small bound in their own process
 * (it memoizes Ed25519 there). `make check-model` runs the large bound.
 */
const CLI = join(dirname(fileURLToPath(import.meta.url)), 'cli.ts')

function check(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [...process.execArgv, CLI, ...args], {
    encoding: 'utf8',
    timeout: 600_000,
  })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

const field = (out: string, re: RegExp): string => {
  const m = re.exec(out)
  if (m?.[1] === undefined) throw new Error(`no ${re} in:\n${out}`)
  return m[1]
}

/** A deterministic pseudo-random walk's choices (xorshift32). */
function chooser(seed: number): (n: number) => number {
  let x = seed
  return (n) => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) % n
  }
}

/**
 * The premise of a state abstraction (docs/CONSENSUS.md "Model checking"): a state and its `twin`,
 * which the digest cannot tell apart, behave alike — from both, every enabled transition, and a
 * random continuation of 6 steps, lead to states with one canonical digest. Checked from states
 * along seeded random walks; returns the first mismatch, if any, and how many twins really differed
 * from their original (`differs`: the check is not vacuous).
 */
function twinCheck(
  root: () => World,
  twin: (w: World, rand: () => number) => World,
  differs: (w: World, t: World) => boolean,
): { compared: number; reordered: number; mismatch: string | null } {
  let compared = 0
  let reordered = 0
  for (const seed of [11, 12, 13, 14, 15, 16]) {
    const pick = chooser(seed * 6151)
    const rand = () => pick(1_000_000) / 1_000_000
    let w = root()
    for (let i = 0; i < 30; i++) {
      const enabled = w.enabled()
      if (enabled.length === 0) break
      const p = twin(w, rand)
      if (p.hash('canonical') !== w.hash('canonical')) return { compared, reordered, mismatch: 'digest' }
      if (differs(w, p)) reordered++
      const differ = (a: World, b: World, what: string) =>
        a.hash('canonical') !== b.hash('canonical') ? `${what} at step ${i}, seed ${seed}` : null
      for (const tr of enabled) {
        const a = w.clone()
        a.apply(tr)
        const b = p.clone()
        b.apply(tr)
        compared++
        const m = differ(a, b, name(tr))
        if (m !== null) return { compared, reordered, mismatch: m }
      }
      let [a, b] = [w.clone(), p.clone()]
      for (let k = 0; k < 6; k++) {
        const next = a.enabled()
        if (next.length === 0) break
        const tr = next[pick(next.length)] as Transition
        ;[a, b] = [a.clone(), b.clone()]
        a.apply(tr)
        b.apply(tr)
        compared++
        const m = differ(a, b, `continuation ${k}: ${name(tr)}`)
        if (m !== null) return { compared, reordered, mismatch: m }
      }
      const next = w.clone()
      next.apply(enabled[pick(enabled.length)] as Transition)
      w = next
    }
  }
  return { compared, reordered, mismatch: null }
}

/** The canonical digest's premise: insertion orders of the Maps and Sets it sorts do not matter. */
const insertionOrderCheck = (root: () => World) =>
  twinCheck(
    root,
    (w, rand) => w.permuteInsertionOrders(rand),
    (w, p) => p.hash('insertion') !== w.hash('insertion'),
  )

/** The transient-field abstraction's premise: the engines' per-step scratch fields do not matter. */
const transientCheck = (root: () => World) =>
  twinCheck(
    root,
    (w, rand) => w.scrambleTransients(rand),
    (w, p) => p.transients() !== w.transients(),
  )

// One view change, two heights, a drop and a Byzantine message: walks reach view changes, NEW-VIEWs,
// pipelined commits and block sync.
const WALK: Bounds = { views: 1, heights: 2, drops: 1, byzantine: 1, depth: 40, maxStates: 0 }

describe('model: successor states and independence', function () {
  this.timeout(120_000)

  it('a cloned state, stepped, equals its schedule replayed from the start; the original is unchanged', () => {
    let compared = 0
    const kinds = new Set<string>()
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
      const pick = chooser(seed * 7919)
      let w = new World(WALK)
      const schedule: Transition[] = []
      for (let i = 0; i < 30; i++) {
        const enabled = w.enabled()
        if (enabled.length === 0) break
        const tr = enabled[pick(enabled.length)] as Transition
        const before = w.hash()
        const child = w.clone()
        child.apply(tr)
        schedule.push(tr)
        kinds.add(tr.t)
        expect(w.hash(), `parent changed by ${name(tr)}`).to.equal(before)
        expect(child.hash(), `after ${schedule.map(name).join(', ')}`).to.equal(
          World.replay(WALK, schedule).hash(),
        )
        compared++
        w = child
      }
    }
    expect(compared).to.be.greaterThan(100)
    expect([...kinds].sort()).to.include.members(['byz', 'deliver', 'drop', 'propose', 'timeout'])
  })

  it('transitions the reduction calls independent commute: both orders reach one state', () => {
    let commuting = 0
    let dependent = 0
    for (const seed of [5, 6, 7]) {
      const pick = chooser(seed * 104_729)
      let w = new World(WALK)
      for (let i = 0; i < 25; i++) {
        const enabled = w.enabled()
        if (enabled.length === 0) break
        for (let k = 0; k < 12 && enabled.length > 1; k++) {
          const a = enabled[pick(enabled.length)] as Transition
          const b = enabled[pick(enabled.length)] as Transition
          if (name(a) === name(b)) continue
          const wa = w.clone()
          const ea = wa.applyTracked(a)
          const wb = w.clone()
          const eb = wb.applyTracked(b)
          if (!independent(ea, eb)) {
            dependent++
            continue
          }
          wa.apply(b)
          wb.apply(a)
          expect(wa.hash(), `${name(a)} / ${name(b)}`).to.equal(wb.hash())
          commuting++
        }
        const next = w.clone()
        next.apply(enabled[pick(enabled.length)] as Transition)
        w = next
      }
    }
    expect(commuting).to.be.greaterThan(100)
    expect(dependent).to.be.greaterThan(10)
  })
  it('states that differ only in the insertion order of order-insensitive Maps and Sets behave alike', () => {
    const r = insertionOrderCheck(() => new World(WALK))
    expect(r.mismatch).to.equal(null)
    expect(r.compared).to.be.greaterThan(500)
    // the permutations did change insertion orders (the check is not vacuous)
    expect(r.reordered).to.be.greaterThan(40)
  })

  it('the same check refutes an engine whose behaviour depends on such an order (mutant)', () => {
    const r = insertionOrderCheck(() => MUTANTS['order-sensitive'](WALK))
    expect(r.mismatch).to.be.a('string')
  })

  it("states that differ only in the engines' per-step scratch fields behave alike", () => {
    const r = transientCheck(() => new World(WALK))
    expect(r.mismatch).to.equal(null)
    expect(r.compared).to.be.greaterThan(500)
    expect(r.reordered).to.be.greaterThan(40)
  })

  it('the same check refutes an engine that reads a scratch field between steps (mutant)', () => {
    const r = transientCheck(() => MUTANTS['transient-reader'](WALK))
    expect(r.mismatch).to.be.a('string')
  })

  it('a dead message (a height its receiver finalized) leaves that receiver as it was', () => {
    // Dead messages kept in flight, then each delivered to a copy: the engine's state digest and the
    // world around it are unchanged but for the message taken out of the network. The walks favour
    // deliveries and let the Byzantine validator vote, so replicas finalize with messages in flight.
    World.deadMessages = false
    try {
      const pick = chooser(4_242)
      const bounds: Bounds = { views: 0, heights: 2, drops: 0, byzantine: 2, depth: 60, maxStates: 0 }
      let dead = 0
      for (let walk = 0; walk < 60; walk++) {
        let w = new World(bounds)
        for (let i = 0; i < 60; i++) {
          const enabled = w.enabled()
          if (enabled.length === 0) break
          for (const tr of enabled) {
            if (tr.t !== 'deliver' || !w.isDeadKey(tr.key)) continue
            const a = w.clone()
            a.apply(tr)
            const b = w.clone()
            b.apply({ t: 'drop', key: tr.key })
            b.unspendDrop()
            expect(a.hash(), name(tr)).to.equal(b.hash())
            dead++
          }
          const deliveries = enabled.filter((tr) => tr.t === 'deliver')
          const from = deliveries.length > 0 && pick(10) < 8 ? deliveries : enabled
          const next = w.clone()
          next.apply(from[pick(from.length)] as Transition)
          w = next
        }
      }
      expect(dead).to.be.greaterThan(10)
    } finally {
      World.deadMessages = true
    }
  })

  it('a step that sends again a message still in flight does not commute with its delivery', () => {
    // Honest replicas send again their VIEW-CHANGE and the NEW-VIEW they hold: delivering that message
    // to another replica and the step that puts it back into the network end in different states.
    const pick = chooser(12_345)
    let found = 0
    for (let walk = 0; walk < 40 && found === 0; walk++) {
      let w = new World(WALK)
      for (let i = 0; i < 40; i++) {
        const enabled = w.enabled()
        if (enabled.length === 0) break
        const effects = enabled.map((tr) => w.clone().applyTracked(tr))
        for (const [ia, a] of effects.entries())
          for (const [ib, b] of effects.entries()) {
            if (b.consumes === null || a === b || !a.emits.has(b.consumes)) continue
            expect(independent(a, b), `${a.name} / ${b.name}`).to.equal(false)
            const ab = w.clone()
            ab.apply(enabled[ia] as Transition)
            ab.apply(enabled[ib] as Transition)
            const ba = w.clone()
            ba.apply(enabled[ib] as Transition)
            ba.apply(enabled[ia] as Transition)
            expect(ab.hash(), `${a.name} / ${b.name}`).to.not.equal(ba.hash())
            found++
          }
        const next = w.clone()
        next.apply(enabled[pick(enabled.length)] as Transition)
        w = next
      }
    }
    expect(found).to.be.greaterThan(0)
  })
})

describe('model: bounded exhaustive exploration of the engine', function () {
  this.timeout(900_000)

  it('the small bound, exhausted: sleep sets visit the same states and terminal outcomes as the full search', () => {
    const reduced = check('--bound', 'small')
    const full = check('--bound', 'small', '--no-reduction')
    console.log(reduced.out.replace(/^/gm, '      ').trimEnd())
    for (const { status, out } of [reduced, full]) {
      expect(out).to.match(/no violation/)
      expect(out).to.match(/^exhausted/m) // not a sample
      expect(out).to.match(/ 0 states cut at the depth bound, 0 cycles/)
      expect(status).to.equal(0)
    }
    const states = (out: string) => Number(field(out, /^(\d+) states/m))
    const transitions = (out: string) => Number(field(out, /(\d+) transitions/))
    expect(states(reduced.out)).to.be.greaterThan(500)
    expect(states(reduced.out)).to.equal(states(full.out))
    expect(field(reduced.out, /(\d+) terminal states/)).to.equal(field(full.out, /(\d+) terminal states/))
    expect(field(reduced.out, /outcomes digest (\w+)/)).to.equal(field(full.out, /outcomes digest (\w+)/))
    expect(transitions(reduced.out)).to.be.lessThan(transitions(full.out) / 2)
  })

  it('the small bound by insertion-order digest: more states, the same outcomes (what the canonical digest merges)', () => {
    const canonical = check('--bound', 'small')
    const raw = check('--bound', 'small', '--insertion-order')
    for (const { status, out } of [canonical, raw]) {
      expect(out).to.match(/^exhausted/m)
      expect(status).to.equal(0)
    }
    expect(canonical.out).to.match(/states by canonical digest/)
    expect(raw.out).to.match(/states by insertion-order digest/)
    const states = (out: string) => Number(field(out, /^(\d+) states/m))
    expect(states(canonical.out)).to.be.lessThan(states(raw.out))
    expect(field(canonical.out, /outcomes digest (\w+)/)).to.equal(field(raw.out, /outcomes digest (\w+)/))
  })

  for (const [what, bound, keep, label] of [
    ['scratch fields', ['--bound', 'small'], '--keep-transient', /transient fields kept/],
    [
      'dead messages',
      ['--bound', 'small', '--byzantine', '1'],
      '--keep-dead',
      /canonical digest, successors/,
    ],
  ] as const) {
    it(`the small bound with ${what} out of the state: fewer states, the same outcomes`, () => {
      const merged = check(...bound)
      const kept = check(...bound, keep)
      for (const { status, out } of [merged, kept]) {
        expect(out).to.match(/^exhausted/m)
        expect(status).to.equal(0)
      }
      expect(kept.out).to.match(label)
      const states = (out: string) => Number(field(out, /^(\d+) states/m))
      expect(states(merged.out)).to.be.lessThan(states(kept.out))
      expect(field(merged.out, /outcomes digest (\w+)/)).to.equal(field(kept.out, /outcomes digest (\w+)/))
    })
  }

  it('finds and replays a counterexample under the reduction (a canary: finalizing height 1 counts as one)', () => {
    const found = check('--views', '0', '--heights', '1', '--drops', '0', '--byzantine', '0', '--canary', '1')
    expect(found.status).to.equal(1)
    expect(found.out).to.match(/sleep sets/)
    expect(found.out).to.match(/VIOLATION: canary: replica \d finalized height 1/)
    const dir = mkdtempSync(join(tmpdir(), 'pbft-model-'))
    try {
      const file = join(dir, 'schedule.txt')
      writeFileSync(file, found.out)
      const again = check('--views', '0', '--heights', '1', '--canary', '1', '--replay', file)
      expect(again.out).to.match(/VIOLATION: canary/)
      expect(again.status).to.equal(1)
      // without the canary the same schedule is a correct run
      const clean = check('--views', '0', '--heights', '1', '--replay', file)
      expect(clean.out).to.match(/no violation/)
      expect(clean.status).to.equal(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('reaches every height of the bound: a height above the pipelining depth K = 2 is finalized (canary 3)', () => {
    // The driver tells the engine again that txs wait after each commit (transition `txs`); without it
    // no height above K would ever be proposed, whatever the height bound.
    const found = check('--views', '0', '--heights', '3', '--drops', '0', '--byzantine', '0', '--canary', '3')
    expect(found.out).to.match(/VIOLATION: canary: replica \d finalized height 3/)
    expect(found.out).to.match(/^\s+\d+\. txs \d$/m)
    expect(found.status).to.equal(1)
  })

  for (const [mutant, violation] of [
    ['forged-vote', /VIOLATION: evidence against honest replica 0/],
    ['echo-commit', /VIOLATION: honest replica \d signed two prepare\/0\/1 messages/],
  ] as const) {
    it(`catches a broken world (${mutant}), with and without the reduction, and replays its trace`, () => {
      const bound = ['--bound', 'small', '--byzantine', '1']
      const found = check(...bound, '--mutant', mutant)
      expect(found.out).to.match(violation)
      expect(found.status).to.equal(1)
      const full = check(...bound, '--mutant', mutant, '--no-reduction')
      expect(full.out).to.match(violation)
      expect(full.status).to.equal(1)
      const dir = mkdtempSync(join(tmpdir(), 'pbft-model-'))
      try {
        const file = join(dir, 'schedule.txt')
        writeFileSync(file, found.out)
        const again = check(...bound, '--mutant', mutant, '--replay', file)
        expect(again.out).to.match(violation)
        expect(again.status).to.equal(1)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }
})
