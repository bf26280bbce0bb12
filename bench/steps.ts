/**
 * The steps `make bench` (run.ts) and `make bench-scale` (scale.ts) share: wait until a fresh
 * cluster finalizes, run the load process and sample the nodes at its steady-window markers, and
 * check that the nodes agree on the way out.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { signTx } from '../src/codec/tx-sign.js'
import { Ed25519Signer } from '../src/crypto/ed25519.js'
import { sha256, toHex } from '../src/crypto/hash.js'
import { rpc, type StatusResult } from '../test/e2e/harness.js'
import { waitFor, waitForValue } from '../test/helpers/wait.js'
import { type BenchNode, children, cpuSeconds, runQueueWaitSeconds } from './cluster.js'

export class BenchError extends Error {
  override name = 'BenchError'
}

/** One tx through broadcast_tx_commit: the network forms a mesh and finalizes before the clock starts. */
export async function waitUntilLive(
  nodes: readonly BenchNode[],
  opts: { chainId: string; seed: string },
): Promise<void> {
  await waitFor(
    async () => {
      const statuses = await Promise.all(nodes.map((n) => rpc<StatusResult>(n.rpcUrl, 'status')))
      return statuses.every((s) => s.n_peers >= nodes.length - 1)
    },
    { timeoutMs: 60_000 + 5_000 * nodes.length, intervalMs: 200, message: 'every node to see its peers' },
  )
  const signer = new Ed25519Signer(sha256(new TextEncoder().encode(`${opts.seed}-readiness`)))
  const tx = toHex(
    signTx(signer, {
      chainId: opts.chainId,
      nonce: 0,
      op: { type: 'set', key: 'bench/ready', value: '1' },
    }),
  )
  const first = nodes[0] as BenchNode
  // gossipsub's mesh forms about a second after the connections; retry until the tx is final.
  await waitForValue(() => rpc<object>(first.rpcUrl, 'broadcast_tx_commit', { tx, timeout_ms: 5_000 }), {
    timeoutMs: 60_000 + 5_000 * nodes.length,
    intervalMs: 500,
    message: 'a first tx to be final',
  })
}

export interface LoadRunOutcome {
  /** each node's CPU seconds in the steady window (undefined when /proc could not be read) */
  readonly cpuSec: (number | undefined)[]
  /** each node's seconds waiting for a core in the steady window */
  readonly waitSec: (number | undefined)[]
  readonly steadyWallSec: number
}

/**
 * Runs the load process to completion, sampling the nodes' CPU at its steady-window markers;
 * `atSteadyStart` / `atSteadyEnd` run there too (e.g. to read the nodes' counters).
 */
export async function runLoad(
  configPath: string,
  nodes: readonly BenchNode[],
  timeoutMs: number,
  hooks: { atSteadyStart?: () => void; atSteadyEnd?: () => void; quiet?: boolean } = {},
): Promise<LoadRunOutcome> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'bench/load.ts', configPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.add(child)
  let cpuAtStart: (number | undefined)[] = []
  let waitAtStart: (number | undefined)[] = []
  let cpuSec: (number | undefined)[] = []
  let waitSec: (number | undefined)[] = []
  let steadyStarted = 0
  let steadyWallSec = 0
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  lines.on('line', (line) => {
    if (line === '@@steady-start') {
      steadyStarted = performance.now()
      cpuAtStart = nodes.map((n) => cpuSeconds(n.child?.pid))
      waitAtStart = nodes.map((n) => runQueueWaitSeconds(n.child?.pid))
      hooks.atSteadyStart?.()
    } else if (line === '@@steady-end') {
      steadyWallSec = (performance.now() - steadyStarted) / 1000
      cpuSec = nodes.map((n, k) => {
        const now = cpuSeconds(n.child?.pid)
        const then = cpuAtStart[k]
        return now === undefined || then === undefined ? undefined : now - then
      })
      waitSec = nodes.map((n, k) => {
        const now = runQueueWaitSeconds(n.child?.pid)
        const then = waitAtStart[k]
        return now === undefined || then === undefined ? undefined : now - then
      })
      hooks.atSteadyEnd?.()
    } else if (!line.startsWith('@@') && hooks.quiet !== true) console.log(`  ${line}`)
  })
  const code = await new Promise<number | null>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new BenchError(`the load process did not finish within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    child.once('exit', (c) => {
      clearTimeout(timer)
      children.delete(child)
      resolvePromise(c)
    })
  })
  if (code !== 0) throw new BenchError(`the load process exited with code ${code}`)
  return { cpuSec, waitSec, steadyWallSec }
}

/**
 * One JSON-RPC call with a generous timeout: on a loaded machine a node under load may take
 * longer than the e2e harness's 10 s to answer.
 */
export async function rpcCall<T>(
  url: string,
  method: string,
  params?: object,
  timeoutMs = 30_000,
): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(timeoutMs),
  })
  const body = (await res.json()) as { result?: T; error?: { code: number; message: string } }
  if (body.error) throw new BenchError(`${method}: ${body.error.message}`)
  return body.result as T
}

/** Safety check on the way out: every node has the same block hash at the lowest common tip. */
export async function checkAgreement(
  nodes: readonly BenchNode[],
): Promise<{ height: number; agree: boolean }> {
  const statuses = await Promise.all(nodes.map((n) => rpcCall<StatusResult>(n.rpcUrl, 'status')))
  const height = Math.min(...statuses.map((s) => s.sync_info.latest_block_height))
  const hashes = await Promise.all(
    nodes.map((n) => rpcCall<{ hash: string }>(n.rpcUrl, 'block', { height }).then((b) => b.hash)),
  )
  return { height, agree: hashes.every((h) => h === hashes[0]) }
}
