import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { hashTx, txSignBytes } from '../codec/chain.js'
import type { SignedTx } from '../codec/types.js'

/** One Ed25519 check: exactly what verifySignature(publicKey, message, signature) would be asked. */
export interface SignatureCheck {
  readonly publicKey: Uint8Array
  readonly message: Uint8Array
  readonly signature: Uint8Array
}

/**
 * The worker: node:crypto verify with cached KeyObjects, like src/crypto/ed25519.ts. Inline (eval)
 * so the same code runs from dist/ and under tsx; it needs nothing but node:crypto.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createPublicKey, verify } = require('node:crypto')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const keys = new Map()
function keyOf(pk) {
  const id = Buffer.from(pk).toString('hex')
  let key = keys.get(id)
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pk]), format: 'der', type: 'spki' })
    if (keys.size >= 10000) keys.clear()
    keys.set(id, key)
  }
  return key
}
parentPort.on('message', ({ id, checks }) => {
  const ok = new Uint8Array(checks.length)
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i]
    try {
      ok[i] = c.publicKey.length === 32 && c.signature.length === 64 && verify(null, c.message, keyOf(c.publicKey), c.signature) ? 1 : 0
    } catch {
      ok[i] = 0
    }
  }
  parentPort.postMessage({ id, ok }, [ok.buffer])
})
`

interface Job {
  resolve(ok: Uint8Array): void
  reject(err: Error): void
}

/** A verify() call waiting for the next flush: its checks and where its answers go. */
interface Request {
  readonly checks: readonly SignatureCheck[]
  resolve(ok: boolean[]): void
  reject(err: Error): void
}

export class SignaturePoolClosedError extends Error {
  override name = 'SignaturePoolClosedError'
}

/** Fewer checks than this in one worker message are not split further (a message costs ~a verify). */
const MIN_CHECKS_PER_MESSAGE = 32

/**
 * Ed25519 verification on worker threads, so a catching-up node verifies the txs of the blocks it
 * fetched ahead on the other cores while its main thread applies the current one. Workers start
 * on first use and are let go after `idleMs` without work (catch-up is occasional, and each idle
 * worker holds ~20 MB of RSS: its own V8 heap and runtime; docs/PERFORMANCE.md "Memory"); the next
 * use starts them again. close() terminates them and fails what is still pending. A worker that
 * dies fails its jobs (the caller then verifies on the main thread as before).
 *
 * Calls made in one turn of the event loop are sent together (block sync asks for a whole range's
 * certificates and txs at once): their checks are concatenated and split into one message per
 * worker, so a range costs a few messages instead of two per block, and all workers share it.
 */
export class SignaturePool {
  private workers: Worker[] = []
  private readonly jobs = new Map<number, Job>()
  private waiting: Request[] = []
  private flushScheduled = false
  private nextId = 0
  private nextWorker = 0
  private closed = false
  private idleTimer: NodeJS.Timeout | undefined
  /** worker messages sent (tests, and the docs' figures) */
  messages = 0
  /** times the workers were let go for being idle (tests) */
  retirements = 0

  constructor(
    readonly size = Math.max(1, Math.min(4, availableParallelism())),
    /** workers with nothing to do for this long are terminated (started again on the next use) */
    readonly idleMs = 30_000,
  ) {}

  /** Workers running now (0 before the first use and after an idle spell). */
  get workerCount(): number {
    return this.workers.length
  }

