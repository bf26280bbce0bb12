/**
 * The load process of `make bench` (a separate process, so its CPU and event loop are not the
 * nodes'). Pre-signs txs from many seeded client keys, submits them as JSON-RPC batches of
 * broadcast_tx_sync spread over every node, and timestamps finality from a WebSocket NewBlock
 * subscription. Usage: node --import tsx bench/load.ts CONFIG.json (see LoadConfig).
 * Progress goes to stdout; `@@steady-start` / `@@steady-end` lines mark the measured window
 * for run.ts (which samples the nodes' CPU then).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { signTx } from '../src/codec/tx-sign.js'
import { Ed25519Signer } from '../src/crypto/ed25519.js'
import { sha256 } from '../src/crypto/hash.js'
import { type BlockPoint, type LoadConfig, type LoadResult, type SeriesPoint, summarize } from './types.js'

const MEMPOOL_FULL = -32005

class LoadError extends Error {
  override name = 'LoadError'
}

interface RpcReply {
  readonly id: number
  readonly result?: unknown
  readonly error?: { readonly code: number; readonly message: string }
}

/** Signed txs by index i: client i % K, nonce floor(i / K); each node's queue holds its clients' txs in order. */
class TxPool {
  readonly hex: string[] = []
  readonly indexByHex = new Map<string, number>()
  readonly queues: number[][]
  readonly heads: number[]
  private readonly signers: Ed25519Signer[] = []
  signMs = 0

  constructor(private readonly cfg: LoadConfig) {
    for (let c = 0; c < cfg.clients; c++) {
      this.signers.push(new Ed25519Signer(sha256(new TextEncoder().encode(`${cfg.seed}-client-${c}`))))
    }
    this.queues = cfg.rpcUrls.map(() => [])
    this.heads = cfg.rpcUrls.map(() => 0)
  }

  grow(count: number): void {
    const started = performance.now()
    const { clients, chainId } = this.cfg
    const end = this.hex.length + count
    for (let i = this.hex.length; i < end; i++) {
      const client = i % clients
      const nonce = Math.floor(i / clients)
      const signer = this.signers[client] as Ed25519Signer
      // A few keys per client: the state grows a little, as a real KV workload's would.
      const op = { type: 'set' as const, key: `bench/${client}/${nonce % 4}`, value: `v${nonce}-${i}` }
      const hex = `0x${Buffer.from(signTx(signer, { chainId, nonce, op })).toString('hex')}`
      this.hex.push(hex)
      this.indexByHex.set(hex, i)
      ;(this.queues[client % this.queues.length] as number[]).push(i)
    }
    this.signMs += performance.now() - started
  }

  available(node: number): number {
    return (this.queues[node] as number[]).length - (this.heads[node] as number)
  }

  take(node: number, n: number): number[] {
    const q = this.queues[node] as number[]
    const head = this.heads[node] as number
    const out = q.slice(head, head + n)
    this.heads[node] = head + out.length
    return out
  }

