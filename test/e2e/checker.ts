import { type Execution, KvApp } from '../../src/app/kv-app.js'
import { verifyCertificate } from '../../src/chain/certificate.js'
import { genesisValidatorSet, loadGenesis } from '../../src/chain/genesis.js'
import { makeGenesisBlock } from '../../src/chain/genesis-block.js'
import { validateBlock } from '../../src/chain/validation.js'
import { blockHash, decodeTx, txHash } from '../../src/codec/chain.js'
import type { Block, BlockHeader } from '../../src/codec/types.js'
import { fromHex, toHex } from '../../src/crypto/hash.js'
import { certificateFromJson, headerFromJson } from '../../src/rpc/convert.js'
import type {
  AccountResult,
  BlockchainResult,
  BlockResult,
  QueryResult,
  StatusResult,
  TxResult,
} from '../../src/rpc/types.js'
import { WaitTimeoutError, waitFor } from '../helpers/wait.js'
import type { History, HistoryOp } from './history.js'

/**
 * The history checker (Jepsen style). After a run it reads every node's chain over JSON-RPC and
 * checks, independently of what the nodes claim about themselves:
 * - no fork: every node's chain is a prefix of one chain (same hash at every height);
 * - every block hash recomputes from its header, links to its parent (block 1 to the genesis block
 *   built from genesis.json), and its commit certificate verifies against the genesis validators;
 * - a replay of the chain from genesis validates every block (proposer, txs, app_hash);
 * - no tx is final twice; every tx acknowledged final is final exactly once (at the reported
 *   height/index); every sync-acknowledged tx is final or reported dropped with a reason by the node
 *   it was sent to — also when that node was killed after acknowledging it (its mempool journal
 *   keeps what it acknowledged across a crash, docs/CONSENSUS.md "Consensus rules");
 *   a tx definitely rejected or reported dropped is not final;
 * - every node's KV state (query) and sender nonces (account) equal a replay of the chain at the
 *   node's height, and its latest app hash equals the replayed one.
 * Every violation is collected; checkHistory throws one CheckerError listing all of them.
 */

export interface CheckReport {
  /** the highest tip among the nodes */
  heights: number
  nodes: number
  /** (node, height) pairs whose block was read and checked */
  blocksChecked: number
  certificatesVerified: number
  /** blocks re-validated by replay (proposer, tx root, txs, app_hash) */
  blocksReplayed: number
  /** distinct txs in the chain */
  txsFinal: number
  /** ops acknowledged final and found exactly once where the receipt said */
  acknowledgedFinal: number
  /** ops acknowledged by broadcast_tx_sync that became final */
  acknowledgedPending: number
  /** acknowledged ops later reported dropped with a reason (and not final) */
  droppedWithReason: number
  /** definitely rejected ops, checked absent */
  failedAbsent: number
  /** ops without an answer: how many turned out final / absent */
  unknownFinal: number
  unknownAbsent: number
  /** (node, key) and (node, account) state reads compared with the replay */
  keysCompared: number
  accountsCompared: number
  violations: string[]
}

export class CheckerError extends Error {
  override name = 'CheckerError'
  constructor(
    readonly violations: readonly string[],
    readonly report: CheckReport,
  ) {
    const shown = violations.slice(0, 40)
    const more = violations.length > shown.length ? `\n  … and ${violations.length - shown.length} more` : ''
    super(`history check failed with ${violations.length} violation(s):\n  ${shown.join('\n  ')}${more}`)
  }
}

export interface CheckOptions {
  history: History
  rpcUrls: string[]
  genesisPath: string
  /** how long sync-acknowledged txs may take to become final or dropped (default 30 s) */
  waitForPendingMs?: number
  /** how long the nodes may take to reach one tip before the chains are read; 0 skips (default 30 s) */
  convergeMs?: number
  /** where the one-line summary goes (default console.log) */
  log?: (line: string) => void
}

// ---- JSON-RPC with batches ------------------------------------------------------------------

interface Answer<T> {
  id?: number
  result?: T
  error?: { code: number; message: string }
}

