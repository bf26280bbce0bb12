import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { KvApp } from '../../src/app/kv-app.js'
import { makeGenesis, saveGenesis } from '../../src/chain/genesis.js'
import { makeGenesisBlock } from '../../src/chain/genesis-block.js'
import { blockHash, decodeTx, txHash } from '../../src/codec/chain.js'
import type { Block, CommitCertificate } from '../../src/codec/types.js'
import { toHex } from '../../src/crypto/hash.js'
import { peerIdOfPublicKey } from '../../src/crypto/node-key.js'
import { blockToResult, headerToJson } from '../../src/rpc/convert.js'
import { CheckerError, checkHistory } from '../e2e/checker.js'
import { History, type HistoryOp } from '../e2e/history.js'
import {
  buildBlock,
  CHAIN_ID,
  certify,
  makeValidators,
  seededSigner,
  signTx,
} from '../fixtures/chain-builders.js'

/**
 * The history checker must be able to fail: fed a fork, a lost acknowledged tx, a duplicate, a bad
 * certificate or a wrong state by fake nodes (an in-process JSON-RPC server over a hand-built
 * chain), it reports each; fed a clean run it passes and counts what it checked.
 */

const validators = makeValidators(4)
const GENESIS_TIME = 1_700_000_000_000
const GENESIS_KV = { greeting: 'hello' }
const alice = seededSigner('checker-alice')
const bob = seededSigner('checker-bob')

interface FakeNode {
  blocks: Block[] // index = height; [0] is genesis
  certs: (CommitCertificate | null)[]
  dropped: Map<string, string>
  queryOverride: Map<string, string | null>
}

function genesisBlock(): { block: Block; app: KvApp } {
  const app = KvApp.fromGenesis(CHAIN_ID, GENESIS_KV)
  return { block: makeGenesisBlock(CHAIN_ID, GENESIS_TIME, app.appHash()), app }
}

/** A valid chain: block h holds txsPerHeight[h-1], each certified by validators 0..2. */
function buildChain(txsPerHeight: Uint8Array[][]): FakeNode {
  const { block: g, app } = genesisBlock()
  const blocks: Block[] = [g]
  const certs: (CommitCertificate | null)[] = [null]
  for (const txs of txsPerHeight) {
    const parent = blocks[blocks.length - 1] as Block
    const exec = app.execute(txs)
    if (!exec.ok) throw new Error(`fixture tx invalid: ${exec.reason}`)
    const block = buildBlock({ parent: parent.header, txs, appHash: app.appHash(), validators })
    app.apply(exec)
    blocks.push(block)
    certs.push(certify(block, validators, [0, 1, 2]))
  }
  return { blocks, certs, dropped: new Map(), queryOverride: new Map() }
}

function stateOf(node: FakeNode): {
  kv: Map<string, string | null>
  nonces: Map<string, number>
  appHash: string
} {
  const kv = new Map<string, string | null>(Object.entries(GENESIS_KV))
  const nonces = new Map<string, number>()
  const app = KvApp.fromGenesis(CHAIN_ID, GENESIS_KV)
  let appOk = true
  for (const b of node.blocks.slice(1)) {
    if (appOk) {
      const exec = app.execute(b.txs)
      if (exec.ok) app.apply(exec)
      else appOk = false
    }
    for (const raw of b.txs) {
      const tx = decodeTx(raw)
      kv.set(tx.op.key, tx.op.type === 'set' ? tx.op.value : null)
      nonces.set(toHex(tx.from), tx.nonce + 1)
    }
  }
  return { kv, nonces, appHash: toHex(app.appHash()) }
}

