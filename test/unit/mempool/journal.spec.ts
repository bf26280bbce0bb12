import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { Bucket, prefixed } from '../../../src/chain/buckets.js'
import { MemoryBackend } from '../../../src/chain/kv-backend.js'
import { ChainStore, type JournalEntry, type JournalWrite } from '../../../src/chain/store.js'
import { CodecError } from '../../../src/codec/errors.js'
import { toHex } from '../../../src/crypto/hash.js'
import {
  decodeJournalRecord,
  encodeJournalRecord,
  type JournalStore,
  MempoolJournal,
} from '../../../src/mempool/journal.js'
import { Mempool } from '../../../src/mempool/mempool.js'
import { CHAIN_ID, FakeClock, FakeNonces, signedTx, signer, txHash } from './fixtures.js'

const alice = signer(1)
const bob = signer(2)

/** A node's view after (re)opening: store, pool, journal and the dropped history, reloaded. */
interface Opened {
  store: ChainStore
  pool: Mempool
  journal: MempoolJournal
  dropped: Map<string, string>
  warnings: string[]
  report: Awaited<ReturnType<MempoolJournal['load']>>
}

async function open(
  dir: string,
  nonces: FakeNonces,
  clock: FakeClock,
  opts: { committed?: Set<string>; ttlMs?: number; maxDropped?: number } = {},
): Promise<Opened> {
  const store = await ChainStore.open(dir)
  const warnings: string[] = []
  const dropped = new Map<string, string>()
  let journal: MempoolJournal | undefined
  const pool = new Mempool({
    chainId: CHAIN_ID,
    state: nonces,
    now: clock.now,
    options: { ttlMs: opts.ttlMs ?? 60_000 },
    onDrop: (hash, reason, tx) => {
      dropped.set(toHex(hash), reason)
      journal?.dropped(hash, reason, tx)
    },
  })
  journal = new MempoolJournal(store, {
    maxDropped: opts.maxDropped ?? 100,
    now: clock.now,
    log: { warn: (_obj, msg) => warnings.push(msg) },
  })
  const report = await journal.load({
    isCommitted: async (hash) => opts.committed?.has(toHex(hash)) === true,
    readmit: (tx, at) => void pool.add(tx, at),
    restoreDropped: (hash, reason) => dropped.set(toHex(hash), reason),
  })
  return { store, pool, journal, dropped, warnings, report }
}

async function close(o: Opened): Promise<void> {
  await o.journal.close()
  await o.store.close()
}

/** Admits like the node's RPC path: mempool, then journal; resolves once durable. */
async function admit(o: Opened, tx: Uint8Array): Promise<Uint8Array> {
  const { hash } = o.pool.add(tx)
  await o.journal.recordPending(hash, tx, o.pool.admittedAt(hash) ?? 0)
  return hash
}

