import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { type AddressInfo, createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { withTempDir } from './run.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** Runs `pbft` as a real process (Node + tsx on src/cli.ts), as a user would. */
function pbft(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PBFT_DEBUG: '' },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('cli as a process', function () {
  this.timeout(60_000)

  it('starts with a node shebang', async () => {
    expect((await readFile(join(ROOT, 'src', 'cli.ts'), 'utf8')).split('\n')[0]).to.equal(
      '#!/usr/bin/env node',
    )
  })

  it('testnet succeeds once, then fails in one stderr line with exit 1 on the same output', async () => {
    await withTempDir(async (dir) => {
      const first = await pbft(['testnet', '--validators', '1', '--observers', '1', '--output', dir])
      expect(first.stderr).to.equal('')
      expect(first.code).to.equal(0)
      expect(first.stdout).to.match(
        /^node0 +validator +rpc 127\.0\.0\.1:26657 +p2p \/ip4\/127\.0\.0\.1\/tcp\/26656\/p2p\/12D3Koo/m,
      )
      const again = await pbft(['testnet', '--validators', '1', '--output', dir])
      expect(again.code).to.equal(1)
      expect(again.stderr).to.equal(`error: output directory ${dir} is not empty\n`)
    })
  })

  it('an unknown flag exits 2 (usage) with one line and no stack trace', async () => {
    const result = await pbft(['init', '--home', '/nonexistent', '--frob'])
    expect(result.code).to.equal(2)
    expect(result.stderr).to.equal("error: unknown option '--frob'\n")
    expect(result.stdout).to.equal('')
  })

  it('an unreachable node exits 3, a malformed hash 2: the codes reach the shell', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    await new Promise((resolve) => server.close(resolve))
    const unreachable = await pbft(['status', '--rpc', `http://127.0.0.1:${port}`])
    expect(unreachable.code).to.equal(3)
    expect(unreachable.stderr).to.equal(
      `error: cannot connect to http://127.0.0.1:${port}: connection refused (is the node running?)\n`,
    )
    expect((await pbft(['tx', 'get', 'nothex', '--rpc', `http://127.0.0.1:${port}`])).code).to.equal(2)
  })

  it('--help exits 0 with usage on stdout', async () => {
    const result = await pbft(['--help'])
    expect(result.code).to.equal(0)
    expect(result.stdout).to.match(/^Usage: pbft \[options\] \[command\]/)
    expect(result.stderr).to.equal('')
  })
})