function answer(node: FakeNode, method: string, params: Record<string, unknown>): unknown {
  const tip = node.blocks.length - 1
  const state = stateOf(node)
  switch (method) {
    case 'status':
      return {
        sync_info: {
          latest_block_height: tip,
          latest_block_hash: toHex(blockHash((node.blocks[tip] as Block).header)),
          latest_app_hash: state.appHash,
        },
      }
    case 'blockchain': {
      const lo = Number(params.min_height)
      const hi = Math.min(Number(params.max_height), tip)
      const metas = []
      for (let h = lo; h <= hi; h++) {
        const b = node.blocks[h] as Block
        metas.push({
          hash: toHex(blockHash(b.header)),
          header: headerToJson(b.header),
          num_txs: b.txs.length,
        })
      }
      return { last_height: tip, block_metas: metas }
    }
    case 'block': {
      const h = Number(params.height)
      const b = node.blocks[h]
      if (b === undefined) throw new Error('block not found')
      return blockToResult(b, node.certs[h] ?? null)
    }
    case 'tx': {
      const hash = String(params.hash)
      for (const [height, b] of node.blocks.entries()) {
        const index = b.txs.findIndex((t) => toHex(txHash(t)) === hash)
        if (index >= 0) return { hash, status: 'final', height, index }
      }
      const reason = node.dropped.get(hash)
      if (reason !== undefined) return { hash, status: 'dropped', reason }
      throw new Error('tx not found')
    }
    case 'query': {
      const key = String(params.key)
      const value = node.queryOverride.has(key) ? node.queryOverride.get(key) : state.kv.get(key)
      return { key, value: value ?? null, height: tip }
    }
    case 'account': {
      const address = String(params.address)
      const nonce = state.nonces.get(address) ?? 0
      return { address, nonce, pending_nonce: nonce }
    }
    default:
      throw new Error(`no method ${method}`)
  }
}

