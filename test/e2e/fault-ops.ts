import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { type CheckReport, checkHistory } from './checker.js'
import {
  genesisPathOf,
  startAll,
  TestNet,
  type TestNode,
  useFastConsensus,
  waitFor,
  waitHeight,
} from './harness.js'
import type { History } from './history.js'
import type { LoadDriver } from './load-driver.js'

/** The chain id TestNet.create gives its devnets. */
export const E2E_CHAIN = 'e2e-chain'

/**
 * A devnet of real processes for fault scenarios (crash, restart, wipe) under load, shared by
 * faults.spec.ts, byzantine.spec.ts and the soak. Fast consensus timers and metrics on every node.
 */
export class FaultNet {
  private readonly peerIds = new Map<string, TestNode>()
  private onClose: () => void = () => {}

  private constructor(readonly net: TestNet) {}

  /** Creates the homes; starts the nodes named by `start` (default all validators). */
  static async create(
    validators = 4,
    opts: { observers?: number; start?: (node: TestNode, i: number) => boolean } = {},
  ): Promise<FaultNet> {
    const net = await TestNet.create(validators, opts.observers ?? 0)
    useFastConsensus(net)
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

  /** SIGKILL, recorded in the driver's history (the node's mempool is lost with it). */
  async kill(node: TestNode, driver?: LoadDriver): Promise<void> {
    driver?.crash(node.rpcUrl)
    await node.stop('SIGKILL')
  }

  async restart(node: TestNode, opts: { wipe?: boolean } = {}): Promise<void> {
    if (node.running) throw new Error(`${node.name} is running`)
    if (opts.wipe === true) rmSync(join(node.home, 'data'), { recursive: true, force: true })
    node.start()
    await waitFor(`${node.name} serving RPC`, () => node.status(), 20_000)
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
