/**
 * CPU per tx of a node's own tx path, in one process and without the network, so two builds can be
 * compared on a busy machine (docs/PERFORMANCE.md "Changes made, before → after"): CPU time moves
 * far less with other load than `make bench`'s figures do. For each block, fresh signed txs (from
 * `--clients` keys, as bench/load.ts sends them) go through, on a primary and on a replica, each with
 * its own app, mempool and signature cache:
 *
 *   gossip     the real tx-topic validator (createTxValidator) on batches of 100: decode, hash,
 *              verify, mempool admission — how 3 in 4 txs reach a node in `make bench`
 *   build      the primary's buildProposal (reap, execute, tx root)
 *   validate   the replica's full validation of that block (SpeculativeExecutions.validate)
 *   commit     app.apply and the mempool update on both (the committer's in-memory part)
 *
 * Not included: JSON-RPC, libp2p, LevelDB, the consensus engine. Prints µs of CPU per tx per node
 * by stage. `--dist` runs another build's compiled modules (for A/B runs against a checkout):
 *
 *   npx tsx bench/pertx.ts [--dist dist] [--txs 2000] [--blocks 6] [--clients 1000] [--json]
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseBenchArgs } from './args.js'

const { values } = parseBenchArgs({
  options: {
    dist: { type: 'string', default: 'dist' },
    txs: { type: 'string', default: '2000' },
    blocks: { type: 'string', default: '6' },
    clients: { type: 'string', default: '1000' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})
if (values.help) {
  console.log('npx tsx bench/pertx.ts [--dist dist] [--txs 2000] [--blocks 6] [--clients 1000] [--json]')
  process.exit(0)
}
const dist = resolve(values.dist as string)
const perBlock = Number(values.txs)
const blocks = Number(values.blocks)
const clients = Number(values.clients)
if (![perBlock, blocks, clients].every((n) => Number.isInteger(n) && n > 0)) {
  console.error('--txs, --blocks and --clients must be positive integers')
  process.exit(2)
}

// biome-ignore lint/suspicious/noExplicitAny: modules of another build, loaded by path
const load = async (path: string): Promise<any> => await import(pathToFileURL(`${dist}/${path}`).href)
const [chain, txSign, ed, app, mempool, validators, genesis, speculative, builder, txValidation] =
  await Promise.all([
    load('codec/chain.js'),
    load('codec/tx-sign.js'),
    load('crypto/ed25519.js'),
    load('app/kv-app.js'),
    load('mempool/mempool.js'),
    load('chain/validators.js'),
    load('chain/genesis-block.js'),
    load('node/speculative.js'),
    load('node/block-builder.js'),
    load('network/validation/tx.js'),
  ])

const CHAIN_ID = 'pertx-bench'
const GENESIS_MS = Date.now() - 60_000
const seed = (label: string): Uint8Array => {
  const s = new Uint8Array(32)
  s.set(new TextEncoder().encode(label).subarray(0, 32))
  return s
}
const keys = Array.from({ length: clients }, (_, i) => new ed.Ed25519Signer(seed(`pertx-${i}`)))
const validatorKeys = Array.from({ length: 4 }, (_, i) => new ed.Ed25519Signer(seed(`pertx-validator-${i}`)))
const set = new validators.ValidatorSet(
  validatorKeys.map((k: { publicKey: Uint8Array }, i: number) => ({
    publicKey: k.publicKey,
    peerId: `peer-${i}`,
  })),
)

function makeNode() {
  const a = app.KvApp.fromGenesis(CHAIN_ID, {})
  const pool = new mempool.Mempool({
    chainId: CHAIN_ID,
    state: a,
    now: () => Date.now(),
    options: { maxTxs: 100_000, maxBytes: 1 << 30 },
    signatureCache: a.signatures,
  })
  const validate = txValidation.createTxValidator({
    chainId: CHAIN_ID,
    mempool: pool,
    signatures: a.signatures,
  })
  const spec = new speculative.SpeculativeExecutions(a, {
    chainId: CHAIN_ID,
    validators: set,
    maxClockDriftMs: speculative.MAX_CLOCK_DRIFT_MS,
  })
  const g = genesis.makeGenesisBlock(CHAIN_ID, GENESIS_MS, a.appHash())
  const tip = { height: 0, hash: chain.blockHash(g.header), header: g.header, appHash: a.appHash() }
  return { app: a, pool, validate, spec, tip }
}
type Node = ReturnType<typeof makeNode>

const primary = makeNode()
const replica = makeNode()
const stages = ['gossip', 'build', 'validate', 'commit'] as const
type Stage = (typeof stages)[number]
const cpu: Record<Stage, number> = { gossip: 0, build: 0, validate: 0, commit: 0 }
const timed = async <T>(stage: Stage, f: () => T | Promise<T>): Promise<T> => {
  const t = process.cpuUsage()
  const out = await f()
  const d = process.cpuUsage(t)
  cpu[stage] += d.user + d.system
  return out
}

const nonces = new Array<number>(clients).fill(0)
let next = 0
let measuredTxs = 0
for (let b = 0; b <= blocks; b++) {
  // fresh txs for this block, signed before the clock (the load process signs in `make bench`)
  const txs: Uint8Array[] = []
  for (let i = 0; i < perBlock; i++) {
    const c = next++ % clients
    const nonce = nonces[c] as number
    nonces[c] = nonce + 1
    txs.push(
      txSign.signTx(keys[c], {
        chainId: CHAIN_ID,
        nonce,
        op: { type: 'set', key: `bench/${c}`, value: `value ${nonce} of client ${c} ${'x'.repeat(24)}` },
      }),
    )
  }
  const batches: Uint8Array[] = []
  for (let i = 0; i < txs.length; i += 100) batches.push(txSign.encodeTxBatch(txs.slice(i, i + 100)))
  if (b === 0) cpu.gossip = cpu.build = cpu.validate = cpu.commit = 0 // block 0 warms up
  for (const node of [primary, replica]) {
    await timed('gossip', async () => {
      for (const batch of batches) {
        const verdict = await node.validate(batch, 'peer')
        if (verdict !== 'accept') throw new Error(`tx batch not accepted: ${verdict}`)
      }
    })
  }
  const height = primary.tip.height + 1
  const built = await timed('build', () =>
    builder.buildProposal({
      mempool: primary.pool,
      app: primary.app,
      limits: { maxBlockTxs: perBlock, maxBlockBytes: 8 << 20 },
      chainId: CHAIN_ID,
      height,
      view: 0,
      proposer: set.primary(0).publicKey,
      parentHash: primary.tip.hash,
      parentHeader: primary.tip.header,
      appHash: primary.tip.appHash,
      now: Date.now(),
    }),
  )
  if (built === null || built.execution === undefined || built.block.txs.length !== perBlock)
    throw new Error('the primary built no full block')
  const verdict = await timed('validate', () =>
    replica.spec.validate(replica.tip, built.block, [], Date.now()),
  )
  if (!verdict.ok) throw new Error(`the replica rejected the block: ${verdict.reason}`)
  const commit = (
    node: Node,
    execution: { results: readonly { hash: Uint8Array }[]; appHash: Uint8Array },
  ) => {
    node.app.apply(execution)
    node.spec.pruneTo(height)
    node.pool.update(execution.results.map((r) => r.hash))
    node.tip = {
      height,
      hash: chain.blockHash(built.block.header),
      header: built.block.header,
      appHash: node.app.appHash(),
    }
  }
  await timed('commit', () => {
    commit(primary, built.execution)
    commit(replica, verdict.execution)
  })
  if (primary.pool.size !== 0 || replica.pool.size !== 0)
    throw new Error('txs left in a mempool after commit')
  if (b > 0) measuredTxs += perBlock
}

// per tx per node: gossip and commit ran on both nodes, build on one, validate on the other
const perTxPerNode = {
  gossip: cpu.gossip / 2 / measuredTxs,
  build: cpu.build / measuredTxs,
  validate: cpu.validate / measuredTxs,
  commit: cpu.commit / 2 / measuredTxs,
}
const node = {
  primary: perTxPerNode.gossip + perTxPerNode.build + perTxPerNode.commit,
  replica: perTxPerNode.gossip + perTxPerNode.validate + perTxPerNode.commit,
}
if (values.json)
  console.log(JSON.stringify({ dist, measuredTxs, perTxPerNodeUs: perTxPerNode, nodeUs: node }))
else {
  console.log(`${dist}: ${measuredTxs} txs in ${blocks} blocks of ${perBlock}, µs of CPU per tx per node`)
  for (const s of stages) console.log(`  ${s.padEnd(9)} ${perTxPerNode[s].toFixed(1)}`)
  console.log(`  primary   ${node.primary.toFixed(1)}   replica ${node.replica.toFixed(1)}`)
}
