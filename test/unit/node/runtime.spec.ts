import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { applyRuntimeOptions } from '../../../src/node/runtime.js'

/**
 * runtime.heap_growth_percent (docs/HOME.md "runtime") must change how far the heap grows, set while
 * the process runs. Two child processes run the same allocation pattern (a live set of ~30 MB
 * churned by ~2 GB of garbage), one with the option applied first; the largest heap V8 let either
 * reach is compared. With V8's adaptive policy the heap grows to several times the live data; with
 * 25 % it stays near it.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const script = `
const { applyRuntimeOptions } = await import(${JSON.stringify(join(root, 'src/node/runtime.ts'))})
const v8 = await import('node:v8')
const flags = applyRuntimeOptions({ heapGrowthPercent: Number(process.argv[1]) })
let live = []
let peak = 0
for (let round = 0; round < 250; round++) {
  for (let i = 0; i < 20000; i++) {
    const o = { a: round, b: new Array(8).fill(i), s: 'x' + i + ':' + round }
    if (i % 4 === 0) live.push(o)
  }
  if (live.length > 300000) live = live.slice(100000)
  peak = Math.max(peak, v8.getHeapStatistics().total_heap_size)
}
console.log(JSON.stringify({ flags, peak }))
`

function peakHeap(percent: number): { flags: string[]; peak: number } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script, String(percent)],
    {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    },
  )
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as { flags: string[]; peak: number }
}

describe('node runtime options', function () {
  this.timeout(120_000)

  it('heapGrowthPercent 0 sets no V8 flag (a value above 0 is only tried in a child: it changes the process)', () => {
    expect(applyRuntimeOptions({ heapGrowthPercent: 0 })).to.deep.equal([])
  })

  it('a heap growth of 25 % keeps the heap far below what V8 lets it reach on its own', () => {
    const own = peakHeap(0)
    const tight = peakHeap(25)
    expect(own.flags).to.deep.equal([])
    expect(tight.flags).to.deep.equal(['--heap-growing-percent=25'])
    expect(tight.peak, `peak heap ${tight.peak} with 25 % vs ${own.peak} with V8's policy`).to.be.below(
      0.75 * own.peak,
    )
  })
})
