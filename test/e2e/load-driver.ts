import { txHash } from '../../src/codec/chain.js'
import { signTx } from '../../src/codec/tx-sign.js'
import type { TxOp } from '../../src/codec/types.js'
import { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../src/crypto/hash.js'
import { waitFor } from '../helpers/wait.js'
import { History, type HistoryOp, type Outcome } from './history.js'

/**
 * Steady KV load over JSON-RPC that records every request in a History (./history.ts).
 *
 * Each client has its own key and signs sequential nonces; requests go round-robin over the live
 * nodes `rpcUrls()` returns at the time of each request. After a request that was not acknowledged
 * (failed, unknown, dropped) the client re-reads its nonce (`account.pending_nonce`) from the node it
 * talks to next, so one lost tx does not leave a nonce gap that stalls that client forever.
 * No two requests carry byte-identical txs, so a tx that was rejected once can never become final
 * under the same hash: a `set` carries a unique value (client, nonce, op id), and a `del` (which has
 * no value) that would repeat the bytes of an earlier request — the same client, nonce and key, sent
 * again after a refusal — is sent as a `set` instead.
 * Bounded: at most maxOps requests, each with a time limit, and stop() ends it.
 */

export interface LoadDriverOptions {
  chainId: string
  /** live nodes to send to, round-robin (called before each request) */
  rpcUrls: () => string[]
  /** signing clients, each sequential (default 4) */
  clients?: number
  /** total requests per second over all clients (default 20) */
  ratePerSec?: number
  /** PRNG seed for keys, ops and method choice (default 1) */
  seed?: number
  /** share of requests sent with broadcast_tx_commit instead of broadcast_tx_sync (default 0.25) */
  commitFraction?: number
  /** distinct KV keys written (default 16): small, so keys are overwritten and deleted often */
  keySpace?: number
  /** share of ops that delete a key (default 0.1) */
  delFraction?: number
  /** stop after this many requests in total (default 100_000) */
  maxOps?: number
  /** time limit of one request; commit waits use this minus a margin (default 15_000) */
  requestTimeoutMs?: number
}

/** JSON-RPC application codes (docs/RPC.md, src/rpc/errors.ts) that mean "definitely not admitted". */
const DEFINITE_REJECTIONS = new Set([
  -32602, // tx does not decode
  -32001, // invalid signature
  -32002, // nonce already used
  -32003, // nonce unavailable (too far ahead, or another tx holds it)
  -32004, // wrong chain
  -32005, // mempool full
  -32006, // too large
  -32011, // invalid
  -32012, // limit exceeded
])
const TIMEOUT_CODE = -32007
/** how often a client looks for a nonce gap left by an acknowledged tx that vanished (see clientLoop) */
const GAP_CHECK_MS = 3_000
const DROPPED_CODE = -32009

interface RpcAnswer<T> {
  result?: T
  error?: { code: number; message: string }
}

class RpcTransportError extends Error {
  override name = 'RpcTransportError'
}

async function call<T>(
  url: string,
  method: string,
  params: object,
  timeoutMs: number,
): Promise<RpcAnswer<T>> {
  let res: Response
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      signal: AbortSignal.timeout(timeoutMs),
    })
    return (await res.json()) as RpcAnswer<T>
  } catch (err) {
    throw new RpcTransportError(`${method} to ${url}: ${(err as Error).message}`)
  }
}

