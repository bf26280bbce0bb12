import type { PbftEngine } from '../../src/consensus/engine.js'
import { NewViewConstraint } from '../../src/consensus/new-view.js'

/**
 * A deep copy of an engine's state into `fresh`, an engine built with the same configuration (the
 * model checker's cheap state: docs/CONSENSUS.md "Model checking"). The engine's phase table and its
 * view change's host are closures bound to their engine, so the copy keeps `fresh`'s own and copies
 * every other field: Maps, Sets, arrays and class instances (HeightSlot, VoteTable, EvidenceLog, …)
 * are copied, aliasing kept; messages, blocks and byte arrays (plain values the engine never
 * mutates) and the immutable NewViewConstraint are shared. A function anywhere else in the state
 * throws: the copy would still point at the old engine. test/model/model.spec.ts checks copy-then-step
 * against replaying the schedule from the start, and that the original is left unchanged.
 */
export function copyEngineInto(src: PbftEngine, fresh: PbftEngine): PbftEngine {
  const memo = new Map<object, unknown>()
  const s = src as unknown as Record<string, unknown>
  const f = fresh as unknown as Record<string, unknown>
  sameKeys(s, f, 'engine')
  for (const k of Object.keys(s)) {
    if (k === 'config' || k === 'deps' || k === 'phases') continue
    if (k === 'vc') {
      const sv = s.vc as Record<string, unknown>
      const fv = f.vc as Record<string, unknown>
      sameKeys(sv, fv, 'view change')
      for (const j of Object.keys(sv)) if (j !== 'config' && j !== 'host') fv[j] = deep(sv[j], memo)
      continue
    }
    f[k] = deep(s[k], memo)
  }
  return fresh
}

const checked = new WeakSet<object>()

function sameKeys(a: object, b: object, what: string): void {
  // once per class: every engine of a class has the same fields
  const proto = Object.getPrototypeOf(b) as object
  if (checked.has(proto)) return
  checked.add(proto)
  const ka = Object.keys(a).sort().join()
  const kb = Object.keys(b).sort().join()
  if (ka !== kb) throw new Error(`copyEngineInto: ${what} fields differ (${ka} / ${kb})`)
}

function deep(v: unknown, memo: Map<object, unknown>): unknown {
  if (typeof v === 'function') throw new Error('copyEngineInto: a closure in the engine state')
  if (v === null || typeof v !== 'object') return v
  if (v instanceof Uint8Array || v instanceof NewViewConstraint) return v
  const known = memo.get(v)
  if (known !== undefined) return known
  if (v instanceof Map) {
    const m = new Map()
    memo.set(v, m)
    for (const [k, x] of v) m.set(deep(k, memo), deep(x, memo))
    return m
  }
  if (v instanceof Set) {
    const m = new Set()
    memo.set(v, m)
    for (const x of v) m.add(deep(x, memo))
    return m
  }
  if (Array.isArray(v)) {
    const a: unknown[] = []
    memo.set(v, a)
    for (const x of v) a.push(deep(x, memo))
    return a
  }
  const proto = Object.getPrototypeOf(v)
  if (proto === Object.prototype || proto === null) return v // a message, block or record: a value
  const o = Object.create(proto) as Record<string, unknown>
  memo.set(v, o)
  for (const k of Object.keys(v)) o[k] = deep((v as Record<string, unknown>)[k], memo)
  return o
}
