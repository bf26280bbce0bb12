import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { WaitTimeoutError, waitFor, waitForValue } from '../helpers/wait.js'
import { type CheckReport, checkHistory } from './checker.js'
import { genesisPathOf, startAll, TestNet, type TestNode, useFastConsensus, waitHeight } from './harness.js'
import type { History, HistoryOp } from './history.js'
import type { LoadDriver } from './load-driver.js'

/** The chain id TestNet.create gives its devnets. */
export const E2E_CHAIN = 'e2e-chain'

/** Default bound of drain(): requests in flight answered, then every ack settled. */
export const DRAIN_TIMEOUT_MS = 30_000
/** `tx` lookups per JSON-RPC batch (the RPC server takes at most 100). */
const TX_BATCH = 50

export class DrainTimeoutError extends Error {
  override name = 'DrainTimeoutError'
}

export interface DrainResult {
  /** txs the node had acknowledged as pending (broadcast_tx_sync, or a commit that timed out) */
  acked: number
  final: number
  /** reported dropped by the node; now recorded as 'dropped' in the history */
  dropped: number
}

type TxAnswer = { status: string; reason?: string } | 'not-found'

/** The node's own `tx` status of each hash, in JSON-RPC batches (a soak's node may have thousands). */
async function txStatuses(url: string, hashes: string[]): Promise<TxAnswer[]> {
  const out: TxAnswer[] = []
  for (let from = 0; from < hashes.length; from += TX_BATCH) {
    const slice = hashes.slice(from, from + TX_BATCH)
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(slice.map((hash, id) => ({ jsonrpc: '2.0', id, method: 'tx', params: { hash } }))),
      signal: AbortSignal.timeout(10_000),
    })
    const body = (await res.json()) as { id: number; result?: { status: string; reason?: string } }[]
    if (!Array.isArray(body)) throw new Error(`tx batch to ${url}: not a batch answer`)
    const byId = new Map(body.map((a) => [a.id, a.result]))
    for (let i = 0; i < slice.length; i++) out.push(byId.get(i) ?? 'not-found')
  }
  return out
}

/**
 * Drains `node` before its data dir is wiped. A SIGKILL loses no acknowledged tx (the mempool
 * journal keeps them, docs/CONSENSUS.md "Consensus rules"), but a wipe erases the journal too: that is data loss by the
 * operator, which the checker cannot tell apart from a node losing an ack. So: add the node to
 * `exclude` (the URLs the driver's rpcUrls() leaves out; the caller removes it once the node is
 * back), wait until no request to it is in flight, then until every tx it acknowledged as pending
 * is final or dropped by its own account. A drop read here goes into the history as what the client
 * was told (outcome 'dropped' with the node's reason), since the wipe also erases the node's record
 * of it. Throws DrainTimeoutError, naming the unsettled txs, if that takes longer than `timeoutMs`.
 */
export async function drain(
  node: TestNode,
  driver: LoadDriver,
  exclude: Set<string>,
  timeoutMs = DRAIN_TIMEOUT_MS,
): Promise<DrainResult> {
  const deadline = Date.now() + timeoutMs
  exclude.add(node.rpcUrl)
  // A request picked this node before it was excluded: its answer may still be an ack.
  await waitFor(() => driver.inFlight(node.rpcUrl) === 0, {
    timeoutMs: Math.max(0, deadline - Date.now()),
    intervalMs: 50,
    message: `requests in flight to ${node.name} answered`,
  }).catch((err: Error) => {
    throw new DrainTimeoutError(`drain of ${node.name}: ${err.message}`)
  })
  const acked = driver.ops.filter((o) => o.node === node.rpcUrl && o.outcome === 'pending')
  let open: HistoryOp[] = acked
  /** the node's last answer per op id, for the timeout message */
  const last = new Map<number, string>()
  let final = 0
  const dropped: HistoryOp[] = []
  /** One poll of the node; true once every acknowledged tx is final or dropped. */
  const settled = async (): Promise<boolean> => {
    try {
      const answers = await txStatuses(
        node.rpcUrl,
        open.map((o) => o.hash),
      )
      const still: HistoryOp[] = []
      for (const [i, op] of open.entries()) {
        const a = answers[i] ?? 'not-found'
        if (a !== 'not-found' && a.status === 'final') final++
        else if (a !== 'not-found' && a.status === 'dropped') {
          op.outcome = 'dropped'
          op.error = a.reason ?? 'dropped'
          dropped.push(op)
        } else {
          last.set(op.id, a === 'not-found' ? 'not found' : a.status)
          still.push(op)
        }
      }
      open = still
    } catch (err) {
      // the node is slow or briefly unreachable: poll again until the deadline
      for (const op of open) last.set(op.id, `unreachable (${(err as Error).message})`)
    }
    return open.length === 0
  }
  await waitFor(settled, {
    timeoutMs: Math.max(0, deadline - Date.now()),
    intervalMs: 250,
    message: `txs acknowledged by ${node.name} final or dropped`,
  }).catch((err: Error) => {
    if (!(err instanceof WaitTimeoutError)) throw err
    const shown = open
      .slice(0, 10)
      .map((o) => `op ${o.id} (client ${o.client} nonce ${o.nonce} ${o.hash}): ${last.get(o.id) ?? '?'}`)
    throw new DrainTimeoutError(
      `drain of ${node.name}: ${open.length} of ${acked.length} acknowledged txs not final or dropped ` +
        `within ${timeoutMs} ms: ${shown.join(', ')}${open.length > shown.length ? ', …' : ''}`,
    )
  })
  for (const op of dropped) {
    console.log(`  ${node.name} dropped op ${op.id} (client ${op.client} nonce ${op.nonce}): ${op.error}`)
  }
  return { acked: acked.length, final, dropped: dropped.length }
}