/** mulberry32: a small seeded PRNG, so a run's op sequence is reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The signing key of load client `client` under `seed` (the checker and tests can rebuild it). */
export function loadClientSigner(seed: number, client: number): Ed25519Signer {
  return new Ed25519Signer(sha256(new TextEncoder().encode(`load-driver-${seed}-${client}`)))
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export class LoadDriver {
  private readonly history = new History()
  private running = false
  private loops: Promise<void>[] = []
  private sent = 0
  private roundRobin = 0
  private seq = 0
  /** hashes of every tx sent, so none is sent twice (see request) */
  private readonly sentHashes = new Set<string>()
  /** per RPC URL: client loops that picked it and have not finished their request yet */
  private readonly busy = new Map<string, number>()
  private readonly random: () => number
  private readonly clients: number
  private readonly intervalMs: number
  private readonly maxOps: number
  private readonly requestTimeoutMs: number

  constructor(private readonly opts: LoadDriverOptions) {
    this.clients = opts.clients ?? 4
    this.random = prng(opts.seed ?? 1)
    this.intervalMs = (1000 * this.clients) / (opts.ratePerSec ?? 20)
    this.maxOps = opts.maxOps ?? 100_000
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15_000
  }

  /** Requests answered so far (a live view; the final History comes from stop()). */
  get ops(): readonly HistoryOp[] {
    return this.history.ops
  }

  /**
   * Requests to `url` not answered yet, counted from the moment a client picks the URL (before its
   * nonce read), so a node dropped from rpcUrls() gets no new ack once this reaches 0 (see drain).
   */
  inFlight(url: string): number {
    return this.busy.get(url) ?? 0
  }

  /** Records a crash in the history (see History.crash). */
  crash(node: string, at = Date.now()): void {
    this.history.crash(node, at)
  }

  start(): void {
    if (this.running) throw new Error('load driver already started')
    this.running = true
    for (let c = 0; c < this.clients; c++) this.loops.push(this.clientLoop(c))
  }

  /** Stops sending, waits for requests in flight, returns the history. */
  async stop(): Promise<History> {
    this.running = false
    await Promise.all(this.loops)
    this.loops = []
    return this.history
  }

  /** Resolves once `n` more ops acknowledged final or pending were recorded (for "under load" waits). */
  async waitForAcks(n: number, timeoutMs = 30_000): Promise<void> {
    const acked = () =>
      this.history.ops.filter((o) => o.outcome === 'final' || o.outcome === 'pending').length
    const target = acked() + n
    await waitFor(() => acked() >= target, {
      timeoutMs,
      intervalMs: 50,
      message: `${n} load driver acks`,
    }).catch((err: Error) => {
      throw new Error(`load driver: ${err.message} (${this.history.summaryLine()})`)
    })
  }

  private nextUrl(): string | undefined {
    const urls = this.opts.rpcUrls()
    if (urls.length === 0) return undefined
    return urls[this.roundRobin++ % urls.length]
  }

  private async readAccount(
    url: string,
    address: string,
  ): Promise<{ nonce: number; pending_nonce: number } | undefined> {
    try {
      return (await call<{ nonce: number; pending_nonce: number }>(url, 'account', { address }, 5_000)).result
    } catch {
      return undefined
    }
  }

  private async clientLoop(client: number): Promise<void> {
    const signer = loadClientSigner(this.opts.seed ?? 1, client)
    const address = toHex(signer.publicKey)
    let nonce: number | undefined
    let gapCheckAt = Date.now()
    let lastStateNonce = -1
    // Spread the clients' first requests over one interval rather than all at once.
    let nextAt = Date.now() + (this.intervalMs * client) / this.clients
    while (this.running && this.sent < this.maxOps) {
      const wait = nextAt - Date.now()
      // pacing, not a wait for a condition: the driver sends at its configured rate
      if (wait > 0) await sleep(wait)
      nextAt = Math.max(nextAt + this.intervalMs, Date.now())
      if (!this.running) break
      const url = this.nextUrl()
      if (url === undefined) continue
      this.busy.set(url, this.inFlight(url) + 1)
      try {
        if (nonce === undefined) {
          nonce = (await this.readAccount(url, address))?.pending_nonce
          if (nonce === undefined) continue
        } else if (Date.now() - gapCheckAt > GAP_CHECK_MS) {
          // An acknowledged tx can still vanish: dropped by its node (TTL, stale nonce) or lost with
          // a wiped data dir (the mempool journal survives a crash, not a wipe). Our later nonces
          // would wait behind it forever: as a wallet would, re-sign from the first missing nonce
          // once the state nonce has not moved for a while.
          gapCheckAt = Date.now()
          const acct = await this.readAccount(url, address)
          if (acct !== undefined) {
            if (acct.nonce === lastStateNonce && acct.pending_nonce < nonce) nonce = acct.pending_nonce
            lastStateNonce = acct.nonce
          }
        }
        this.sent++
        const outcome = await this.request(client, signer, nonce, url)
        if (outcome === 'final' || outcome === 'pending') nonce++
        else nonce = undefined
      } finally {
        this.busy.set(url, this.inFlight(url) - 1)
      }
    }
  }

  private async request(client: number, signer: Ed25519Signer, nonce: number, url: string): Promise<Outcome> {
    const id = this.seq++
    const key = `k${Math.floor(this.random() * (this.opts.keySpace ?? 16))}`
    const wantsDel = this.random() < (this.opts.delFraction ?? 0.1)
    const value = `c${client}-n${nonce}-r${id}-${Math.floor(this.random() * 1e9)}`
    const sign = (op: TxOp) => signTx(signer, { chainId: this.opts.chainId, nonce, op })
    let op: TxOp = wantsDel ? { type: 'del', key } : { type: 'set', key, value }
    let bytes = sign(op)
    // A del has no unique value: the same (client, nonce, key) would be the very tx an earlier
    // request sent, and the checker could not tell the two requests' outcomes apart.
    let hash = toHex(txHash(bytes))
    if (this.sentHashes.has(hash)) {
      op = { type: 'set', key, value }
      bytes = sign(op)
      hash = toHex(txHash(bytes))
    }
    const tx = toHex(bytes)
    this.sentHashes.add(hash)
    const commit = this.random() < (this.opts.commitFraction ?? 0.25)
    const method = commit ? 'broadcast_tx_commit' : 'broadcast_tx_sync'
    const start = Date.now()
    const base = {
      client,
      hash,
      tx,
      op: op.type,
      key,
      value: op.type === 'set' ? op.value : '',
      nonce,
      node: url,
      method,
      start,
    } as const
    let answer: RpcAnswer<{ status?: string; height?: number; index?: number }>
    try {
      const params = commit ? { tx, timeout_ms: Math.max(1000, this.requestTimeoutMs - 2000) } : { tx }
      answer = await call(url, method, params, this.requestTimeoutMs)
    } catch (err) {
      this.history.add({ ...base, end: Date.now(), outcome: 'unknown', error: (err as Error).message })
      return 'unknown'
    }
    const end = Date.now()
    if (answer.error !== undefined) {
      const { code, message } = answer.error
      const outcome: Outcome = DEFINITE_REJECTIONS.has(code)
        ? 'failed'
        : code === DROPPED_CODE
          ? 'dropped'
          : // a commit that timed out was admitted first: it is acknowledged in the mempool
            code === TIMEOUT_CODE
            ? 'pending'
            : 'unknown'
      this.history.add({ ...base, end, outcome, error: message, errorCode: code })
      return outcome
    }
    const r = answer.result
    if (commit && r?.height !== undefined) {
      this.history.add({ ...base, end, outcome: 'final', height: r.height, index: r.index })
      return 'final'
    }
    // broadcast_tx_sync: the tx's status at the node ('pending' normally; a resubmission may say more)
    const outcome: Outcome = r?.status === 'final' ? 'final' : r?.status === 'dropped' ? 'dropped' : 'pending'
    this.history.add({ ...base, end, outcome })
    return outcome
  }
}
