import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { ConsensusWal, type WalEntry, type WalStorage } from '../../../src/chain/consensus-wal.js'
import { ChainStore } from '../../../src/chain/store.js'
import { blockHash } from '../../../src/codec/chain.js'
import { decodeWalRecord, encodeWalRecord, type WalRecord } from '../../../src/codec/consensus.js'
import { CodecError } from '../../../src/codec/errors.js'
import type { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../../src/crypto/hash.js'
import {
  GENESIS_HASH,
  makeBlock,
  makeSigners,
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

/** A synchronous in-memory storage that logs every write and can fail one. */
class LoggedStorage implements WalStorage {
  readonly entries = new Map<string, Uint8Array>()
  readonly log: string[] = []
  failOn: 'put' | 'delete' | null = null

  walEntries(): WalEntry[] {
    return [...this.entries].map(([key, value]) => ({ key, value }))
  }

  walPut(key: string, value: Uint8Array): void {
    if (this.failOn === 'put') throw new Error('disk full')
    this.log.push(`put ${key.slice(0, 8)}`)
    this.entries.set(key, value)
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
    expect(storage.entries.size).to.equal(1)
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

  it('a torn write (every prefix of a record under its key) is reported corrupt, never loaded', () => {
    const records = [prePrepare(0, 1), prepare(1, 2)]
    for (const rec of records) {
      const full = new LoggedStorage()
      new ConsensusWal(full).load()
      new ConsensusWal(full).append(rec)
      const [[key, bytes]] = [...full.entries] as [[string, Uint8Array]]
      for (let cut = 0; cut < bytes.length; cut++) {
        // decodeWalRecord alone rejects the prefix with a codec error, not a crash
        expect(() => decodeWalRecord(bytes.slice(0, cut)), `prefix ${cut}`).to.throw(CodecError)
        const storage = new LoggedStorage()
        storage.entries.set(key, bytes.slice(0, cut))
        const wal = new ConsensusWal(storage)
        const loaded = wal.load() as { records: WalRecord[]; corrupt: { key: string; error: string }[] }
        expect(loaded.records, `prefix ${cut}`).to.deep.equal([])
        expect(loaded.corrupt.map((c) => c.key)).to.deep.equal([key])
        expect(loaded.corrupt[0]?.error).to.match(/does not hash to its key/)
        // the engine signs the same vote again after the restart: the whole record replaces the torn one
        wal.append(rec)
        expect((new ConsensusWal(storage).load() as { records: WalRecord[] }).records).to.deep.equal([rec])
      }
    }
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
        await store.walPut(tornKey, b.slice(0, Math.floor(b.length / 2)))
        await store.walPut('not-a-hash', new Uint8Array([0x20, 0xff, 0x00]))
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
