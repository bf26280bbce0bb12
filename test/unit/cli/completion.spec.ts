import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import { oneErrorLine, runPbft, withTempDir } from './run.js'

/** What the completion function offers for a command line whose last word is being typed. */
function bashComplete(script: string, words: string[]): string[] {
  const quoted = words.map((w) => `'${w}'`).join(' ')
  const run = spawnSync(
    'bash',
    [
      '-c',
      `${script}\nCOMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _pbft; echo "\${COMPREPLY[*]}"`,
    ],
    { encoding: 'utf8' },
  )
  expect(run.stderr).to.equal('')
  return run.stdout.trim().split(/\s+/).filter(Boolean)
}

function hasShell(shell: string): boolean {
  return spawnSync(shell, ['-c', 'true']).status === 0
}

describe('cli/completion', () => {
  it('prints a script for bash and zsh naming every command and option', async () => {
    for (const shell of ['bash', 'zsh']) {
      const result = await runPbft(['completion', shell])
      expect(result.code).to.equal(0)
      for (const word of [
        'show-validator',
        'unsafe-reset-all',
        'net-info',
        'tx send',
        'tx sign',
        '--rpc',
        '--output',
        '--mempool.max_txs',
      ])
        expect(result.stdout, `${shell}: ${word}`).to.include(word)
    }
    expect((await runPbft(['completion', 'bash'])).stdout).to.include('complete -o default -F _pbft pbft')
    expect((await runPbft(['completion', 'zsh'])).stdout).to.match(/^#compdef pbft\n/)
    const fish = await runPbft(['completion', 'fish'])
    expect(fish.code).to.equal(2)
    expect(oneErrorLine(fish)).to.include('Allowed choices are bash, zsh')
  })

  it('the bash script completes commands, subcommands, options and their values', async function () {
    // Skipped only where no bash exists to run the script (never on Debian, CI included).
    if (!hasShell('bash')) this.skip()
    const script = (await runPbft(['completion', 'bash'])).stdout
    expect(bashComplete(script, ['pbft', 'sh'])).to.deep.equal(['show-node-id', 'show-validator'])
    expect(bashComplete(script, ['pbft', 'tx', ''])).to.deep.equal(['send', 'sign', 'submit', 'get'])
    expect(bashComplete(script, ['pbft', 'tx', 'send', '--w'])).to.deep.equal(['--wait'])
    expect(bashComplete(script, ['pbft', 'status', '--output', ''])).to.deep.equal(['json', 'text'])
    expect(bashComplete(script, ['pbft', 'start', '--log.level', 'd'])).to.deep.equal(['debug'])
    expect(bashComplete(script, ['pbft', 'start', '--mempool.m'])).to.deep.equal([
      '--mempool.max_txs',
      '--mempool.max_bytes',
      '--mempool.max_nonce_ahead',
    ])
    expect(bashComplete(script, ['pbft', 'completion', ''])).to.deep.equal(['bash', 'zsh'])
  })

  it('the zsh script parses (when zsh is installed)', async function () {
    // `make test` installs zsh as root (Makefile test-deps); a non-root run without zsh skips this
    // syntax check, and the generated script is still covered by the bash and command-list tests.
    if (!hasShell('zsh')) this.skip()
    const script = (await runPbft(['completion', 'zsh'])).stdout
    await withTempDir(async (dir) => {
      writeFileSync(join(dir, '_pbft'), script)
      const check = spawnSync('zsh', ['-n', join(dir, '_pbft')], { encoding: 'utf8' })
      expect(check.stderr).to.equal('')
      expect(check.status).to.equal(0)
    })
  })
})