class CheckerRpcError extends Error {
  override name = 'CheckerRpcError'
}

const BATCH = 50

/** Sends the calls in JSON-RPC batches of BATCH; returns the answers in call order. */
async function batchCall<T>(url: string, method: string, params: object[]): Promise<Answer<T>[]> {
  const out: Answer<T>[] = []
  for (let from = 0; from < params.length; from += BATCH) {
    const slice = params.slice(from, from + BATCH)
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(slice.map((p, i) => ({ jsonrpc: '2.0', id: i, method, params: p }))),
      signal: AbortSignal.timeout(20_000),
    })
    const body = (await res.json()) as Answer<T>[] | Answer<T>
    if (!Array.isArray(body)) {
      throw new CheckerRpcError(`${method} batch to ${url}: ${body.error?.message ?? 'not a batch answer'}`)
    }
    const byId = new Map(body.map((a) => [a.id, a]))
    for (let i = 0; i < slice.length; i++) {
      out.push(byId.get(i) ?? { error: { code: 0, message: `no answer for ${method}` } })
    }
  }
  return out
}

async function call<T>(url: string, method: string, params: object = {}): Promise<T> {
  const [a] = await batchCall<T>(url, method, [params])
  if (a?.result === undefined) throw new CheckerRpcError(`${method} at ${url}: ${a?.error?.message}`)
  return a.result
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

// ---- the value of a key / nonce at any height --------------------------------------------------

/** Values over heights, appended in height order; `at(h)` is the last value set at or before h. */
class Timeline<V> {
  private readonly heights: number[] = []
  private readonly values: V[] = []
  constructor(private readonly initial: V) {}
  set(height: number, value: V): void {
    if (this.heights[this.heights.length - 1] === height) this.values[this.values.length - 1] = value
    else {
      this.heights.push(height)
      this.values.push(value)
    }
  }
  at(height: number): V {
    let v = this.initial
    for (let i = 0; i < this.heights.length && (this.heights[i] as number) <= height; i++) {
      v = this.values[i] as V
    }
    return v
  }
}

// ---- the checker --------------------------------------------------------------------------------

interface PendingResolution {
  kind: 'final' | 'dropped' | 'unresolved'
  detail: string
}

type TxAnswer = { status: 'final' | 'pending' | 'dropped'; reason?: string } | 'not-found' | 'unreachable'

async function txStatuses(url: string, hashes: string[]): Promise<TxAnswer[]> {
  try {
    const answers = await batchCall<TxResult>(
      url,
      'tx',
      hashes.map((hash) => ({ hash })),
    )
    return answers.map((a) =>
      a.result !== undefined ? { status: a.result.status, reason: a.result.reason } : 'not-found',
    )
  } catch {
    return hashes.map(() => 'unreachable')
  }
}

function describe(a: TxAnswer | undefined): string {
  if (a === undefined) return '?'
  return typeof a === 'string' ? a : a.reason === undefined ? a.status : `${a.status} (${a.reason})`
}

/**
 * Polls the `tx` status of every sync-acknowledged op until it is final (anywhere) or dropped (by the
 * node that acknowledged it) — or until the deadline. A node killed after acknowledging a tx gets no
 * exception: once restarted it must still know the tx (docs/CONSENSUS.md "Consensus rules").
 */
async function resolvePending(
  ops: HistoryOp[],
  rpcUrls: string[],
  waitMs: number,
): Promise<Map<number, PendingResolution>> {
  const out = new Map<number, PendingResolution>()
  let open = ops
  // At the deadline the ops still open stay 'unresolved' in `out`: a result, not an error.
  await waitFor(
    async () => {
      const hashes = open.map((o) => o.hash)
      const perNode = await Promise.all(rpcUrls.map((u) => txStatuses(u, hashes)))
      const still: HistoryOp[] = []
      for (const [i, op] of open.entries()) {
        const answers = perNode.map((list) => list[i])
        const own = answers[rpcUrls.indexOf(op.node)]
        const ownStatus = own !== undefined && typeof own !== 'string' ? own : undefined
        const final = answers.some((a) => a !== undefined && typeof a !== 'string' && a.status === 'final')
        const detail = rpcUrls.map((u, k) => `${u}: ${describe(answers[k])}`).join(', ')
        if (final) out.set(op.id, { kind: 'final', detail })
        else if (ownStatus?.status === 'dropped')
          out.set(op.id, { kind: 'dropped', detail: ownStatus.reason ?? '' })
        else {
          out.set(op.id, { kind: 'unresolved', detail })
          still.push(op)
        }
      }
      open = still
      return open.length === 0
    },
    { timeoutMs: waitMs, intervalMs: 250, message: 'acknowledged txs to resolve' },
  ).catch(ignoreTimeout)
  return out
}

/**
 * For a poll whose deadline is an answer ("still open", "not converged"), not a failure. The probes
 * here catch their RPC errors themselves: one that threw anyway is a bug, and is rethrown.
 */
function ignoreTimeout(err: unknown): void {
  if (!(err instanceof WaitTimeoutError) || err.lastError !== undefined) throw err
}

/** Undefined once every node reports the same tip; at the deadline, where each one is. */
async function waitConverged(rpcUrls: string[], ms: number): Promise<string | undefined> {
  let last = ''
  const converged = async (): Promise<boolean> => {
    const tips = await Promise.all(
      rpcUrls.map((u) =>
        call<StatusResult>(u, 'status').then(
          (s) => `${s.sync_info.latest_block_height}:${s.sync_info.latest_block_hash}`,
          (err: Error) => `unreachable (${err.message})`,
        ),
      ),
    )
    if (new Set(tips).size === 1 && !tips[0]?.startsWith('unreachable')) return true
    last = rpcUrls.map((u, i) => `${u} at ${tips[i]?.slice(0, 20)}`).join(', ')
    return false
  }
  return waitFor(converged, { timeoutMs: ms, intervalMs: 200, message: 'the nodes to converge' }).then(
    () => undefined,
    (err: unknown) => {
      ignoreTimeout(err)
      return last
    },
  )
}

interface NodeChain {
  url: string
  /** blocks[h] for h = 1..tip (index 0 unused) */
  blocks: BlockResult[]
  metaHashes: string[]
}

async function readChain(url: string): Promise<NodeChain> {
  const tip = (await call<StatusResult>(url, 'status')).sync_info.latest_block_height
  const metaHashes: string[] = []
  for (let from = 1; from <= tip; from += 100) {
    const page = await call<BlockchainResult>(url, 'blockchain', {
      min_height: from,
      max_height: Math.min(tip, from + 99),
    })
    for (const m of page.block_metas) metaHashes[m.header.height] = m.hash
  }
  const heights = Array.from({ length: tip }, (_, i) => i + 1)
  const answers = await batchCall<BlockResult>(
    url,
    'block',
    heights.map((height) => ({ height })),
  )
  const blocks: BlockResult[] = []
  for (const [i, a] of answers.entries()) {
    if (a.result === undefined) throw new CheckerRpcError(`block ${i + 1} at ${url}: ${a.error?.message}`)
    blocks[i + 1] = a.result
  }
  return { url, blocks, metaHashes }
}

export async function checkHistory(opts: CheckOptions): Promise<CheckReport> {
  const { history, rpcUrls } = opts
  const log = opts.log ?? ((line: string) => console.log(line))
  const violations: string[] = []
  const v = (msg: string): void => {
    violations.push(msg)
  }
  const report: CheckReport = {
    heights: 0,
    nodes: rpcUrls.length,
    blocksChecked: 0,
    certificatesVerified: 0,
    blocksReplayed: 0,
    txsFinal: 0,
    acknowledgedFinal: 0,
    acknowledgedPending: 0,
    droppedWithReason: 0,
    failedAbsent: 0,
    unknownFinal: 0,
    unknownAbsent: 0,
    keysCompared: 0,
    accountsCompared: 0,
    violations,
  }

  const genesis = await loadGenesis(opts.genesisPath)
  const chainId = genesis.chainId
  const validators = genesisValidatorSet(genesis)
  const app = KvApp.fromGenesis(chainId, genesis.appState.kv)
  const genesisBlock = makeGenesisBlock(chainId, genesis.genesisTimeMs, app.appHash())

  // 1. Let sync-acknowledged txs settle: final, or dropped with a reason.
  const pendingOps = history.ops.filter((o) => o.outcome === 'pending')
  const resolutions = await resolvePending(pendingOps, rpcUrls, opts.waitForPendingMs ?? 30_000)

  // 2. Let the nodes reach one tip (not converging is a liveness violation, reported, not fatal).
  const convergeMs = opts.convergeMs ?? 30_000
  if (convergeMs > 0) {
    const stuck = await waitConverged(rpcUrls, convergeMs)
    if (stuck !== undefined) v(`nodes did not reach one tip within ${convergeMs} ms: ${stuck}`)
  }

  // 3. Read and check every node's chain; compare across nodes.
  const chains: NodeChain[] = []
  for (const url of rpcUrls) {
    try {
      chains.push(await readChain(url))
    } catch (err) {
      v(`cannot read the chain of ${url}: ${(err as Error).message}`)
    }
  }
  const canonical: string[] = []
  let longest: NodeChain | undefined
  for (const chain of chains) {
    const tip = chain.blocks.length - 1
    if (longest === undefined || tip > longest.blocks.length - 1) longest = chain
    let parentHash = toHex(blockHash(genesisBlock.header))
    for (let h = 1; h <= tip; h++) {
      const b = chain.blocks[h] as BlockResult
      report.blocksChecked++
      let header: BlockHeader
      try {
        header = headerFromJson(b.header)
      } catch (err) {
        v(`${chain.url} height ${h}: malformed header: ${(err as Error).message}`)
        break
      }
      const hash = toHex(blockHash(header))
      if (header.height !== h) v(`${chain.url} height ${h}: header says height ${header.height}`)
      if (header.chainId !== chainId) v(`${chain.url} height ${h}: chain_id ${header.chainId}`)
      if (hash !== b.hash)
        v(`${chain.url} height ${h}: block hash ${b.hash} but its header hashes to ${hash}`)
      if (chain.metaHashes[h] !== hash) {
        v(`${chain.url} height ${h}: blockchain says ${chain.metaHashes[h]}, block says ${hash}`)
      }
      if (toHex(header.parentHash) !== parentHash) {
        v(
          `${chain.url} height ${h}: parent_hash ${toHex(header.parentHash)} is not block ${h - 1} (${parentHash})`,
        )
      }
      parentHash = hash
      if (b.commit === null) v(`${chain.url} height ${h}: no commit certificate`)
      else {
        try {
          verifyCertificate(certificateFromJson(b.commit), chainId, validators, {
            height: h,
            blockHash: fromHex(hash),
          })
          report.certificatesVerified++
        } catch (err) {
          v(`${chain.url} height ${h}: certificate does not verify: ${(err as Error).message}`)
        }
      }
      const seen = canonical[h]
      if (seen === undefined) canonical[h] = hash
      else if (seen !== hash) v(`FORK at height ${h}: ${chain.url} has ${hash}, another node has ${seen}`)
    }
  }
  report.heights = longest === undefined ? 0 : longest.blocks.length - 1

  // 4. Replay the longest chain: the product's validation and app (app_hash), and an independent
  // plain replay of the ops (the expected KV state and nonces at every height).
  const kv = new Map<string, Timeline<string | null>>()
  const nonces = new Map<string, Timeline<number>>()
  const appHashAfter: string[] = [toHex(app.appHash())]
  const where = new Map<string, { height: number; index: number }[]>()
  for (const [k, value] of Object.entries(genesis.appState.kv)) {
    kv.set(k, new Timeline<string | null>(null))
    kv.get(k)?.set(0, value)
  }
  let parent = genesisBlock.header
  let replayOk = true
  for (let h = 1; longest !== undefined && h <= report.heights; h++) {
    const b = longest.blocks[h] as BlockResult
    let block: Block
    try {
      block = { header: headerFromJson(b.header), txs: b.txs.map(fromHex) }
    } catch {
      break // reported above
    }
    if (replayOk) {
      const result = validateBlock<Execution>(block, {
        chainId,
        parent,
        parentHash: blockHash(parent),
        validators,
        now: Number.POSITIVE_INFINITY,
        maxClockDriftMs: 0,
        appHash: app.appHash(),
        execute: (txs) => app.execute(txs),
      })
      if (result.ok) {
        app.apply(result.execution)
        appHashAfter[h] = toHex(app.appHash())
        report.blocksReplayed++
      } else {
        v(`${longest.url} height ${h}: block fails validation on replay: ${result.reason}`)
        replayOk = false
      }
    }
    parent = block.header
    for (const [index, raw] of block.txs.entries()) {
      const hash = toHex(txHash(raw))
      const list = where.get(hash) ?? []
      list.push({ height: h, index })
      where.set(hash, list)
      try {
        const tx = decodeTx(raw)
        const timeline = kv.get(tx.op.key) ?? new Timeline<string | null>(null)
        kv.set(tx.op.key, timeline)
        timeline.set(h, tx.op.type === 'set' ? tx.op.value : null)
        const from = toHex(tx.from)
        const n = nonces.get(from) ?? new Timeline<number>(0)
        nonces.set(from, n)
        n.set(h, tx.nonce + 1)
      } catch (err) {
        v(`height ${h} tx ${index}: does not decode: ${(err as Error).message}`)
      }
    }
  }
  report.txsFinal = where.size
  for (const [hash, list] of where) {
    if (list.length > 1) {
      v(`tx ${hash} is final ${list.length} times: ${list.map((l) => `${l.height}/${l.index}`).join(', ')}`)
    }
  }

  // 5. Every request's outcome against the chain. Each request must carry its own tx: two requests
  // with byte-identical txs share one hash, so the chain cannot tell whose tx became final.
  const opsOfHash = new Map<string, number[]>()
  for (const op of history.ops) opsOfHash.set(op.hash, [...(opsOfHash.get(op.hash) ?? []), op.id])
  for (const [hash, ids] of opsOfHash) {
    if (ids.length > 1)
      v(`ops ${ids.join(', ')} sent the same tx ${hash.slice(0, 18)}: their outcomes cannot be told apart`)
  }
  for (const op of history.ops) {
    const found = where.get(op.hash) ?? []
    const inChain = found.length > 0
    const tag = `op ${op.id} (client ${op.client} nonce ${op.nonce}, ${op.method} to ${op.node}, tx ${op.hash.slice(0, 18)})`
    switch (op.outcome) {
      case 'final': {
        const at = found[0]
        if (at === undefined)
          v(`${tag}: acknowledged final at height ${op.height} but not in the chain (LOST)`)
        else if (op.height !== undefined && (at.height !== op.height || at.index !== op.index)) {
          v(`${tag}: receipt said ${op.height}/${op.index}, chain has it at ${at.height}/${at.index}`)
        } else report.acknowledgedFinal++
        break
      }
      case 'pending': {
        const r = resolutions.get(op.id)
        if (inChain) report.acknowledgedPending++
        else if (r?.kind === 'final')
          v(`${tag}: a node says final but it is not in the chain read (${r.detail})`)
        else if (r?.kind === 'dropped') {
          if (r.detail === '') v(`${tag}: reported dropped without a reason`)
          else report.droppedWithReason++
        } else {
          const crashed = history.crashes.some((c) => c.node === op.node && c.at >= op.start)
          v(
            `${tag}: acknowledged by broadcast_tx_sync, neither final nor reported dropped` +
              `${crashed ? ' (its node was killed after acknowledging it)' : ''} (${r?.detail})`,
          )
        }
        if (inChain && r?.kind === 'dropped')
          v(`${tag}: reported dropped (${r.detail}) but final in the chain`)
        break
      }
      case 'dropped':
        if (inChain) v(`${tag}: reported dropped (${op.error}) but final in the chain`)
        else report.droppedWithReason++
        break
      case 'failed':
        if (inChain) v(`${tag}: rejected (${op.error}) but final in the chain`)
        else report.failedAbsent++
        break
      case 'unknown':
        if (inChain) report.unknownFinal++
        else report.unknownAbsent++
        break
    }
  }

  // 6. Every node's state equals the replay at its height.
  const keys = new Set<string>([...kv.keys(), ...history.ops.map((o) => o.key)])
  const addresses = new Set<string>(nonces.keys())
  for (const op of history.ops) {
    try {
      addresses.add(toHex(decodeTx(fromHex(op.tx)).from))
    } catch {
      // a tx the driver built always decodes; nothing to compare otherwise
    }
  }
  const keyList = [...keys]
  const addressList = [...addresses]
  for (const url of rpcUrls) {
    let compared = false
    for (let attempt = 0; attempt < 5 && !compared; attempt++) {
      try {
        const before = await call<StatusResult>(url, 'status')
        const queries = await batchCall<QueryResult>(
          url,
          'query',
          keyList.map((key) => ({ key })),
        )
        const accounts = await batchCall<AccountResult>(
          url,
          'account',
          addressList.map((address) => ({ address })),
        )
        const after = await call<StatusResult>(url, 'status')
        const h = before.sync_info.latest_block_height
        if (after.sync_info.latest_block_height !== h) continue // moved while reading: read again
        compared = true
        if (h > report.heights || (h > 0 && canonical[h] === undefined)) {
          v(`${url}: state at height ${h}, beyond the chain read`)
          break
        }
        const expectedAppHash = appHashAfter[h]
        if (expectedAppHash !== undefined && before.sync_info.latest_app_hash !== expectedAppHash) {
          v(
            `${url}: app hash at height ${h} is ${before.sync_info.latest_app_hash}, replay gives ${expectedAppHash}`,
          )
        }
        for (const [i, key] of keyList.entries()) {
          const q = queries[i]?.result
          const expected = kv.get(key)?.at(h) ?? null
          report.keysCompared++
          if (q === undefined) v(`${url}: query ${key} failed: ${queries[i]?.error?.message}`)
          else if (q.height !== h) v(`${url}: query ${key} answered at height ${q.height}, status says ${h}`)
          else if (q.value !== expected) {
            v(
              `${url}: key ${key} = ${JSON.stringify(q.value)} at height ${h}, replay gives ${JSON.stringify(expected)}`,
            )
          }
        }
        for (const [i, address] of addressList.entries()) {
          const a = accounts[i]?.result
          const expected = nonces.get(address)?.at(h) ?? 0
          report.accountsCompared++
          if (a === undefined) v(`${url}: account ${address} failed: ${accounts[i]?.error?.message}`)
          else if (a.nonce !== expected) {
            v(
              `${url}: account ${address.slice(0, 18)} nonce ${a.nonce} at height ${h}, replay gives ${expected}`,
            )
          }
        }
      } catch (err) {
        if (attempt === 4) v(`${url}: cannot read state: ${(err as Error).message}`)
        // a pause between a bounded number of read attempts (a retry backoff, not a condition wait)
        await sleep(200)
      }
    }
    if (!compared && !violations.some((x) => x.startsWith(`${url}: cannot read state`))) {
      v(`${url}: its height kept moving; state not compared`)
    }
  }

  const s = history.summary()
  log(
    `history check: nodes=${report.nodes} heights=${report.heights} blocks=${report.blocksChecked} ` +
      `certificates=${report.certificatesVerified} replayed=${report.blocksReplayed} txsFinal=${report.txsFinal} ` +
      `ops=${history.ops.length} (final=${s.final} pending=${s.pending} failed=${s.failed} unknown=${s.unknown} ` +
      `dropped=${s.dropped}) ackFinal=${report.acknowledgedFinal} ackPendingFinal=${report.acknowledgedPending} ` +
      `droppedWithReason=${report.droppedWithReason} ` +
      `failedAbsent=${report.failedAbsent} unknown=${report.unknownFinal}final/${report.unknownAbsent}absent ` +
      `keys=${report.keysCompared} accounts=${report.accountsCompared} violations=${violations.length}`,
  )
  if (violations.length > 0) throw new CheckerError(violations, report)
  return report
}
