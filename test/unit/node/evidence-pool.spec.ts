import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { ChainStore } from '../../../src/chain/store.js'
import { encodeConsensusMessage, type RejectMsg } from '../../../src/codec/consensus.js'
import { encodeEvidenceRecord, evidenceKey, evidenceSignBytes } from '../../../src/codec/evidence.js'
import type { Evidence } from '../../../src/consensus/types.js'
import { verifySignature } from '../../../src/crypto/ed25519.js'
import { EvidencePool, verifyEvidenceRecord } from '../../../src/node/evidence-pool.js'
import { NodeMetrics } from '../../../src/node/metrics.js'
import type { TestValidators } from '../../fixtures/chain-builders.js'
import {
  CHAIN_ID,
  EVIDENCE_KINDS,
  equivocation,
  evidenceOf,
  evidenceValidators,
  prePrepare,
  prepare,
  viewChange,
} from '../../fixtures/evidence.js'

const v: TestValidators = evidenceValidators()
const hash = (b: number): Uint8Array => new Uint8Array(32).fill(b)

async function counter(metric: NodeMetrics['evidence'] | NodeMetrics['evidenceRefused']) {
  return Object.fromEntries((await metric.get()).values.map((x) => [Object.values(x.labels)[0], x.value]))
}

describe('node/evidence-pool', () => {
  let store: ChainStore
  let metrics: NodeMetrics
  let clock: number
  const pool = (opts: { maxRecords?: number; maxBytes?: number } = {}): EvidencePool =>
    new EvidencePool({ store, chainId: CHAIN_ID, validators: v.set, metrics, now: () => clock++, ...opts })

  beforeEach(async () => {
    store = await ChainStore.memory()
    metrics = new NodeMetrics({ chainId: 'test-chain' })
    clock = 1_700_000_000_000
  })
  afterEach(async () => {
    await store.close()
  })

  describe('verification', () => {
    for (const kind of EVIDENCE_KINDS) {
      it(`keeps a real ${kind} equivocation as a compact record whose signatures re-verify`, async () => {
        const p = pool()
        const e = equivocation(v, kind)
        const r = p.add(e)
        expect(r.status).to.equal('added')
        if (r.status !== 'added') return
        const { record } = r
        expect(record).to.include({ sender: e.sender, kind, view: e.view, height: e.height })
        expect(verifyEvidenceRecord(record, CHAIN_ID, v.set)).to.equal('valid')
        // Anyone holding genesis can check it: Ed25519 over the sign bytes with the sender's key.
        const key = v.set.at(record.sender)?.publicKey as Uint8Array
        for (const side of [record.first, record.second]) {
          const bytes = evidenceSignBytes(CHAIN_ID, record, side)
          expect(bytes).to.not.equal(null)
          expect(verifySignature(key, bytes as Uint8Array, side.signature)).to.equal(true)
        }
        // Compact: no block. A vote is 222 bytes whatever its block's size (a PRE-PREPARE carries a
        // whole block); a VIEW-CHANGE or NEW-VIEW keeps its sign bytes (blocks stripped, hashes only).
        const size = encodeEvidenceRecord(record).length
        const kept = (record.first.signBytes?.length ?? 0) + (record.second.signBytes?.length ?? 0)
        expect(size).to.equal(222 + (kept === 0 ? 0 : kept + 8))
        if (kind === 'preprepare' || kind === 'viewchange') {
          const whole = encodeConsensusMessage(e.first).length + encodeConsensusMessage(e.second).length
          expect(size).to.be.lessThan(whole)
        }
        expect(p.list({ limit: 10 }).records).to.deep.equal([record])
        await p.flush()
        expect((await store.evidenceEntries()).map((x) => x.key)).to.deep.equal([evidenceKey(record)])
        expect(await counter(metrics.evidence)).to.deep.equal({ [kind]: 1 })
        expect((await metrics.evidenceStored.get()).values[0]?.value).to.equal(1)
      })
    }

    it('verifyEvidenceRecord: a tampered record is invalid; one without sign bytes is unverifiable', () => {
      const r = pool().add(equivocation(v, 'viewchange'))
      if (r.status !== 'added') expect.fail(r.status)
      const { record } = r
      const sig = record.second.signature.slice()
      sig[5] = (sig[5] as number) ^ 1
      expect(
        verifyEvidenceRecord({ ...record, second: { ...record.second, signature: sig } }, CHAIN_ID, v.set),
      ).to.equal('invalid')
      expect(verifyEvidenceRecord({ ...record, sender: 2 }, CHAIN_ID, v.set)).to.equal('invalid')
      expect(verifyEvidenceRecord({ ...record, sender: 4 }, CHAIN_ID, v.set)).to.equal('invalid')
      expect(verifyEvidenceRecord(record, 'another-chain', v.set)).to.equal('invalid')
      expect(
        verifyEvidenceRecord({ ...record, first: { ...record.first, signBytes: null } }, CHAIN_ID, v.set),
      ).to.equal('unverifiable')
    })

    const refusals: [string, () => Evidence, string][] = [
      [
        'a forged signature',
        () => {
          const e = equivocation(v, 'prepare')
          const sig = e.second.signature.slice()
          sig[0] = (sig[0] as number) ^ 1
          return { ...e, second: { ...e.second, signature: sig } }
        },
        'invalid_message',
      ],
      [
        'a message signed by another validator than its sender',
        () => {
          const e = equivocation(v, 'commit', { sender: 1 })
          const other = equivocation(v, 'commit', { sender: 2 })
          return { ...e, second: { ...other.second, sender: 1 } }
        },
        'invalid_message',
      ],
      [
        'two different senders',
        () => evidenceOf(prepare(v, 1, 0, 3, hash(1)), prepare(v, 2, 0, 3, hash(2))),
        'different_senders',
      ],
      [
        'a non-conflicting pair (the same message twice)',
        () => {
          const m = prepare(v, 1, 0, 3, hash(1))
          return evidenceOf(m, m)
        },
        'not_conflicting',
      ],
      [
        'two heights',
        () => evidenceOf(prepare(v, 1, 0, 3, hash(1)), prepare(v, 1, 0, 4, hash(2))),
        'different_slots',
      ],
      [
        'two views',
        () => evidenceOf(prepare(v, 1, 0, 3, hash(1)), prepare(v, 1, 1, 3, hash(2))),
        'different_slots',
      ],
      [
        'VIEW-CHANGEs for two new views',
        () => evidenceOf(viewChange(v, 3, 1), viewChange(v, 3, 2, true)),
        'different_slots',
      ],
      [
        'two kinds',
        () => {
          const p = equivocation(v, 'prepare')
          const c = equivocation(v, 'commit')
          return { ...p, second: c.second }
        },
        'wrong_kind',
      ],
      [
        'two REJECTs (rejecting two blocks is honest)',
        () => {
          const reject = (b: number): RejectMsg => ({
            kind: 'reject',
            view: 0,
            height: 3,
            blockHash: hash(b),
            sender: 1,
            reason: 'bad',
            signature: new Uint8Array(64),
          })
          return evidenceOf(reject(1), reject(2))
        },
        'wrong_kind',
      ],
      [
        'fields that disagree with the messages',
        () => ({ ...equivocation(v, 'prepare'), height: 9 }),
        'inconsistent',
      ],
      [
        'a sender outside the validator set',
        () => {
          const e = equivocation(v, 'prepare')
          return { ...e, sender: 9, first: { ...e.first, sender: 9 }, second: { ...e.second, sender: 9 } }
        },
        'invalid_message',
      ],
    ]
    for (const [what, make, reason] of refusals) {
      it(`refuses ${what} (${reason}) and counts it`, async () => {
        const p = pool()
        expect(p.add(make())).to.deep.equal({ status: 'refused', reason })
        expect(p.size).to.equal(0)
        await p.flush()
        expect(await store.evidenceEntries()).to.deep.equal([])
        expect(await counter(metrics.evidenceRefused)).to.deep.equal({ [reason]: 1 })
        expect(await counter(metrics.evidence)).to.deep.equal({})
      })
    }
  })

  describe('deduplication', () => {
    it('keeps one record per (validator, kind, view, height): repeats and swapped pairs are duplicates', async () => {
      const p = pool()
      const e = equivocation(v, 'preprepare')
      expect(p.add(e).status).to.equal('added')
      expect(p.add(e)).to.deep.equal({ status: 'duplicate' })
      expect(p.add({ ...e, first: e.second, second: e.first })).to.deep.equal({ status: 'duplicate' })
      // A third conflicting message for the same slot proves nothing new either.
      expect(p.add(evidenceOf(prePrepare(v, 0, 3, 1), prePrepare(v, 0, 3, 5)))).to.deep.equal({
        status: 'duplicate',
      })
      expect(p.size).to.equal(1)
      expect(await counter(metrics.evidence)).to.deep.equal({ preprepare: 1 })
      // Other slots of the same validator are other records.
      expect(p.add(equivocation(v, 'preprepare', { height: 4 })).status).to.equal('added')
      expect(p.add(equivocation(v, 'prepare', { height: 3 })).status).to.equal('added')
      expect(p.size).to.equal(3)
    })

    it('a pair reported either way round gives the same record bytes (digests in order)', () => {
      const e = equivocation(v, 'viewchange')
      const a = pool().add(e)
      clock = 1_700_000_000_000
      const b = pool().add({ ...e, first: e.second, second: e.first })
      expect(a.status).to.equal('added')
      expect(b.status).to.equal('added')
      if (a.status !== 'added' || b.status !== 'added') return
      expect(encodeEvidenceRecord(b.record)).to.deep.equal(encodeEvidenceRecord(a.record))
    })
  })

  describe('bounds', () => {
    it('keeps at most maxRecords, dropping the oldest, in LevelDB too', async () => {
      const p = pool({ maxRecords: 3 })
      for (let h = 1; h <= 5; h++)
        expect(p.add(equivocation(v, 'prepare', { height: h })).status).to.equal('added')
      expect(p.size).to.equal(3)
      expect(p.list({ limit: 10 }).records.map((r) => r.height)).to.deep.equal([5, 4, 3])
      await p.flush()
      expect(await store.evidenceEntries()).to.have.length(3)
      expect(await counter(metrics.evidence)).to.deep.equal({ prepare: 5 })
      expect((await metrics.evidenceStored.get()).values[0]?.value).to.equal(3)
    })

    it('drops from the validator holding the most, so a flood cannot push out evidence against another', () => {
      const p = pool({ maxRecords: 4 })
      expect(p.add(equivocation(v, 'commit', { sender: 1, height: 1 })).status).to.equal('added')
      for (let h = 1; h <= 6; h++) p.add(equivocation(v, 'commit', { sender: 2, height: h }))
      const bySender = p.list({ limit: 10 }).records.map((r) => `${r.sender}@${r.height}`)
      expect(bySender).to.deep.equal(['2@6', '2@5', '2@4', '1@1'])
    })

    it('keeps at most maxBytes of records', () => {
      const p = pool({ maxBytes: 2 * 222 })
      for (let h = 1; h <= 4; h++) p.add(equivocation(v, 'prepare', { height: h }))
      expect(p.size).to.equal(2)
      expect(p.bytes).to.equal(444)
    })
  })

  describe('list', () => {
    it('is newest first, limited, filtered by validator, with the total of the matches', () => {
      const p = pool()
      p.add(equivocation(v, 'prepare', { sender: 1, height: 1 }))
      p.add(equivocation(v, 'prepare', { sender: 2, height: 1 }))
      p.add(equivocation(v, 'commit', { sender: 1, height: 2 }))
      const all = p.list({ limit: 2 })
      expect(all.total).to.equal(3)
      expect(all.records.map((r) => [r.sender, r.kind])).to.deep.equal([
        [1, 'commit'],
        [2, 'prepare'],
      ])
      const one = p.list({ limit: 10, validator: 1 })
      expect(one.total).to.equal(2)
      expect(one.records.map((r) => r.kind)).to.deep.equal(['commit', 'prepare'])
      expect(p.list({ limit: 10, validator: 3 })).to.deep.equal({ total: 0, records: [] })
    })
  })

  describe('persistence', () => {
    let dir: string
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'pbft-evidence-'))
    })
    afterEach(() => rmSync(dir, { recursive: true, force: true }))

    it('reloads every record, in the same order, after the store is reopened', async () => {
      const disk = await ChainStore.open(dir)
      const first = new EvidencePool({
        store: disk,
        chainId: CHAIN_ID,
        validators: v.set,
        now: () => clock++,
      })
      for (const kind of EVIDENCE_KINDS) expect(first.add(equivocation(v, kind)).status).to.equal('added')
      const before = first.list({ limit: 100 })
      await first.close()
      await disk.close()

      const again = await ChainStore.open(dir)
      try {
        const m = new NodeMetrics({ chainId: 'test-chain' })
        const second = new EvidencePool({ store: again, chainId: CHAIN_ID, validators: v.set, metrics: m })
        expect(await second.load()).to.deep.equal({ loaded: 5, corrupt: 0, evicted: 0 })
        expect(second.list({ limit: 100 })).to.deep.equal(before)
        expect((await m.evidenceStored.get()).values[0]?.value).to.equal(5)
        // Still deduplicated against what was reloaded.
        expect(second.add(equivocation(v, 'commit'))).to.deep.equal({ status: 'duplicate' })
      } finally {
        await again.close()
      }
    })

    it('deletes corrupt or forged records at load, and what is over a smaller bound', async () => {
      const first = pool()
      for (let h = 1; h <= 3; h++) first.add(equivocation(v, 'prepare', { height: h }))
      await first.flush()
      const entries = await store.evidenceEntries()
      const victim = entries[0]?.key as Uint8Array
      // A record under another record's key, a forged signature, and plain garbage.
      const forged = (await store.evidenceEntries())[1]?.value.slice() as Uint8Array
      // The last 65 bytes are the second signature and the has_sign_bytes flag.
      forged[forged.length - 2] = (forged[forged.length - 2] as number) ^ 1
      await store.evidenceWrite([
        { key: victim, value: entries[2]?.value as Uint8Array },
        { key: entries[1]?.key as Uint8Array, value: forged },
        { key: new Uint8Array([1, 2, 3]), value: new Uint8Array([0x30, 0x99]) },
      ])
      for (let h = 4; h <= 6; h++) first.add(equivocation(v, 'prepare', { height: h }))
      await first.flush()
      const warnings: string[] = []
      const second = new EvidencePool({
        store,
        chainId: CHAIN_ID,
        validators: v.set,
        maxRecords: 2,
        log: { warn: (_o, msg) => warnings.push(msg) },
      })
      expect(await second.load()).to.deep.equal({ loaded: 2, corrupt: 3, evicted: 2 })
      expect(warnings).to.have.length(3)
      expect(second.list({ limit: 10 }).records.map((r) => r.height)).to.deep.equal([6, 5])
      expect(await store.evidenceEntries()).to.have.length(2)
    })
  })
})