  /** One boolean per check, in order. */
  verify(checks: readonly SignatureCheck[]): Promise<boolean[]> {
    if (this.closed) return Promise.reject(new SignaturePoolClosedError('the signature pool is closed'))
    if (checks.length === 0) return Promise.resolve([])
    return new Promise((resolve, reject) => {
      this.waiting.push({ checks, resolve, reject })
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(() => this.flush())
      }
    })
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.idleTimer)
    const workers = this.workers
    this.workers = []
    this.failAll(new SignaturePoolClosedError('the signature pool is closed'))
    await Promise.all(workers.map((w) => w.terminate()))
  }

  /** Sends what waits: all checks in order, cut into one message per worker (at least MIN each). */
  private flush(): void {
    this.flushScheduled = false
    const requests = this.waiting
    this.waiting = []
    if (requests.length === 0) return
    if (this.closed) {
      for (const r of requests) r.reject(new SignaturePoolClosedError('the signature pool is closed'))
      return
    }
    clearTimeout(this.idleTimer)
    if (this.workers.length === 0) this.workers = Array.from({ length: this.size }, () => this.spawn())
    const all = requests.length === 1 ? (requests[0] as Request).checks : requests.flatMap((r) => r.checks)
    const parts = Math.max(1, Math.min(this.workers.length, Math.floor(all.length / MIN_CHECKS_PER_MESSAGE)))
    const per = Math.ceil(all.length / parts)
    const answers: Promise<Uint8Array>[] = []
    for (let from = 0; from < all.length; from += per) answers.push(this.send(all.slice(from, from + per)))
    Promise.all(answers).then(
      (chunks) => {
        const ok: boolean[] = []
        for (const chunk of chunks) for (const b of chunk) ok.push(b === 1)
        let at = 0
        for (const r of requests) {
          r.resolve(ok.slice(at, at + r.checks.length))
          at += r.checks.length
        }
      },
      (err: Error) => {
        for (const r of requests) r.reject(err)
      },
    )
  }

  private send(checks: readonly SignatureCheck[]): Promise<Uint8Array> {
    const worker = this.workers[this.nextWorker++ % this.workers.length] as Worker
    const id = this.nextId++
    this.messages++
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject })
      worker.postMessage({ id, checks })
    })
  }

  /** After the last answer: let the workers go once `idleMs` pass with nothing sent or waiting. */
  private armIdle(): void {
    if (this.busyOrClosed()) return
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => this.retire(), this.idleMs)
    this.idleTimer.unref()
  }

  /** Work sent, waiting or about to be flushed, or the pool closed: no time to let workers go. */
  private busyOrClosed(): boolean {
    return this.jobs.size > 0 || this.waiting.length > 0 || this.flushScheduled || this.closed
  }

  private retire(): void {
    if (this.busyOrClosed()) return
    const workers = this.workers
    if (workers.length === 0) return
    // out of the list first: their 'exit' is then expected, not a failure (spawn's handler)
    this.workers = []
    this.retirements++
    for (const w of workers) void w.terminate()
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true })
    worker.unref()
    worker.on('message', ({ id, ok }: { id: number; ok: Uint8Array }) => {
      const job = this.jobs.get(id)
      if (job === undefined) return
      this.jobs.delete(id)
      job.resolve(ok)
      this.armIdle()
    })
    const fail = (err: Error): void => {
      // closed, or let go for being idle (retire): nothing of it was pending
      if (this.closed || !this.workers.includes(worker)) return
      // Which jobs were this worker's is not tracked: fail them all; callers fall back.
      this.workers = this.workers.filter((w) => w !== worker)
      this.failAll(err)
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`signature worker exited with code ${code}`)))
    return worker
  }

  private failAll(err: Error): void {
    for (const job of this.jobs.values()) job.reject(err)
    this.jobs.clear()
    const waiting = this.waiting
    this.waiting = []
    for (const r of waiting) r.reject(err)
  }
}

/** Where verified tx hashes are recorded (the app's SignatureCache). */
interface VerifiedTxs {
  has(hash: Uint8Array): boolean
  add(hash: Uint8Array): void
}

/**
 * Verifies the signatures of `txs` on the pool and records the valid ones in `cache`, so the app's
 * execute() finds them checked. The check is exactly the app's (KvApp.signatureValid): the sender's
 * key over the tx's sign bytes (txSignBytes, as the app), recorded under the hash of the raw bytes. Malformed and
 * invalid txs are left out (the app rejects them itself); nothing here decides validity.
 */
export async function preverifyTxs(
  pool: SignaturePool,
  cache: VerifiedTxs,
  txs: readonly Uint8Array[],
): Promise<void> {
  const checks: SignatureCheck[] = []
  const hashes: Uint8Array[] = []
  for (const raw of txs) {
    // hashTx remembers the hash and decoding, so the block's validation and execution reuse them
    const hashed = hashTx(raw)
    const hash = hashed.hash
    if (cache.has(hash)) continue
    let tx: SignedTx
    try {
      tx = hashed.decoded()
    } catch {
      continue
    }
    // txSignBytes (a view of the encoding, equal to encodeTxBody(tx): the codec is canonical) copied,
    // so a worker message never carries the whole buffer the tx may be a view of
    checks.push({ publicKey: tx.from, message: txSignBytes(raw).slice(), signature: tx.signature })
    hashes.push(hash)
  }
  const ok = await pool.verify(checks)
  ok.forEach((good, i) => {
    if (good) cache.add(hashes[i] as Uint8Array)
  })
}
