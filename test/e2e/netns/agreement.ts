import { join } from 'node:path'
import { expect } from 'chai'
import { waitFor, waitForValue } from '../../helpers/wait.js'
import { checkHistory } from '../checker.js'
import { rpc, type TestNode } from '../harness.js'
import type { History } from '../history.js'

/**
 * Direct agreement checks over RPC: the same block hash at every height on every node (no fork)
 * and acknowledged txs final with one height and block everywhere. They complement the history
 * checker, and state what a partition test must never see.
 */

interface BlockchainResult {
  last_height: number
  block_metas: { hash: string; header: { height: number } }[]
}

/** Hashes of blocks 1..tip of one node, via `blockchain` (at most 100 headers a call). */
export async function chainHashes(url: string): Promise<string[]> {
  const first = await rpc<BlockchainResult>(url, 'blockchain', { min_height: 1, max_height: 1 })
  const tip = first.last_height
  const hashes: string[] = []
  for (let from = 1; from <= tip; from += 100) {
    const to = Math.min(tip, from + 99)
    const res = await rpc<BlockchainResult>(url, 'blockchain', { min_height: from, max_height: to })
    for (const m of res.block_metas) hashes[m.header.height - 1] = m.hash
  }
  return hashes
}

export class ForkError extends Error {
  override name = 'ForkError'
}

/** Throws ForkError unless every node's chain is a prefix of the longest one. Returns the heights. */
export async function assertNoFork(nodes: TestNode[]): Promise<number[]> {
  const chains = await Promise.all(nodes.map((n) => chainHashes(n.rpcUrl)))
  const longest = chains.reduce((a, b) => (b.length > a.length ? b : a), [])
  for (const [i, chain] of chains.entries()) {
    for (let h = 0; h < chain.length; h++) {
      if (chain[h] !== longest[h]) {
        throw new ForkError(
          `${nodes[i]?.name} has block ${chain[h]} at height ${h + 1}, another node has ${longest[h]}`,
        )
      }
    }
  }
  return chains.map((c) => c.length)
}

export async function heights(nodes: TestNode[]): Promise<number[]> {
  return Promise.all(nodes.map((n) => n.height()))
}

/** Waits until every node is at the same tip and returns it. */
export async function waitSameTip(nodes: TestNode[], timeoutMs = 30_000): Promise<number> {
  return waitForValue(
    async () => {
      const st = await Promise.all(nodes.map((n) => n.status()))
      const tips = new Set(st.map((s) => s.sync_info.latest_block_hash))
      return tips.size === 1 ? st[0]?.sync_info.latest_block_height : undefined
    },
    { timeoutMs, intervalMs: 200, message: `same tip on ${nodes.map((n) => n.name).join(',')}` },
  )
}

interface TxResult {
  status: string
  height: number
  block_hash: string
}

/**
 * Every tx hash is final on every node, at one height in one block — or, with allowDropped, was
 * dropped (and is final nowhere).
 */
export async function assertFinalEverywhere(
  nodes: TestNode[],
  txHashes: string[],
  opts: { allowDropped?: boolean } = {},
): Promise<void> {
  for (const hash of txHashes) {
    const seen = await Promise.all(
      nodes.map((n) =>
        rpc<TxResult>(n.rpcUrl, 'tx', { hash }).catch((err: Error) => ({
          status: `error: ${err.message}`,
          height: -1,
          block_hash: '',
        })),
      ),
    )
    // docs/CONSENSUS.md "Consensus rules": an acknowledged tx is final later or reported dropped with a reason (e.g. a client
    // that re-signed its nonce on the other side of a partition); the checker verifies the reason.
    const dropped = seen.some((r) => r.status === 'dropped') && !seen.some((r) => r.status === 'final')
    if (dropped && opts.allowDropped) continue
    if (seen.some((r) => r.status !== 'final')) {
      const where = seen.map((r, i) => `${nodes[i]?.name}=${r.status}`).join(' ')
      throw new Error(`tx ${hash} (#${txHashes.indexOf(hash)} acked) not final everywhere: ${where}`)
    }
    const places = new Set(seen.map((r) => `${r.height}/${r.block_hash}`))
    if (places.size !== 1)
      throw new ForkError(`tx ${hash} final at different places: ${[...places].join(' ')}`)
  }
}

/**
 * Everything healed and quiet: every tx the clients were told is final or pending is final on every
 * node (or reported dropped) within `timeoutMs`, one tip, no fork, and the history checker's verdict
 * (certificates, replayed state, every ack accounted for) has no violation. Returns the tip.
 */
export async function expectConvergedWithin(
  nodes: TestNode[],
  history: History,
  timeoutMs: number,
): Promise<number> {
  const acked = history.ops.filter((o) => o.outcome === 'final' || o.outcome === 'pending').map((o) => o.hash)
  const t0 = Date.now()
  await waitFor(
    async () => {
      await assertFinalEverywhere(nodes, acked, { allowDropped: true })
      return true
    },
    { timeoutMs, intervalMs: 500, message: 'every acknowledged tx final on every node' },
  )
  const tip = await waitSameTip(nodes)
  await assertNoFork(nodes)
  console.log(
    `      converged at height ${tip} in ${((Date.now() - t0) / 1000).toFixed(1)} s; load ${history.summaryLine()}`,
  )
  const report = await checkHistory({
    history,
    rpcUrls: nodes.map((n) => n.rpcUrl),
    genesisPath: join(nodes[0]?.home ?? '', 'genesis.json'),
    log: (line) => console.log(`      ${line}`),
  })
  expect(report.violations).to.deep.equal([])
  return tip
}
