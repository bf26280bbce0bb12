import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'

/**
 * The bounded model checker (test/model/, docs/CONSENSUS.md "Model checking") at its small bound,
 * in its own process (it memoizes Ed25519 there). `make check-model` runs the large bound.
 */
const CLI = join(dirname(fileURLToPath(import.meta.url)), 'cli.ts')

function check(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [...process.execArgv, CLI, ...args], {
    encoding: 'utf8',
    timeout: 600_000,
  })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

describe('model: bounded exhaustive exploration of the engine', function () {
  this.timeout(900_000)

  it('the small bound: every schedule explored, no violation', () => {
    const { status, out } = check('--bound', 'small')
    console.log(out.replace(/^/gm, '      ').trimEnd())
    expect(out).to.match(/no violation/)
    expect(out).to.not.match(/stopped at max-states/) // exhaustive, not a sample
    expect(Number(/^(\d+) states/m.exec(out)?.[1])).to.be.greaterThan(1_000)
    expect(status).to.equal(0)
  })

  it('finds and replays a counterexample (a canary: finalizing height 1 counts as one)', () => {
    const found = check('--views', '0', '--heights', '1', '--drops', '0', '--byzantine', '0', '--canary', '1')
    expect(found.status).to.equal(1)
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
})
