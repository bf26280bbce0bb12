import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { resolve } from 'node:path'

/** A Byzantine peer program (./<program>.ts) as a child process; its JSON report lines are kept. */
export interface ByzEvent {
  event: string
  [field: string]: unknown
}

export class ByzantineProcess {
  readonly events: ByzEvent[] = []
  private child: ChildProcess | undefined
  private exited: Promise<void> | undefined

  constructor(
    readonly program: string,
    readonly home: string,
    readonly args: string[],
    readonly logPath: string,
  ) {}

  start(): void {
    const file = resolve('test/e2e/byzantine', `${this.program}.ts`)
    const child = spawn(process.execPath, ['--import', 'tsx', file, '--home', this.home, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const log = createWriteStream(this.logPath, { flags: 'a' })
    child.stderr?.pipe(log)
    let buffer = ''
    child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString()
      let nl = buffer.indexOf('\n')
      while (nl >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        log.write(`${line}\n`)
        try {
          this.events.push(JSON.parse(line) as ByzEvent)
        } catch {
          // not a report line
        }
        nl = buffer.indexOf('\n')
      }
    })
    // Safety net if the test process exits first; removed once the child is gone, so a long soak
    // starting many Byzantine processes does not pile up listeners.
    const killOnExit = () => child.kill('SIGKILL')
    process.once('exit', killOnExit)
    this.exited = new Promise((r) =>
      child.once('exit', () => {
        process.off('exit', killOnExit)
        r()
      }),
    )
    this.child = child
  }

  count(event: string): number {
    return this.events.filter((e) => e.event === event).length
  }

  last(event: string): ByzEvent | undefined {
    return this.events.filter((e) => e.event === event).at(-1)
  }

  /** Sends `signal` to the program (e.g. SIGUSR1: a program's cue to start misbehaving). */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal)
  }

  async stop(): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
    await this.exited
    clearTimeout(timer)
  }
}
