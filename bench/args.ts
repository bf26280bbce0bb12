import { basename } from 'node:path'
import { type ParseArgsConfig, parseArgs } from 'node:util'

/**
 * `parseArgs` for the bench scripts: a wrong flag (unknown, missing its value, `--node-arg --x`
 * instead of `--node-arg=--x`) prints one line naming it and exits 2, instead of a stack trace.
 */
export function parseBenchArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config)
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS')) throw err
    const script = basename(process.argv[1] ?? 'bench')
    process.stderr.write(
      `${script}: ${(err as Error).message.split('\n').join(' ')} (--help lists the options)\n`,
    )
    process.exit(2)
  }
}
