import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import {
  ConsensusWal,
  type WalEntry,
  WalIntegrityError,
  type WalLoadResult,
  type WalStorage,
} from '../../../src/chain/consensus-wal.js'
import { merkleRoot } from '../../../src/chain/merkle.js'
import { ChainStore } from '../../../src/chain/store.js'
import { blockHash, encodeBlock, txHash } from '../../../src/codec/chain.js'
import {
  decodeWalRecord,
  encodeWalRecord,
  type PrePrepareMsg,
  type WalRecord,
} from '../../../src/codec/consensus.js'
import { CodecError } from '../../../src/codec/errors.js'
import type { Block } from '../../../src/codec/types.js'
import type { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../../src/crypto/hash.js'
import {
  GENESIS_HASH,
  makeBlock,
  makeSigners,
  signCommit,
  signPrePrepare,
  signPrepare,
  signReject,
} from '../consensus/harness.js'

const signers = makeSigners(4)

function signer(i: number): Ed25519Signer {
  return signers[i % signers.length] as Ed25519Signer
}

function prePrepare(view: number, height: number): WalRecord {
  const block = makeBlock(signer(view), view, height, GENESIS_HASH, view)
  return { kind: 'preprepare', msg: signPrePrepare(signer(view), view % 4, view, height, block) }
}

function prepare(view: number, height: number): WalRecord {
  const pp = prePrepare(view, height)
  if (pp.kind !== 'preprepare') throw new Error('unreachable')
  const msg = signPrepare(signer(1), 1, view, height, blockHash(pp.msg.block.header))
  return { kind: 'prepare', prePrepare: pp.msg, msg }
}

function reject(view: number, height: number): WalRecord {
  const pp = prePrepare(view, height)
  if (pp.kind !== 'preprepare') throw new Error('unreachable')
  return { kind: 'reject', msg: signReject(signer(2), 2, view, height, blockHash(pp.msg.block.header)) }
}

/** A block of `n` txs of ~100 bytes each. */
function bigBlock(height: number, n: number): Block {
  const base = makeBlock(signer(0), 0, height, GENESIS_HASH, 0)
  const txs = Array.from({ length: n }, (_, i) =>
    new TextEncoder().encode(`tx-${height}-${i}-`.padEnd(100, 'x')),
  )
  return { header: { ...base.header, txRoot: merkleRoot(txs.map(txHash)) }, txs }
}

function commit(pp: PrePrepareMsg): WalRecord {
  const hash = blockHash(pp.block.header)
  const prepares = [1, 2].map((i) => ({
    validator: i,
    signature: signPrepare(signer(i), i, pp.view, pp.height, hash).signature,
  }))
  return {
    kind: 'commit',
    prepared: {
      view: pp.view,
      height: pp.height,
      blockHash: hash,
      prePrepareSignature: pp.signature,
      prepares,
      block: pp.block,
    },
    msg: signCommit(signer(1), 1, pp.view, pp.height, hash),
  }
}

/** A synchronous in-memory storage that logs every write and can fail one. */
class LoggedStorage implements WalStorage {
  readonly entries = new Map<string, Uint8Array>()
  readonly log: string[] = []
  failOn: 'put' | 'delete' | null = null

  walEntries(): WalEntry[] {
    return [...this.entries].map(([key, value]) => ({ key, value }))
  }

  walPut(entries: readonly WalEntry[]): void {
    if (this.failOn === 'put') throw new Error('disk full')
    this.log.push(`put ${entries.map((e) => e.key.slice(0, 8)).join(',')}`)
    for (const e of entries) this.entries.set(e.key, e.value)
  }

  walDelete(keys: readonly string[]): void {
    if (this.failOn === 'delete') throw new Error('disk full')
    this.log.push(`delete ${keys.length}`)
    for (const k of keys) this.entries.delete(k)
  }
}

describe('chain/consensus-wal: ConsensusWal', () => {
  it('appends and reloads typed records, synchronously over a synchronous storage', () => {
    const storage = new LoggedStorage()
    const wal = new ConsensusWal(storage)
    expect(wal.load()).to.deep.equal({ records: [], corrupt: [] })
    const r = prePrepare(0, 1)
    expect(wal.append(r)).to.equal(undefined) // not a promise: the simulator steps synchronously
    expect(wal.append(r)).to.equal(undefined) // the same record twice is one entry
    expect(wal.size).to.equal(1)
    // the record and, apart, its block
    expect([...storage.entries.keys()].map((k) => k[0]).sort()).to.deep.equal(['b', 'c'])
    const loaded = new ConsensusWal(storage).load()
    expect(loaded).to.deep.equal({ records: [r], corrupt: [] })
  })

  it('retain writes what is missing first, then deletes the rest', () => {
    const storage = new LoggedStorage()
    const wal = new ConsensusWal(storage)
    wal.load()
    const [a, b, c] = [prePrepare(0, 1), prePrepare(0, 2), prepare(0, 3)]
    wal.append(a as WalRecord)
    wal.append(b as WalRecord)
    storage.log.length = 0
    wal.retain([b as WalRecord, c as WalRecord])
    expect(storage.log.map((l) => l.split(' ')[0])).to.deep.equal(['put', 'delete'])
    expect(wal.size).to.equal(2)
    const reloaded = new ConsensusWal(storage).load() as { records: WalRecord[] }
    expect(reloaded.records.map((r) => encodeWalRecord(r))).to.have.deep.members([
      encodeWalRecord(b as WalRecord),
      encodeWalRecord(c as WalRecord),
    ])
  })

  it('a crash between the writes and the deletes leaves a superset: no record is lost', () => {
    const storage = new LoggedStorage()
    const wal = new ConsensusWal(storage)
    wal.load()
    const [a, b] = [prePrepare(0, 1), prepare(0, 2)]
    wal.append(a as WalRecord)
    storage.failOn = 'delete'
    expect(() => wal.retain([b as WalRecord])).to.throw('disk full')
    const after = new ConsensusWal(storage).load() as { records: WalRecord[] }
    expect(after.records).to.have.length(2)
  })

  it('skips undecodable entries, reports them, and deletes them at the next retain', () => {
    const storage = new LoggedStorage()
    storage.entries.set('torn', new Uint8Array([1, 2, 3]))
    const wal = new ConsensusWal(storage)
    const loaded = wal.load() as { records: WalRecord[]; corrupt: { key: string }[] }
    expect(loaded.records).to.deep.equal([])
    expect(loaded.corrupt.map((c) => c.key)).to.deep.equal(['torn'])
    wal.retain([prePrepare(0, 1)])
    expect([...storage.entries.keys()]).to.not.include('torn')
  })

  it('a torn write (every prefix of each entry of a batch, written in order) is reported corrupt, never loaded', () => {
    const records = [prePrepare(0, 1), prepare(1, 2)]
    for (const rec of records) {
      const batches: WalEntry[][] = []
      const full = new LoggedStorage()
      full.walPut = (entries) => {
        batches.push([...entries])
      }
      new ConsensusWal(full).load()
      new ConsensusWal(full).append(rec)
      const [batch] = batches as [WalEntry[]]
      // the block first, then the record that names it
      expect(batch.map((e) => e.key[0])).to.deep.equal(['b', 'c'])
      for (const [at, { key, value }] of batch.entries()) {
        for (let cut = 0; cut < value.length; cut += at === 0 ? 7 : 1) {
          if (at === 1) {
            // decodeWalRecord alone rejects the prefix with a codec error, not a crash
            expect(() => decodeWalRecord(value.slice(0, cut)), `prefix ${cut}`).to.throw(CodecError)
          }
          const storage = new LoggedStorage()
          for (const e of batch.slice(0, at)) storage.entries.set(e.key, e.value)
          storage.entries.set(key, value.slice(0, cut))
          const wal = new ConsensusWal(storage)
          const loaded = wal.load() as { records: WalRecord[]; corrupt: { key: string; error: string }[] }
          expect(loaded.records, `entry ${at} prefix ${cut}`).to.deep.equal([])
          expect(loaded.corrupt.map((c) => c.key)).to.deep.equal([key])
          expect(loaded.corrupt[0]?.error).to.match(/does not hash to its key/)
          // the engine signs the same vote again after the restart: the whole entries replace the torn one
          wal.append(rec)
          const again = new ConsensusWal(storage).load() as WalLoadResult
          expect(again).to.deep.equal({ records: [rec], corrupt: [] })
        }
      }
    }
  })

  it('compact: a block named by several records is written once, and each record keeps only its header', () => {
    const storage = new LoggedStorage()
    const wal = new ConsensusWal(storage)
    wal.load()
    const big = bigBlock(1, 200)
    const bigBytes = encodeBlock(big).length
    const pp = signPrePrepare(signer(0), 0, 0, 1, big)
    const hash = blockHash(big.header)
    const prep: WalRecord = { kind: 'prepare', prePrepare: pp, msg: signPrepare(signer(1), 1, 0, 1, hash) }
    wal.append(prep)
    const cm = commit(pp)
    wal.append(cm)
    const blocks = [...storage.entries].filter(([k]) => k.startsWith('b'))
    expect(blocks).to.have.length(1)
    expect(blocks[0]?.[1]).to.have.length(bigBytes)
    for (const [k, v] of storage.entries) if (k.startsWith('c')) expect(v.length).to.be.below(bigBytes / 20)
    // the second record's batch holds only the record
    expect(storage.log.map((l) => l.split(',').length)).to.deep.equal([2, 1])
    // a retain after a commit rewrites nothing that is there
    storage.log.length = 0
    wal.retain([prep, cm])
    expect(storage.log).to.deep.equal([])
    // both come back with the whole block
    const loaded = new ConsensusWal(storage).load() as WalLoadResult
    expect(loaded).to.deep.equal({ records: [prep, cm], corrupt: [] })
  })

  it('two blocks with one header but different txs (a faulty primary’s) stay apart: each record gets its own', () => {
    const storage = new LoggedStorage()
    const wal = new ConsensusWal(storage)
    wal.load()
    const valid = bigBlock(1, 3)
    const forged: Block = { header: valid.header, txs: [new TextEncoder().encode('not the tx root')] }
    expect(blockHash(forged.header)).to.deep.equal(blockHash(valid.header))
    // the forged block first (a NEW-VIEW's re-proposal, say), then this replica's PREPARE of the valid one
    const nvLike: WalRecord = { kind: 'preprepare', msg: signPrePrepare(signer(0), 0, 0, 1, forged) }
    const pp = signPrePrepare(signer(0), 0, 1, 1, valid)
    const prep: WalRecord = {
      kind: 'prepare',
      prePrepare: pp,
      msg: signPrepare(signer(1), 1, 1, 1, blockHash(valid.header)),
    }
    wal.append(nvLike)
    wal.append(prep)
    expect([...storage.entries.keys()].filter((k) => k.startsWith('b'))).to.have.length(2)
    const loaded = new ConsensusWal(storage).load() as WalLoadResult
    expect(loaded.corrupt).to.deep.equal([])
    const byKind = new Map(loaded.records.map((r) => [r.kind, r]))
    expect((byKind.get('prepare') as Extract<WalRecord, { kind: 'prepare' }>).prePrepare.block).to.deep.equal(
      valid,
    )
    expect((byKind.get('preprepare') as Extract<WalRecord, { kind: 'preprepare' }>).msg.block).to.deep.equal(
      forged,
    )
  })

  it('retain deletes a block entry with the last record that names it, records first', () => {
    const storage = new LoggedStorage()
    const wal = new ConsensusWal(storage)
    wal.load()
    const [a, b] = [prePrepare(0, 1), prePrepare(0, 2)]
    wal.append(a)
    wal.append(b)
    expect(storage.entries.size).to.equal(4)
    const deleted: string[][] = []
    storage.walDelete = (keys) => {
      deleted.push([...keys])
      for (const k of keys) storage.entries.delete(k)
    }
    wal.retain([b])
    expect(deleted.map((keys) => keys.map((k) => k[0]))).to.deep.equal([['c', 'b']])
    expect(storage.entries.size).to.equal(2)
    expect(wal.size).to.equal(1)
    expect((new ConsensusWal(storage).load() as WalLoadResult).records).to.deep.equal([b])
  })

  it('a record whose block entry is missing or corrupt fails the load (a sent vote is never skipped)', () => {
    const rec = prePrepare(0, 1)
    for (const damage of ['missing', 'flipped'] as const) {
      const storage = new LoggedStorage()
      const wal = new ConsensusWal(storage)
      wal.load()
      wal.append(rec)
      const [blockKey, blockValue] = [...storage.entries].find(([k]) => k.startsWith('b')) as [
        string,
        Uint8Array,
      ]
      if (damage === 'missing') storage.entries.delete(blockKey)
      else {
        const flipped = blockValue.slice()
        flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1
        storage.entries.set(blockKey, flipped)
      }
      expect(() => new ConsensusWal(storage).load(), damage).to.throw(WalIntegrityError, /not in the WAL/)
    }
  })

  it('loads records of the earlier format (blocks inline) and rewrites them compact at the next retain', () => {
    const storage = new LoggedStorage()
    const [a, b] = [prePrepare(0, 1), prepare(0, 2)]
    for (const r of [a, b]) {
      const bytes = encodeWalRecord(r)
      storage.entries.set(toHex(sha256(bytes)).slice(2), bytes)
    }
    const wal = new ConsensusWal(storage)
    expect(wal.load()).to.deep.equal({ records: [a, b], corrupt: [] })
    expect(wal.size).to.equal(2)
    wal.retain([a, b])
    expect([...storage.entries.keys()].map((k) => k[0]).sort()).to.deep.equal(['b', 'b', 'c', 'c'])
    expect(new ConsensusWal(storage).load()).to.deep.equal({ records: [a, b], corrupt: [] })
  })

  it('a record under a key that is not its hash is corrupt even when it decodes', () => {
    const storage = new LoggedStorage()
    const a = prePrepare(0, 1)
    storage.entries.set('0'.repeat(64), encodeWalRecord(a))
    const loaded = new ConsensusWal(storage).load() as { records: WalRecord[]; corrupt: { key: string }[] }
    expect(loaded.records).to.deep.equal([])
    expect(loaded.corrupt).to.have.length(1)
  })

  it('over LevelDB on disk: a garbage or half record is reported corrupt after a reopen, retain removes it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pbft-wal-'))
    try {
      let store = await ChainStore.open(join(dir, 'data'))
      const a = prePrepare(0, 1)
      const b = encodeWalRecord(prepare(0, 2))
      const tornKey = toHex(sha256(b)).slice(2)
      try {
        const wal = new ConsensusWal(store)
        await wal.load()
        await wal.append(a)
        await store.walPut([{ key: tornKey, value: b.slice(0, Math.floor(b.length / 2)) }])
        await store.walPut([{ key: 'not-a-hash', value: new Uint8Array([0x20, 0xff, 0x00]) }])
      } finally {
        await store.close()
      }
      store = await ChainStore.open(join(dir, 'data'))
      try {
        const again = new ConsensusWal(store)
        const loaded = await again.load()
        expect(loaded.records.map((r) => encodeWalRecord(r))).to.deep.equal([encodeWalRecord(a)])
        expect(loaded.corrupt.map((c) => c.key).sort()).to.deep.equal([tornKey, 'not-a-hash'].sort())
        await again.retain([a])
        const after = await new ConsensusWal(store).load()
        expect(after.corrupt).to.deep.equal([])
        expect(after.records).to.have.length(1)
      } finally {
        await store.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('loads in write order (view, then kind, then height), whatever the storage order', () => {
    const records = [prepare(1, 2), prePrepare(1, 2), prePrepare(0, 3), prepare(0, 1)]
    const storage = new LoggedStorage()
    const wal = new ConsensusWal(storage)
    wal.load()
    for (const r of records) wal.append(r)
    const got = (new ConsensusWal(storage).load() as { records: WalRecord[] }).records
    expect(got.map((r) => `${r.kind}/${'msg' in r ? (r.msg as { view: number }).view : ''}`)).to.deep.equal([
      'preprepare/0',
      'prepare/0',
      'preprepare/1',
      'prepare/1',
    ])
  })

  it('round-trips a REJECT record, and loads it in write order next to the votes of its view', () => {
    const storage = new LoggedStorage()
    const wal = new ConsensusWal(storage)
    wal.load()
    const records = [prePrepare(1, 1), reject(1, 2), reject(0, 1), prepare(0, 2)]
    for (const r of records) wal.append(r)
    const got = (new ConsensusWal(storage).load() as { records: WalRecord[] }).records
    expect(got.map((r) => encodeWalRecord(r))).to.deep.equal(
      [reject(0, 1), prepare(0, 2), prePrepare(1, 1), reject(1, 2)].map((r) => encodeWalRecord(r)),
    )
    expect(got[0]).to.deep.equal(reject(0, 1))
  })

  it('runs over the node LevelDB store (asynchronous) with the same results', async () => {
    const store = await ChainStore.memory()
    try {
      const wal = new ConsensusWal(store)
      await wal.load()
      const [a, b] = [prePrepare(0, 1), prepare(0, 2)]
      await wal.append(a as WalRecord)
      await wal.retain([b as WalRecord])
      const again = await new ConsensusWal(store).load()
      expect(again.records.map((r) => encodeWalRecord(r))).to.deep.equal([encodeWalRecord(b as WalRecord)])
    } finally {
      await store.close()
    }
  })
})