describe('mempool/journal', () => {
  let dir: string
  let nonces: FakeNonces
  let clock: FakeClock

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pbft-journal-'))
    nonces = new FakeNonces()
    clock = new FakeClock()
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  describe('record codec', () => {
    it('round-trips pending and dropped records, rejects garbage and trailing bytes', () => {
      const tx = signedTx(alice, 0)
      const pending = { kind: 'pending', admittedAt: 123, tx } as const
      const dropped = { kind: 'dropped', admittedAt: 1, droppedAt: 2, reason: 'expired', tx } as const
      expect(decodeJournalRecord(encodeJournalRecord(pending))).to.deep.equal(pending)
      expect(decodeJournalRecord(encodeJournalRecord(dropped))).to.deep.equal(dropped)
      const bytes = encodeJournalRecord(pending)
      expect(() => decodeJournalRecord(bytes.subarray(0, bytes.length - 1))).to.throw(CodecError)
      expect(() => decodeJournalRecord(new Uint8Array([...bytes, 0]))).to.throw(CodecError)
      expect(() => decodeJournalRecord(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0, 0]))).to.throw(/record kind 9/)
    })

    it('bounds a long reason to what the decoder accepts', () => {
      const tx = signedTx(alice, 0)
      const rec = encodeJournalRecord({
        kind: 'dropped',
        admittedAt: 1,
        droppedAt: 2,
        reason: 'é'.repeat(400),
        tx,
      })
      const back = decodeJournalRecord(rec)
      expect(back.kind === 'dropped' && Buffer.byteLength(back.reason) <= 256).to.equal(true)
    })
  })

  it('a pending tx survives a reopen: re-admitted with its admission time, so its TTL still counts', async () => {
    const a = await open(dir, nonces, clock, { ttlMs: 60_000 })
    const t0 = signedTx(alice, 0)
    const t1 = signedTx(bob, 0)
    const h0 = await admit(a, t0)
    clock.ms += 10_000
    const h1 = await admit(a, t1)
    // No clean close: what is durable is what a SIGKILL leaves.
    await a.store.close()

    clock.ms += 45_000
    const b = await open(dir, nonces, clock, { ttlMs: 60_000 })
    expect(b.report).to.include({ readmitted: 2, failed: 0, corrupt: 0 })
    expect(b.pool.has(h0) && b.pool.has(h1)).to.equal(true)
    expect(b.pool.admittedAt(h0)).to.equal(1_000_000)
    expect(b.pool.list(10).map((t) => toHex(txHash(t)))).to.deep.equal([toHex(h0), toHex(h1)])
    // 60 s after t0's first admission it expires, t1 (admitted 10 s later) does not.
    clock.ms += 6_000
    expect(b.pool.evictExpired().map((d) => toHex(d.hash))).to.deep.equal([toHex(h0)])
    await close(b)

    // The expiry was journaled: after another reopen t0 is dropped (expired), t1 pending.
    const c = await open(dir, nonces, clock, { ttlMs: 60_000 })
    expect(c.dropped.get(toHex(h0))).to.equal('expired')
    expect(c.pool.has(h0)).to.equal(false)
    expect(c.pool.has(h1)).to.equal(true)
    await close(c)
  })

  it('a committed tx loses its record (at commit, and at reload if the delete was lost)', async () => {
    const a = await open(dir, nonces, clock)
    const h0 = await admit(a, signedTx(alice, 0))
    const h1 = await admit(a, signedTx(alice, 1))
    const h2 = await admit(a, signedTx(alice, 2))
    nonces.set(alice.publicKey, 1)
    a.pool.update([h0])
    a.journal.committed([h0, txHash(signedTx(bob, 0))])
    await a.journal.flush()
    expect((await a.store.journalEntries()).map((e) => toHex(e.hash)).sort()).to.deep.equal(
      [toHex(h1), toHex(h2)].sort(),
    )
    await a.store.close()

    // h1 became final while we were down (e.g. committed from the others' votes before the crash).
    nonces.set(alice.publicKey, 2)
    const b = await open(dir, nonces, clock, { committed: new Set([toHex(h1)]) })
    expect(b.report).to.include({ committed: 1, readmitted: 1 })
    expect(b.pool.has(h2)).to.equal(true)
    expect((await b.store.journalEntries()).map((e) => toHex(e.hash))).to.deep.equal([toHex(h2)])
    await close(b)
  })

  it('a dropped tx keeps its reason across reopens; a failed re-admission is dropped with a reason', async () => {
    const a = await open(dir, nonces, clock)
    const stale = signedTx(alice, 0)
    const hStale = await admit(a, stale)
    const hLater = await admit(a, signedTx(bob, 0))
    // A conflicting alice nonce-0 tx got committed: update() drops ours as stale.
    nonces.set(alice.publicKey, 1)
    expect(a.pool.update([]).map((d) => d.reason)).to.deep.equal(['stale_nonce'])
    await a.journal.flush()
    await a.store.close()

    // While down, bob's nonce 0 was used by another tx: re-admission fails.
    nonces.set(bob.publicKey, 1)
    const b = await open(dir, nonces, clock)
    expect(b.report).to.include({ readmitted: 0, failed: 1, dropped: 2 })
    expect(b.dropped.get(toHex(hStale))).to.equal('stale_nonce')
    expect(b.dropped.get(toHex(hLater))).to.equal('stale_nonce')
    expect(b.warnings).to.include('journaled tx not re-admitted after restart: dropped')
    await close(b)

    const c = await open(dir, nonces, clock)
    expect([...c.dropped.entries()]).to.have.deep.members([
      [toHex(hStale), 'stale_nonce'],
      [toHex(hLater), 'stale_nonce'],
    ])
    // forget() (the node's history evicted it) deletes the record.
    c.journal.forget(hStale)
    await close(c)
    const d = await open(dir, nonces, clock)
    expect([...d.dropped.keys()]).to.deep.equal([toHex(hLater)])
    await close(d)
  })

  it('keeps at most maxDropped dropped records, the newest', async () => {
    const a = await open(dir, nonces, clock, { maxDropped: 2, ttlMs: 1_000 })
    const hashes: Uint8Array[] = []
    for (let i = 0; i < 4; i++) {
      hashes.push(await admit(a, signedTx(signer(10 + i), 0)))
      clock.ms += 10
    }
    clock.ms += 5_000
    expect(a.pool.evictExpired()).to.have.length(4)
    expect(a.journal.droppedCount).to.equal(2)
    await close(a)
    const b = await open(dir, nonces, clock, { maxDropped: 2 })
    expect([...b.dropped.keys()]).to.deep.equal(hashes.slice(2).map(toHex))
    expect(await b.store.journalEntries()).to.have.length(2)
    await close(b)
  })

  it('skips and deletes a corrupt record, and keeps going', async () => {
    const a = await open(dir, nonces, clock)
    const good = await admit(a, signedTx(alice, 0))
    await a.store.close()
    // Three kinds of damage, written raw into the journal's bucket.
    const raw = await ChainStore.open(dir)
    const other = signedTx(bob, 0)
    await raw.journalWrite(
      [
        { hash: new Uint8Array(32).fill(7), value: new Uint8Array([1, 2, 3]) },
        {
          hash: new Uint8Array(5).fill(8),
          value: encodeJournalRecord({ kind: 'pending', admittedAt: 1, tx: other }),
        },
        {
          hash: new Uint8Array(32).fill(9),
          value: encodeJournalRecord({ kind: 'pending', admittedAt: 1, tx: other }),
        },
      ],
      true,
    )
    await raw.close()
    const b = await open(dir, nonces, clock)
    expect(b.report).to.include({ corrupt: 3, readmitted: 1 })
    expect(b.pool.has(good)).to.equal(true)
    expect(b.warnings.filter((w) => w === 'deleting a corrupt mempool journal record')).to.have.length(3)
    expect((await b.store.journalEntries()).map((e) => toHex(e.hash))).to.deep.equal([toHex(good)])
    await close(b)
  })

  it('is its own bucket: journal records never show up as other records', async () => {
    const a = await open(dir, nonces, clock)
    const h = await admit(a, signedTx(alice, 0))
    expect(Bucket.mempoolJournal).to.equal(0x09)
    expect(toHex(prefixed(Bucket.mempoolJournal, h))).to.equal(`0x09${toHex(h).slice(2)}`)
    expect(await a.store.walEntries()).to.deep.equal([])
    await close(a)
  })

  describe('group commit', () => {
    /** A JournalStore over memory that records every batch. */
    class CountingStore implements JournalStore {
      readonly batches: { writes: number; sync: boolean }[] = []
      private inner: ChainStore | undefined
      release: (() => void) | undefined
      holdNext = false
      async init(): Promise<this> {
        this.inner = await ChainStore.withBackend(new MemoryBackend())
        return this
      }
      async journalWrite(writes: readonly JournalWrite[], sync: boolean): Promise<void> {
        this.batches.push({ writes: writes.length, sync })
        if (this.holdNext) {
          this.holdNext = false
          await new Promise<void>((r) => {
            this.release = r
          })
        }
        await this.inner?.journalWrite(writes, sync)
      }
      async journalEntries(): Promise<JournalEntry[]> {
        return (await this.inner?.journalEntries()) ?? []
      }
    }

    it('puts every tx admitted in one tick into one synced batch; acks wait for it', async () => {
      const store = await new CountingStore().init()
      const journal = new MempoolJournal(store, { maxDropped: 10 })
      const txs = Array.from({ length: 200 }, (_, i) => signedTx(signer(20 + (i % 50)), Math.floor(i / 50)))
      const acks = txs.map((tx, i) => journal.recordPending(txHash(tx), tx, i))
      expect(store.batches).to.have.length(0) // nothing written before the tick ends
      await Promise.all(acks)
      expect(store.batches).to.deep.equal([{ writes: 200, sync: true }])
      expect(await store.journalEntries()).to.have.length(200)
    })

    it('collects the next batch while one is being written, in order; deletes alone are not synced', async () => {
      const store = await new CountingStore().init()
      const journal = new MempoolJournal(store, { maxDropped: 10 })
      const [a, b, c] = [signedTx(alice, 0), signedTx(alice, 1), signedTx(alice, 2)]
      store.holdNext = true
      let firstDone = false
      const first = journal.recordPending(txHash(a), a, 1).then(() => {
        firstDone = true
      })
      await new Promise((r) => setImmediate(r))
      expect(store.batches).to.have.length(1)
      // While batch 1 is in flight: b is admitted, a is committed, b's resubmission acks.
      const second = journal.recordPending(txHash(b), b, 2)
      journal.committed([txHash(a)])
      let resubmitDone = false
      const resubmit = journal.recordPending(txHash(b), b, 2).then(() => {
        resubmitDone = true
      })
      await new Promise((r) => setImmediate(r))
      expect(store.batches).to.have.length(1)
      expect(firstDone || resubmitDone).to.equal(false)
      store.release?.()
      await Promise.all([first, second, resubmit])
      expect(store.batches).to.deep.equal([
        { writes: 1, sync: true },
        { writes: 2, sync: true },
      ])
      journal.committed([txHash(b), txHash(c)]) // c was never journaled: no tombstone for it
      await journal.flush()
      expect(store.batches[2]).to.deep.equal({ writes: 1, sync: false })
      expect(await store.journalEntries()).to.deep.equal([])
    })

    it('a failed write rejects its acks and lets a resubmission journal the tx again', async () => {
      const journal = new MempoolJournal(
        {
          journalWrite: async () => {
            throw new Error('disk full')
          },
          journalEntries: async () => [],
        },
        { maxDropped: 10 },
      )
      const tx = signedTx(alice, 0)
      let failed: unknown
      await journal.recordPending(txHash(tx), tx, 1).catch((err: unknown) => {
        failed = err
      })
      expect(String(failed)).to.match(/disk full/)
      expect(journal.has(txHash(tx))).to.equal(false)
    })
  })
})
