/**
 * `make bench-wal` (docs/PERFORMANCE.md "Compact WAL"): what a backup's consensus WAL costs per
 * height, over the node's own LevelDB store on disk. Each height is what the engine asks of the WAL
 * while K heights are in flight: append the PREPARE record (the accepted PRE-PREPARE inside), append
 * the COMMIT record (the prepared certificate with its block), then, once the lowest open height is
 * final, `retain` the records of the K - 1 heights still open (prune_wal). Reports CPU and wall time
 * per height and the bytes written, so builds can be compared (run each build in turn, interleaved).
 *
 *   npx tsx bench/wal.ts [--heights 200] [--txs 2000] [--tx-bytes 150] [--depth 4]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { ConsensusWal, type WalEntry, type WalStorage } from '../src/chain/consensus-wal.js'
import { merkleRoot } from '../src/chain/merkle.js'
import { ChainStore } from '../src/chain/store.js'
import { blockHash, txHash } from '../src/codec/chain.js'
import type { WalRecord } from '../src/codec/consensus.js'
import type { Block } from '../src/codec/types.js'
import {
  GENESIS_HASH,
  makeBlock,
  makeSigners,
  signCommit,
  signPrePrepare,
  signPrepare,
} from '../test/unit/consensus/harness.js'
import { parseBenchArgs } from './args.js'

const { values: args } = parseBenchArgs({
  options: {
    heights: { type: 'string', default: '200' },
    txs: { type: 'string', default: '2000' },
    'tx-bytes': { type: 'string', default: '150' },
    depth: { type: 'string', default: '4' },
  },
})
const heights = Number(args.heights)
const txCount = Number(args.txs)
const txBytes = Number(args['tx-bytes'])
const depth = Number(args.depth)
const signers = makeSigners(4)
const s = (i: number) => signers[i] as (typeof signers)[number]

function block(height: number, parent: Uint8Array): Block {
  const base = makeBlock(s(0), 0, height, parent, 0)
  const txs = Array.from({ length: txCount }, (_, i) => {
    const tx = new Uint8Array(txBytes)
    new DataView(tx.buffer).setUint32(0, height)
    new DataView(tx.buffer).setUint32(4, i)
    return tx
  })
  return { header: { ...base.header, txRoot: merkleRoot(txs.map(txHash)) }, txs }
}

/** The PREPARE and COMMIT records replica 1 writes for `b` in view 0. */
function records(b: Block): [WalRecord, WalRecord] {
  const h = b.header.height
  const pp = signPrePrepare(s(0), 0, 0, h, b)
  const hash = blockHash(b.header)
  const prepare = signPrepare(s(1), 1, 0, h, hash)
  const prepares = [1, 2].map((i) => ({
    validator: i,
    signature: signPrepare(s(i), i, 0, h, hash).signature,
  }))
  return [
    { kind: 'prepare', prePrepare: pp, msg: prepare },
    {
      kind: 'commit',
      prepared: {
        view: 0,
        height: h,
        blockHash: hash,
        prePrepareSignature: pp.signature,
        prepares,
        block: b,
      },
      msg: signCommit(s(1), 1, 0, h, hash),
    },
  ]
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pbft-bench-wal-'))
  const store = await ChainStore.open(join(dir, 'data'))
  let bytes = 0
  // Counts the bytes put. Written against both storage shapes (one entry per put before the compact
  // WAL, a batch of entries since), so the same file measures a build from before the change too.
  const put = store.walPut.bind(store) as (...a: unknown[]) => Promise<void>
  const counted = {
    walEntries: () => store.walEntries(),
    walPut: (...a: unknown[]) => {
      const entries = Array.isArray(a[0])
        ? (a[0] as WalEntry[])
        : [{ key: a[0] as string, value: a[1] as Uint8Array }]
      for (const e of entries) bytes += e.key.length + e.value.length
      return put(...a)
    },
    walDelete: (keys: readonly string[]) => store.walDelete(keys),
  } as unknown as WalStorage
  try {
    // blocks made ahead: their signing is not the WAL's cost
    const all: [WalRecord, WalRecord][] = []
    let parent = GENESIS_HASH
    for (let h = 1; h <= heights + depth; h++) {
      const b = block(h, parent)
      all.push(records(b))
      parent = blockHash(b.header)
    }
    const wal = new ConsensusWal(counted)
    await wal.load()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    for (let h = 1; h <= heights; h++) {
      const [prepare, commit] = all[h - 1] as [WalRecord, WalRecord]
      await wal.append(prepare)
      await wal.append(commit)
      // height h final: keep the records of the heights still open (h + 1 .. h + depth - 1)
      const open = all.slice(h, h + depth - 1).flat()
      await wal.retain(open)
    }
    const wallMs = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const cpuMs = (cpu.user + cpu.system) / 1000
    console.log(
      JSON.stringify({
        heights,
        txs: txCount,
        txBytes,
        depth,
        cpuMsPerHeight: +(cpuMs / heights).toFixed(3),
        wallMsPerHeight: +(wallMs / heights).toFixed(3),
        kbWrittenPerHeight: +(bytes / heights / 1024).toFixed(1),
        walRecordsAtEnd: wal.size,
      }),
    )
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
