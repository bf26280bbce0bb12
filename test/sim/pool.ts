import { type ChildProcess, fork } from 'node:child_process'
import { availableParallelism, setPriority } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { SeedRange } from './range.js'

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'pool-worker.ts')

/** Seeds per job: small enough that the workers finish together, large enough that IPC is noise. */
const CHUNK = 5

interface Pending {
  range: SeedRange
  resolve: (failed: string[]) => void
  reject: (err: Error) => void
}

/**
 * Runs simulator seed ranges in worker processes, one per core (env PBFT_SIM_JOBS overrides), so the
 * fast slice uses every core while mocha waits. Each range is cut into chunks of CHUNK seeds served
 * first come, first served; a range's answer is its failing seeds in seed order. Results do not depend
 * on the number of workers: each seed is a deterministic function of its configuration.
 */
export class SimPool {
  private readonly size: number
  private readonly workers: ChildProcess[] = []
  private readonly idle: ChildProcess[] = []
  private readonly queue: { id: number; range: SeedRange }[] = []
  private readonly inFlight = new Map<number, { pending: Pending; worker: ChildProcess }>()
  private readonly pendingById = new Map<number, Pending>()
  private nextId = 0
  private closed = false

  /**
   * @param size worker processes
   * @param niceness the workers' scheduling priority (0 normal .. 19 lowest): at 19 they only take
   *   CPU that nothing else wants, so a suite can run them beside timing-sensitive tests
   */
  constructor(
    size = Number(process.env.PBFT_SIM_JOBS ?? availableParallelism()),
    private readonly niceness = 0,
  ) {
    this.size = Number.isInteger(size) && size >= 1 ? size : 1
  }

  /** The failing seeds' lines of the range (empty when every seed passes). */
  async run(range: SeedRange): Promise<string[]> {
    const parts: Promise<string[]>[] = []
    for (let from = range.from; from <= range.to; from += CHUNK) {
      const part = { ...range, from, to: Math.min(range.to, from + CHUNK - 1) }
      parts.push(new Promise((resolve, reject) => this.enqueue({ range: part, resolve, reject })))
    }
    return (await Promise.all(parts)).flat()
  }

  /** Stops the workers; jobs not yet answered fail. */
  close(): void {
    this.closed = true
    for (const w of this.workers) if (w.connected) w.disconnect()
    for (const { pending } of this.inFlight.values()) pending.reject(new Error('sim pool closed'))
    this.inFlight.clear()
  }

  private enqueue(pending: Pending): void {
    if (this.closed) {
      pending.reject(new Error('sim pool closed'))
      return
    }
    const id = this.nextId++
    this.queue.push({ id, range: pending.range })
    this.pendingById.set(id, pending)
    if (this.workers.length < this.size) this.spawn()
    this.dispatch()
  }

  private spawn(): void {
    const worker = fork(WORKER, [], {
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    if (this.niceness !== 0 && worker.pid !== undefined) setPriority(worker.pid, this.niceness)
    this.workers.push(worker)
    this.idle.push(worker)
    worker.on('message', (msg: { id: number; failed: string[] }) => {
      const job = this.inFlight.get(msg.id)
      if (job === undefined) return
      this.inFlight.delete(msg.id)
      job.pending.resolve(msg.failed)
      this.idle.push(worker)
      this.dispatch()
    })
    worker.on('exit', (code, signal) => {
      for (const [id, job] of this.inFlight) {
        if (job.worker !== worker) continue
        this.inFlight.delete(id)
        job.pending.reject(
          new Error(
            `sim worker exited (${signal ?? code}) while running seeds ${job.pending.range.from}..${job.pending.range.to}`,
          ),
        )
      }
    })
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.shift() as ChildProcess
      const job = this.queue.shift() as { id: number; range: SeedRange }
      const pending = this.pendingById.get(job.id) as Pending
      this.pendingById.delete(job.id)
      this.inFlight.set(job.id, { pending, worker })
      worker.send(job)
    }
  }
}