async function serve(node: FakeNode): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => {
      body += d
    })
    req.on('end', () => {
      const parsed = JSON.parse(body) as
        | { id: number; method: string; params: Record<string, unknown> }
        | { id: number; method: string; params: Record<string, unknown> }[]
      const one = (r: { id: number; method: string; params: Record<string, unknown> }) => {
        try {
          return { jsonrpc: '2.0', id: r.id, result: answer(node, r.method, r.params ?? {}) }
        } catch (err) {
          return { jsonrpc: '2.0', id: r.id, error: { code: -32008, message: (err as Error).message } }
        }
      }
      const out = Array.isArray(parsed) ? parsed.map(one) : one(parsed)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(out))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

function op(
  tx: Uint8Array,
  fields: Partial<HistoryOp> & Pick<HistoryOp, 'outcome' | 'node'>,
): Omit<HistoryOp, 'id'> {
  const decoded = decodeTx(tx)
  return {
    client: 0,
    hash: toHex(txHash(tx)),
    tx: toHex(tx),
    op: decoded.op.type,
    key: decoded.op.key,
    value: decoded.op.type === 'set' ? decoded.op.value : '',
    nonce: decoded.nonce,
    method: 'broadcast_tx_sync',
    start: Date.now() - 1000,
    end: Date.now() - 900,
    ...fields,
  }
}

describe('e2e history checker (against fake nodes)', () => {
  let dir: string
  let genesisPath: string
  const servers: Server[] = []
  // alice sets a=1, a=2; bob sets b=1, then deletes greeting
  const t0 = signTx(alice, 0, { type: 'set', key: 'a', value: '1' })
  const t1 = signTx(bob, 0, { type: 'set', key: 'b', value: '1' })
  const t2 = signTx(alice, 1, { type: 'set', key: 'a', value: '2' })
  const t3 = signTx(bob, 1, { type: 'del', key: 'greeting' })
  const rejected = signTx(alice, 1, { type: 'set', key: 'a', value: 'never' })
  const droppedTx = signTx(bob, 1, { type: 'set', key: 'b', value: 'dropped' })

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pbft-checker-'))
    genesisPath = join(dir, 'genesis.json')
    await saveGenesis(
      genesisPath,
      makeGenesis({
        chainId: CHAIN_ID,
        genesisTime: new Date(GENESIS_TIME),
        validators: validators.signers.map((s) => ({
          peerId: peerIdOfPublicKey(s.publicKey),
          publicKey: s.publicKey,
        })),
        kv: GENESIS_KV,
      }),
    )
  })

  after(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
    rmSync(dir, { recursive: true, force: true })
  })

  async function urls(...nodes: FakeNode[]): Promise<string[]> {
    const out: string[] = []
    for (const n of nodes) {
      const { url, server } = await serve(n)
      servers.push(server)
      out.push(url)
    }
    return out
  }

  async function violationsOf(history: History, rpcUrls: string[]): Promise<string[]> {
    try {
      await checkHistory({
        history,
        rpcUrls,
        genesisPath,
        waitForPendingMs: 300,
        convergeMs: 300,
        log: () => {},
      })
    } catch (err) {
      if (err instanceof CheckerError) return [...err.violations]
      throw err
    }
    return []
  }

  it('passes a clean run and counts what it checked', async () => {
    const a = buildChain([[t0, t1], [t2], [t3]])
    const b = buildChain([[t0, t1], [t2], [t3]])
    a.dropped.set(toHex(txHash(droppedTx)), 'bad_nonce')
    const [ua, ub] = (await urls(a, b)) as [string, string]
    const h = new History()
    h.add(op(t0, { outcome: 'final', node: ua, method: 'broadcast_tx_commit', height: 1, index: 0 }))
    h.add(op(t1, { outcome: 'pending', node: ub }))
    h.add(op(t2, { outcome: 'unknown', node: ua }))
    h.add(op(t3, { outcome: 'pending', node: ua }))
    h.add(op(rejected, { outcome: 'failed', node: ub, error: 'nonce used' }))
    h.add(op(droppedTx, { outcome: 'pending', node: ua }))
    const lines: string[] = []
    const report = await checkHistory({
      history: h,
      rpcUrls: [ua, ub],
      genesisPath,
      waitForPendingMs: 300,
      convergeMs: 300,
      log: (l) => lines.push(l),
    })
    expect(report.violations).to.deep.equal([])
    expect(report).to.include({
      heights: 3,
      nodes: 2,
      blocksChecked: 6,
      certificatesVerified: 6,
      blocksReplayed: 3,
      txsFinal: 4,
      acknowledgedFinal: 1,
      acknowledgedPending: 2,
      droppedWithReason: 1,
      failedAbsent: 1,
      unknownFinal: 1,
    })
    expect(report.keysCompared).to.equal(2 * 3) // greeting, a, b on each node
    expect(report.accountsCompared).to.equal(2 * 2)
    expect(lines).to.have.length(1)
    expect(lines[0]).to.match(/^history check: nodes=2 heights=3 .* violations=0$/)
  })

  it('reports a fork: two certified blocks at one height', async () => {
    const a = buildChain([[t0], [t2]])
    const b = buildChain([[t0], [t1]])
    const v = await violationsOf(new History(), await urls(a, b))
    expect(v.some((x) => x.startsWith('FORK at height 2'))).to.equal(true, v.join('\n'))
  })

  it('reports an acknowledged-final tx that is not in the chain, and a sync-acknowledged one forgotten', async () => {
    const a = buildChain([[t0]])
    const [ua] = (await urls(a)) as [string]
    const h = new History()
    h.add(op(t1, { outcome: 'final', node: ua, method: 'broadcast_tx_commit', height: 1, index: 1 }))
    h.add(op(t2, { outcome: 'pending', node: ua }))
    const v = await violationsOf(h, [ua])
    expect(v.some((x) => x.includes('not in the chain (LOST)'))).to.equal(true, v.join('\n'))
    expect(v.some((x) => x.includes('neither final nor reported dropped'))).to.equal(true, v.join('\n'))
  })

  it('gives a node killed after acknowledging a tx no exception: the tx must be final or dropped', async () => {
    const a = buildChain([[t0]])
    const [ua] = (await urls(a)) as [string]
    const h = new History()
    h.add(op(t2, { outcome: 'pending', node: ua }))
    h.crash(ua)
    const v = await violationsOf(h, [ua])
    expect(v.some((x) => x.includes('neither final nor reported dropped (its node was killed'))).to.equal(
      true,
      v.join('\n'),
    )
  })

  it('reports a receipt at the wrong place, a rejected tx that is final, and a dropped tx that is final', async () => {
    const a = buildChain([[t0, t1]])
    a.dropped.set(toHex(txHash(t1)), 'expired')
    const [ua] = (await urls(a)) as [string]
    const h = new History()
    h.add(op(t0, { outcome: 'final', node: ua, method: 'broadcast_tx_commit', height: 1, index: 1 }))
    h.add(op(t1, { outcome: 'failed', node: ua, error: 'mempool full' }))
    h.add(op(t1, { outcome: 'dropped', node: ua, error: 'expired' }))
    const v = await violationsOf(h, [ua])
    expect(v.some((x) => x.includes('receipt said 1/1, chain has it at 1/0'))).to.equal(true, v.join('\n'))
    expect(v.some((x) => x.includes('rejected (mempool full) but final'))).to.equal(true, v.join('\n'))
    expect(v.some((x) => x.includes('reported dropped (expired) but final'))).to.equal(true, v.join('\n'))
  })

  it('reports two requests that sent byte-identical txs: the chain cannot tell their outcomes apart', async () => {
    const a = buildChain([[t0]])
    const [ua] = (await urls(a)) as [string]
    const clean = new History()
    clean.add(op(t0, { outcome: 'pending', node: ua }))
    expect((await violationsOf(clean, [ua])).filter((x) => x.includes('sent the same tx'))).to.deep.equal([])
    const h = new History()
    h.add(op(t0, { outcome: 'failed', node: ua, error: 'nonce too far ahead' }))
    h.add(op(t0, { outcome: 'pending', node: ua }))
    const v = await violationsOf(h, [ua])
    expect(v.some((x) => x.includes(`ops 0, 1 sent the same tx ${toHex(txHash(t0)).slice(0, 18)}`))).to.equal(
      true,
      v.join('\n'),
    )
  })

  it('reports a tx final twice', async () => {
    const a = buildChain([[t0]])
    // A block repeating t0, certified: invalid (replayed nonce), and a duplicate either way.
    const dup = buildBlock({
      parent: (a.blocks[1] as Block).header,
      txs: [t0],
      appHash: (a.blocks[1] as Block).header.appHash,
      validators,
    })
    a.blocks.push(dup)
    a.certs.push(certify(dup, validators, [0, 1, 2]))
    const v = await violationsOf(new History(), await urls(a))
    expect(v.some((x) => x.includes('is final 2 times: 1/0, 2/0'))).to.equal(true, v.join('\n'))
    expect(v.some((x) => x.includes('fails validation on replay'))).to.equal(true, v.join('\n'))
  })

  it('reports a certificate that does not verify and a broken parent link', async () => {
    const a = buildChain([[t0], [t2]])
    const cert = a.certs[2] as CommitCertificate
    const sig = Uint8Array.from(cert.votes[1]?.signature ?? [])
    sig[0] = (sig[0] as number) ^ 1
    a.certs[2] = {
      ...cert,
      votes: cert.votes.map((vote, i) => (i === 1 ? { ...vote, signature: sig } : vote)),
    }
    const orphan = buildBlock({
      parent: (a.blocks[1] as Block).header,
      txs: [],
      appHash: new Uint8Array(32),
      validators,
    })
    a.blocks.push({ ...orphan, header: { ...orphan.header, height: 3 } })
    a.certs.push(certify(a.blocks[3] as Block, validators, [0, 1, 2]))
    const v = await violationsOf(new History(), await urls(a))
    expect(v.some((x) => x.includes('height 2: certificate does not verify'))).to.equal(true, v.join('\n'))
    expect(v.some((x) => x.includes('height 3: parent_hash'))).to.equal(true, v.join('\n'))
  })

  it('reports a node whose KV state differs from the replay of the chain', async () => {
    const a = buildChain([[t0], [t2]])
    const b = buildChain([[t0], [t2]])
    b.queryOverride.set('a', '1')
    const h = new History()
    h.add(op(t2, { outcome: 'unknown', node: 'x' }))
    const v = await violationsOf(h, await urls(a, b))
    expect(v).to.have.length(1, v.join('\n'))
    expect(v[0]).to.match(/key a = "1" at height 2, replay gives "2"$/)
  })
})
