/** Where a command writes: stdout lines for results, stderr for the one-line error. */
export interface CliIo {
  out(text: string): void
  err(text: string): void
  /** stdout is a terminal: read commands then print text for people rather than JSON (docs/CLI.md "Output") */
  readonly isTTY?: boolean
}

export const processIo: CliIo = {
  out: (text) => {
    process.stdout.write(text)
  },
  err: (text) => {
    process.stderr.write(text)
  },
  get isTTY() {
    return process.stdout.isTTY === true
  },
}

export interface CliContext {
  readonly io: CliIo
}