/**
 * A devnet of real processes for fault scenarios (crash, restart, wipe) under load, shared by
 * faults.spec.ts, byzantine.spec.ts and the soak. Fast consensus timers and metrics on every node.
 */
export class FaultNet {
  private readonly peerIds = new Map<string, TestNode>()
  private onClose: () => void = () => {}

  private constructor(readonly net: TestNet) {}

  /**
   * Creates the homes; `configure` may edit them (e.g. patchConfig) before the nodes named by
   * `start` (default all validators) start.
   */
  static async create(
    validators = 4,
    opts: {
      observers?: number
      start?: (node: TestNode, i: number) => boolean
      configure?: (node: TestNode) => void
    } = {},
  ): Promise<FaultNet> {
    const net = await TestNet.create(validators, opts.observers ?? 0)
    useFastConsensus(net)
    if (opts.configure !== undefined) for (const n of net.nodes) opts.configure(n)
    const fn = new FaultNet(net)
    // Safety net: no node process outlives the test run, even when mocha exits mid-test.
    const killAll = (): void => {
      for (const n of net.nodes) if (n.running) n.child?.kill('SIGKILL')
    }
    process.once('exit', killAll)
    fn.onClose = () => process.off('exit', killAll)
    const first = net.nodes.filter((n, i) => i < validators && (opts.start?.(n, i) ?? true))
    try {
      await startAll(first, first.length - 1)
      for (const n of first) fn.peerIds.set((await n.status()).node_info.peer_id, n)
    } catch (err) {
      console.error(net.logsTail(40))
      await net.close()
      throw err
    }
    return fn
  }

  get validators(): TestNode[] {
    return this.net.nodes.filter((n) => n.name.startsWith('node'))
  }

  get genesisPath(): string {
    return genesisPathOf(this.net.nodes[0] as TestNode)
  }

  live(): TestNode[] {
    return this.net.nodes.filter((n) => n.running)
  }

  liveUrls(): string[] {
    return this.live().map((n) => n.rpcUrl)
  }

  allUrls(): string[] {
    return this.net.nodes.filter((n) => n.child !== undefined).map((n) => n.rpcUrl)
  }

  /** The node the live validators name as primary (by the highest view they report). */
  async primary(): Promise<{ node: TestNode; view: number }> {
    const sts = await Promise.all(this.live().map((n) => n.status()))
    const best = sts.reduce((a, b) => (b.consensus.view > a.consensus.view ? b : a))
    const node = this.peerIds.get(best.consensus.primary)
    if (node === undefined)
      throw new Error(`primary ${best.consensus.primary} is not one of this devnet's nodes`)
    return { node, view: best.consensus.view }
  }

  async maxHeight(nodes = this.live()): Promise<number> {
    return Math.max(...(await Promise.all(nodes.map((n) => n.height()))))
  }

  async views(nodes = this.live()): Promise<number[]> {
    return Promise.all(nodes.map(async (n) => (await n.status()).consensus.view))
  }

  /**
   * SIGKILL, recorded in the driver's history. The node's mempool journal keeps the txs it
   * acknowledged, so they are pending again once it restarts; only a wipe loses them (drain first).
   */
  async kill(node: TestNode, driver?: LoadDriver): Promise<void> {
    driver?.crash(node.rpcUrl)
    await node.stop('SIGKILL')
  }

  /** `wipe` deletes the data dir (chain, state, mempool journal): drain() the node before killing it. */
  async restart(node: TestNode, opts: { wipe?: boolean } = {}): Promise<void> {
    if (node.running) throw new Error(`${node.name} is running`)
    if (opts.wipe === true) rmSync(join(node.home, 'data'), { recursive: true, force: true })
    node.start()
    await waitForValue(() => node.status(), {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: `${node.name} serving RPC`,
    })
    const id = (await node.status()).node_info.peer_id
    this.peerIds.set(id, node)
  }

  /** Waits until `node` has the height the others had when called (it caught up). */
  async caughtUp(node: TestNode, timeoutMs = 30_000): Promise<number> {
    const target = await this.maxHeight(this.live().filter((n) => n !== node))
    await waitHeight([node], target, timeoutMs)
    return target
  }

  /** Waits for a block above `height` on every live node; returns the ms it took. */
  async progress(height: number, timeoutMs: number, nodes = this.live()): Promise<number> {
    const t0 = Date.now()
    await waitHeight(nodes, height + 1, timeoutMs)
    return Date.now() - t0
  }

  check(history: History, opts: { waitForPendingMs?: number } = {}): Promise<CheckReport> {
    return checkHistory({
      history,
      rpcUrls: this.allUrls(),
      genesisPath: this.genesisPath,
      waitForPendingMs: opts.waitForPendingMs ?? 30_000,
    })
  }

  logsTail(lines = 40): string {
    return this.net.logsTail(lines)
  }

  close(): Promise<void> {
    this.onClose()
    return this.net.close()
  }
}
