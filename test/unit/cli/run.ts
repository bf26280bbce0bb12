import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CommandRegistrar, runCli } from '../../../src/cli/program.js'

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs the pbft CLI in-process, capturing what it writes (stdout is not a terminal, as in a pipe). */
export async function runPbft(
  argv: string[],
  groups?: readonly CommandRegistrar[],
  opts: { isTTY?: boolean } = {},
): Promise<CliResult> {
  const out: string[] = []
  const err: string[] = []
  const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s), isTTY: opts.isTTY === true }
  const code = await runCli(argv, io, groups)
  return { code, stdout: out.join(''), stderr: err.join('') }
}

/** Runs fn with these environment variables set (or, for undefined, unset), then restores them. */
export async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
  apply(vars)
  try {
    return await fn()
  } finally {
    apply(saved)
  }
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
