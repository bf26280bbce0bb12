import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { decodeTx, encodeTxBody, txHash } from '../codec/chain.js'
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
  resolve(ok: boolean[]): void
  reject(err: Error): void
}

export class SignaturePoolClosedError extends Error {
  override name = 'SignaturePoolClosedError'
}

/**
 * Ed25519 verification on worker threads, so a catching-up node verifies the txs of the blocks it
 * fetched ahead on the other cores while its main thread applies the current one. Workers start
 * on first use; close() terminates them and fails what is still pending. A worker that dies fails
 * its jobs (the caller then verifies on the main thread as before).
 */
export class SignaturePool {
  private workers: Worker[] = []
  private readonly jobs = new Map<number, Job>()
  private nextId = 0
  private nextWorker = 0
  private closed = false

  constructor(readonly size = Math.max(1, Math.min(4, availableParallelism()))) {}

  /** One boolean per check, in order. */
  verify(checks: readonly SignatureCheck[]): Promise<boolean[]> {
    if (this.closed) return Promise.reject(new SignaturePoolClosedError('the signature pool is closed'))
    if (checks.length === 0) return Promise.resolve([])
    if (this.workers.length === 0) this.workers = Array.from({ length: this.size }, () => this.spawn())
    const worker = this.workers[this.nextWorker++ % this.workers.length] as Worker
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject })
      worker.postMessage({ id, checks })
    })
  }

  async close(): Promise<void> {
    this.closed = true
    const workers = this.workers
    this.workers = []
    this.failAll(new SignaturePoolClosedError('the signature pool is closed'))
    await Promise.all(workers.map((w) => w.terminate()))
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true })
    worker.unref()
    worker.on('message', ({ id, ok }: { id: number; ok: Uint8Array }) => {
      const job = this.jobs.get(id)
      if (job === undefined) return
      this.jobs.delete(id)
      job.resolve(Array.from(ok, (b) => b === 1))
    })
    const fail = (err: Error): void => {
      if (this.closed) return
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
 * key over encodeTxBody of the decoded tx, recorded under the hash of the raw bytes. Malformed and
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
    const hash = txHash(raw)
    if (cache.has(hash)) continue
    let tx: SignedTx
    try {
      tx = decodeTx(raw)
    } catch {
      continue
    }
    checks.push({ publicKey: tx.from, message: encodeTxBody(tx), signature: tx.signature })
    hashes.push(hash)
  }
  const ok = await pool.verify(checks)
  ok.forEach((good, i) => {
    if (good) cache.add(hashes[i] as Uint8Array)
  })
}