  /** A rejected-for-now batch goes back to the front of its queue, order kept (no nonce gaps). */
  putBack(node: number, indexes: readonly number[]): void {
    const q = this.queues[node] as number[]
    const head = (this.heads[node] as number) - indexes.length
    for (let k = 0; k < indexes.length; k++) q[head + k] = indexes[k] as number
    this.heads[node] = head
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

function postJson(agent: Agent, url: URL, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: '/',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          if (res.statusCode !== 200) reject(new LoadError(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`))
          else resolve(text)
        })
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new LoadError('request timed out')))
    req.on('error', reject)
    req.end(body)
  })
}

async function main(): Promise<void> {
  const path = process.argv[2]
  if (path === undefined) throw new LoadError('usage: load.ts CONFIG.json')
  const cfg = JSON.parse(readFileSync(path, 'utf8')) as LoadConfig
  const pool = new TxPool(cfg)
  pool.grow(cfg.poolTxs)
  const pregenMs = pool.signMs
  console.log(
    `load: ${cfg.poolTxs} txs from ${cfg.clients} clients pre-signed in ${(pregenMs / 1000).toFixed(1)} s`,
  )

  // Per tx index: when its request was sent (ms, performance clock) and whether it is final.
  let sentTimes = new Float64Array(Math.max(16, cfg.poolTxs)).fill(Number.NaN)
  let finalFlags = new Uint8Array(Math.max(16, cfg.poolTxs))
  const sentTime = (i: number): number => sentTimes[i] ?? Number.NaN
  const setSent = (i: number, t: number): void => {
    if (i >= sentTimes.length) {
      const bigger = new Float64Array(Math.max(i + 1, sentTimes.length * 2)).fill(Number.NaN)
      bigger.set(sentTimes)
      sentTimes = bigger
    }
    sentTimes[i] = t
  }
  const isFinal = (i: number): boolean => i < finalFlags.length && finalFlags[i] === 1
  const markFinal = (i: number): void => {
    if (i >= finalFlags.length) {
      const bigger = new Uint8Array(Math.max(i + 1, finalFlags.length * 2))
      bigger.set(finalFlags)
      finalFlags = bigger
    }
    finalFlags[i] = 1
  }

  // ---- finality: NewBlock over WebSocket
  const ws = new WebSocket(cfg.wsUrl)
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  let t0 = Number.NaN
  const target = cfg.stopAfterFinalized ?? 0
  /** ends the load early once `target` txs are final (set while the load runs) */
  let stopAtTarget: (() => void) | undefined
  const seconds = Math.ceil(cfg.durationSec + cfg.drainSec) + 2
  const finalPerSec = new Array<number>(seconds).fill(0)
  const blocksPerSec = new Array<number>(seconds).fill(0)
  const submittedPerSec = new Array<number>(seconds).fill(0)
  const latencyBySec: number[][] = Array.from({ length: seconds }, () => [])
  const steadyLatencies: number[] = []
  let steadyFinal = 0
  let steadyBlocks = 0
  let steadyBlockTxs = 0
  /** (arrival time, our txs) of each block in the steady window, for the between-blocks rate */
  const steadyArrivals: { t: number; ours: number }[] = []
  let finalCount = 0
  let firstHeight: number | null = null
  let lastHeight: number | null = null
  /** workers waiting for room in the window; every NewBlock wakes them all */
  let waiters: (() => void)[] = []
  const blocks: BlockPoint[] = []
  const secOf = (t: number): number => Math.min(seconds - 1, Math.max(0, Math.floor((t - t0) / 1000)))
  const inSteady = (t: number): boolean => {
    const rel = (t - t0) / 1000
    return rel >= cfg.warmupSec && rel < cfg.durationSec && stopAtTarget !== undefined
  }

  ws.on('message', (raw: WebSocket.RawData) => {
    const now = performance.now()
    // a NewBlock event: a response with the subscribe's id 1 (docs/RPC.md "WebSocket subscriptions")
    const msg = JSON.parse(raw.toString()) as {
      id?: number
      result?: { data?: { type: string; value: { header: { height: number }; txs: string[] } } }
    }
    const data = msg.id === 1 ? msg.result?.data : undefined
    if (data?.type !== 'NewBlock' || Number.isNaN(t0)) return
    const { header, txs } = data.value
    firstHeight ??= header.height
    lastHeight = header.height
    const sec = secOf(now)
    const steady = inSteady(now)
    blocksPerSec[sec] = (blocksPerSec[sec] as number) + 1
    let ours = 0
    const blockLatencies: number[] = []
    for (const hex of txs) {
      const i = pool.indexByHex.get(hex)
      if (i === undefined || isFinal(i)) continue
      markFinal(i)
      // A final tx is never sent again: let its text go (a long run would hold every tx otherwise).
      pool.indexByHex.delete(hex)
      pool.hex[i] = ''
      ours++
      const latency = now - sentTime(i)
      blockLatencies.push(latency)
      ;(latencyBySec[sec] as number[]).push(latency)
      if (steady) steadyLatencies.push(latency)
    }
    const lat = summarize(blockLatencies)
    blocks.push({
      t: (now - t0) / 1000,
      height: header.height,
      txs: txs.length,
      p50: lat.count === 0 ? null : lat.p50,
      p99: lat.count === 0 ? null : lat.p99,
    })
    finalCount += ours
    finalPerSec[sec] = (finalPerSec[sec] as number) + ours
    if (steady) {
      steadyFinal += ours
      steadyBlocks++
      steadyBlockTxs += txs.length
      steadyArrivals.push({ t: now, ours })
    }
    const woken = waiters
    waiters = []
    for (const w of woken) w()
    if (target > 0 && finalCount >= target && stopAtTarget !== undefined) stopAtTarget()
  })
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'subscribe', params: { event: 'NewBlock' } }))
  await new Promise<void>((resolve, reject) => {
    const onMsg = (raw: WebSocket.RawData): void => {
      const m = JSON.parse(raw.toString()) as { id?: number; error?: { message: string } }
      if (m.id !== 1) return
      ws.off('message', onMsg)
      if (m.error !== undefined) reject(new LoadError(`subscribe failed: ${m.error.message}`))
      else resolve()
    }
    ws.on('message', onMsg)
  })

  // ---- submission
  const urls = cfg.rpcUrls.map((u) => new URL(u))
  const agents = urls.map(() => new Agent({ keepAlive: true, maxSockets: cfg.concurrency }))
  let running = true
  let submitted = 0
  let accepted = 0
  let inFlight = 0 // txs in requests not yet answered, or accepted and not yet final
  let httpErrors = 0
  let signedDuringRun = 0
  const rejected: Record<string, number> = {}
  const outstanding = (): number => inFlight + accepted - finalCount

  /** How many txs this worker may send now: the window and (open loop) the offered rate. */
  const budget = (now: number): number => {
    let n = Math.min(cfg.batch, cfg.window - outstanding())
    if (cfg.rate > 0) n = Math.min(n, Math.floor((cfg.rate * (now - t0)) / 1000) - submitted)
    return n
  }

  const worker = async (node: number): Promise<void> => {
    const url = urls[node] as URL
    const agent = agents[node] as Agent
    while (running) {
      const now = performance.now()
      const n = budget(now)
      if (n <= 0) {
        if (cfg.rate > 0 && outstanding() + cfg.batch <= cfg.window) await sleep(2)
        else await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(50)])
        continue
      }
      if (pool.available(node) < n) {
        pool.grow(Math.max(2_000, n * cfg.rpcUrls.length))
        signedDuringRun += Math.max(2_000, n * cfg.rpcUrls.length)
      }
      const batch = pool.take(node, n)
      const parts: string[] = []
      for (const i of batch) {
        setSent(i, now)
        parts.push(
          `{"jsonrpc":"2.0","id":${i},"method":"broadcast_tx_sync","params":{"tx":"${pool.hex[i]}"}}`,
        )
      }
      submitted += batch.length
      inFlight += batch.length
      const sec = secOf(now)
      submittedPerSec[sec] = (submittedPerSec[sec] as number) + batch.length
      let replies: RpcReply[]
      try {
        replies = JSON.parse(await postJson(agent, url, `[${parts.join(',')}]`)) as RpcReply[]
      } catch (err) {
        inFlight -= batch.length
        submitted -= batch.length
        httpErrors++
        if (httpErrors <= 5) console.log(`load: request to ${url.host} failed: ${String(err)}`)
        pool.putBack(node, batch)
        await sleep(100)
        continue
      }
      inFlight -= batch.length
      const retry: number[] = []
      for (const r of replies) {
        if (r.error === undefined) {
          accepted++
          continue
        }
        const code = String(r.error.code)
        rejected[code] = (rejected[code] ?? 0) + 1
        if (r.error.code === MEMPOOL_FULL) retry.push(r.id)
      }
      if (retry.length > 0) {
        retry.sort((a, b) => a - b)
        submitted -= retry.length
        pool.putBack(node, retry)
        await sleep(20)
      }
    }
  }

  t0 = performance.now()
  console.log('@@load-start')
  const progress = setInterval(() => {
    const el = (performance.now() - t0) / 1000
    console.log(
      `load: t=${el.toFixed(0)}s submitted=${submitted} accepted=${accepted} final=${finalCount} ` +
        `outstanding=${outstanding()} height=${lastHeight ?? '-'}`,
    )
  }, 5_000)
  const markers = [setTimeout(() => console.log('@@steady-start'), cfg.warmupSec * 1000)]
  const workers: Promise<void>[] = []
  for (let node = 0; node < urls.length; node++) {
    for (let k = 0; k < cfg.concurrency; k++) workers.push(worker(node))
  }
  let endTimer: NodeJS.Timeout | undefined
  await new Promise<void>((resolve) => {
    endTimer = setTimeout(resolve, cfg.durationSec * 1000)
    stopAtTarget = resolve
  })
  clearTimeout(endTimer)
  stopAtTarget = undefined
  const loadSec = Math.min(cfg.durationSec, (performance.now() - t0) / 1000)
  if (loadSec < cfg.durationSec)
    console.log(`load: ${finalCount} txs final after ${loadSec.toFixed(0)} s, stopping`)
  console.log('@@steady-end')
  running = false
  await Promise.all(workers)
  const drainDeadline = performance.now() + cfg.drainSec * 1000
  while (outstanding() > 0 && performance.now() < drainDeadline) await sleep(50)
  clearInterval(progress)
  for (const m of markers) clearTimeout(m)
  ws.close()
  for (const a of agents) a.destroy()

  const steadySec = Math.max(1e-3, loadSec - cfg.warmupSec)
  // Blocks are big, so a count over a window is quantized (± one block); the rate between the
  // first and last block of the window is not (but ignores a stall after the last block).
  const firstArrival = steadyArrivals[0]
  const lastArrival = steadyArrivals[steadyArrivals.length - 1]
  const betweenBlocks =
    firstArrival !== undefined && lastArrival !== undefined && lastArrival.t > firstArrival.t
      ? (steadyArrivals.slice(1).reduce((n, a) => n + a.ours, 0) * 1000) / (lastArrival.t - firstArrival.t)
      : null
  const series: SeriesPoint[] = []
  const last = Math.min(seconds, Math.ceil((performance.now() - t0) / 1000))
  for (let s = 0; s < last; s++) {
    const lat = summarize(latencyBySec[s] as number[])
    series.push({
      t: s,
      submitted: submittedPerSec[s] as number,
      finalized: finalPerSec[s] as number,
      blocks: blocksPerSec[s] as number,
      p50: lat.count === 0 ? null : lat.p50,
      p99: lat.count === 0 ? null : lat.p99,
    })
  }
  const cpu = process.cpuUsage()
  const result: LoadResult = {
    steady: {
      fromSec: cfg.warmupSec,
      toSec: cfg.warmupSec + steadySec,
      finalizedTxs: steadyFinal,
      txPerSec: steadyFinal / steadySec,
      txPerSecBetweenBlocks: betweenBlocks,
      blocks: steadyBlocks,
      blocksPerSec: steadyBlocks / steadySec,
      meanTxsPerBlock: steadyBlocks === 0 ? 0 : steadyBlockTxs / steadyBlocks,
      latencyMs: summarize(steadyLatencies),
    },
    totals: {
      generated: pool.hex.length,
      signedDuringRun,
      submitted,
      accepted,
      rejected,
      httpErrors,
      finalized: finalCount,
      outstandingAtEnd: outstanding(),
      firstHeight,
      lastHeight,
    },
    series,
    blocks,
    loadProcess: {
      cpuUserSec: cpu.user / 1e6,
      cpuSystemSec: cpu.system / 1e6,
      signSec: pool.signMs / 1000,
    },
  }
  writeFileSync(cfg.out, JSON.stringify(result))
  console.log('@@load-done')
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`load failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    process.exit(1)
  },
)
