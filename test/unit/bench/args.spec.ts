import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'

/** A wrong flag to a bench script is one line naming it and exit code 2, not a stack trace (bench/args.ts). */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

function runBench(script: string, ...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join('bench', script), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: r.status, stderr: r.stderr }
}

describe('bench scripts: bad flags', function () {
  this.timeout(120_000)

  it('an option value that looks like a flag (--node-arg --cpu-prof) is named, with the way to write it', () => {
    const r = runBench('scale.ts', '--node-arg', '--cpu-prof')
    expect(r.status).to.equal(2)
    expect(r.stderr.trim().split('\n')).to.have.length(1)
    expect(r.stderr).to.match(/^scale\.ts: Option '--node-arg' argument is ambiguous\..*--node-arg=-XYZ/)
  })

  it('an unknown option is named', () => {
    const r = runBench('memory.ts', '--bogus')
    expect(r.status).to.equal(2)
    expect(r.stderr.trim()).to.equal("memory.ts: Unknown option '--bogus' (--help lists the options)")
  })
})
