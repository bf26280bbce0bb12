/** Where a command writes: stdout lines for results, stderr for the one-line error. */
export interface CliIo {
  out(text: string): void
  err(text: string): void
}

export const processIo: CliIo = {
  out: (text) => {
    process.stdout.write(text)
  },
  err: (text) => {
    process.stderr.write(text)
  },
}

/** A user error a command reports as `error: <message>` with exit code 1. */
export class CliError extends Error {
  override name = 'CliError'
}

export interface CliContext {
  readonly io: CliIo
}
