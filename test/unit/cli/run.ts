import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CommandRegistrar, runCli } from '../../../src/cli/program.js'

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs the pbft CLI in-process, capturing what it writes. */
export async function runPbft(argv: string[], groups?: readonly CommandRegistrar[]): Promise<CliResult> {
  const out: string[] = []
  const err: string[] = []
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s) }, groups)
  return { code, stdout: out.join(''), stderr: err.join('') }
}

/** Asserts the error shape of docs/CLI.md "Exit status": exactly one `error: ...` line on stderr. */
export function oneErrorLine(result: CliResult): string {
  const lines = result.stderr.split('\n')
  if (result.code === 0) throw new Error(`expected a failure, got exit 0 (stdout: ${result.stdout})`)
  if (lines.length !== 2 || lines[1] !== '' || !lines[0]?.startsWith('error: ')) {
    throw new Error(`expected one "error: ..." line on stderr, got ${JSON.stringify(result.stderr)}`)
  }
  return lines[0]
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pbft-cli-'))
  try {
    return await fn(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
