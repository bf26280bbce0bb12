import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'

/**
 * The layering of CONTRIBUTING.md, checked on the source: lower folders never import higher ones,
 * src/ has no import cycle, and the consensus engine stays pure (no I/O, clock or randomness).
 */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src')
/** Each folder may import only from folders of a lower or equal rank (crypto ← codec ← … ← cli). */
const RANK: Record<string, number> = {
  crypto: 0,
  codec: 1,
  chain: 2,
  app: 3,
  mempool: 3,
  consensus: 4,
  network: 5,
  rpc: 5,
  node: 6,
  cli: 7,
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

/** Relative imports of a file (type-only ones included: they couple the modules too), resolved to .ts paths. */
function imports(file: string): { spec: string; target: string; typeOnly: boolean }[] {
  const text = readFileSync(file, 'utf8')
  const out: { spec: string; target: string; typeOnly: boolean }[] = []
  for (const m of text.matchAll(/^(import|export)(\s+type)?[^;]*?from\s+'([^']+)'/gms)) {
    const spec = m[3] as string
    if (!spec.startsWith('.')) {
      out.push({ spec, target: spec, typeOnly: m[2] !== undefined })
      continue
    }
    out.push({
      spec,
      target: resolve(dirname(file), spec.replace(/\.js$/, '.ts')),
      typeOnly: m[2] !== undefined,
    })
  }
  return out
}

const files = sourceFiles(SRC)
const layer = (file: string): string => relative(SRC, file).split('/')[0] as string

describe('architecture', () => {
  it('lower layers never import higher ones', () => {
    const violations: string[] = []
    for (const file of files) {
      const from = layer(file)
      if (RANK[from] === undefined) continue
      for (const { target } of imports(file)) {
        if (!target.startsWith(SRC)) continue
        const to = layer(target)
        if ((RANK[to] ?? -1) > (RANK[from] as number))
          violations.push(`${relative(SRC, file)} → ${relative(SRC, target)}`)
      }
    }
    expect(violations).to.deep.equal([])
  })

  it('src/ has no import cycle', () => {
    const graph = new Map(
      files.map((f) => [
        f,
        imports(f)
          .filter((i) => i.target.startsWith(SRC))
          .map((i) => i.target),
      ]),
    )
    const state = new Map<string, 'visiting' | 'done'>()
    const cycles: string[] = []
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return
      if (state.get(f) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(' → '))
        return
      }
      state.set(f, 'visiting')
      for (const t of graph.get(f) ?? []) visit(t, [...path, f])
      state.set(f, 'done')
    }
    for (const f of files) visit(f, [])
    expect(cycles).to.deep.equal([])
  })

  it('the consensus engine is pure: no node: modules, no clock, no timers, no randomness', () => {
    const impure: string[] = []
    for (const file of files.filter((f) => layer(f) === 'consensus')) {
      const text = readFileSync(file, 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')
      for (const { spec } of imports(file))
        if (spec.startsWith('node:')) impure.push(`${relative(SRC, file)}: ${spec}`)
      for (const banned of [
        'Date.now',
        'new Date',
        'performance.now',
        'setTimeout',
        'setInterval',
        'setImmediate',
        'Math.random',
        'process.',
      ]) {
        if (text.includes(banned)) impure.push(`${relative(SRC, file)}: ${banned}`)
      }
    }
    expect(impure).to.deep.equal([])
  })

  it('the browser explorer imports only its own modules (and RPC types, erased at build)', () => {
    // it runs in the browser from dist/explorer: nothing else is served, and Node modules do not load
    const outside: string[] = []
    const explorer = files.filter((f) => layer(f) === 'explorer')
    expect(explorer.length).to.be.greaterThan(3)
    for (const file of explorer) {
      for (const { spec, target, typeOnly } of imports(file)) {
        if (target.startsWith(join(SRC, 'explorer'))) continue
        if (typeOnly && target === join(SRC, 'rpc/types.ts')) continue
        outside.push(`${relative(SRC, file)} → ${spec}`)
      }
    }
    expect(outside).to.deep.equal([])
  })

  it('the checks see the source: every layer has files and imports are found', () => {
    for (const name of Object.keys(RANK))
      expect(
        files.some((f) => layer(f) === name),
        name,
      ).to.equal(true)
    expect(imports(join(SRC, 'node/node.ts')).length).to.be.greaterThan(10)
  })
})
