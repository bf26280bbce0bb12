import { expect } from 'chai'
import fc from 'fast-check'
import {
  BUCKET_BITS,
  BUCKET_COUNT,
  bucketHash,
  bucketOf,
  entryHash,
  StateTree,
} from '../../../src/app/state-tree.js'
import { merkleRoot } from '../../../src/chain/merkle.js'
import { sha256, toHex } from '../../../src/crypto/hash.js'

const enc = new TextEncoder()

/** The app hash by its definition, from scratch: merkleRoot over every bucket's hash. */
function referenceRoot(state: Map<string, string>): Uint8Array {
  const buckets: Uint8Array[][] = Array.from({ length: BUCKET_COUNT }, () => [])
  for (const [k, v] of state) buckets[bucketOf(enc.encode(k))]?.push(entryHash(enc.encode(k), enc.encode(v)))
  return merkleRoot(buckets.map((b) => bucketHash(b)))
}

const ops = fc.array(
  fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'), fc.option(fc.string({ maxLength: 3 }))),
  { maxLength: 12 },
)

describe('app/state-tree', () => {
  it('an empty tree has the root of BUCKET_COUNT empty buckets', () => {
    expect(new StateTree().root()).to.deep.equal(referenceRoot(new Map()))
  })

  it('incremental updates always equal a rebuild from the entries, and prepare() changes nothing', () => {
    fc.assert(
      fc.property(fc.array(ops, { maxLength: 6 }), (blocks) => {
        const tree = new StateTree()
        const state = new Map<string, string>()
        for (const block of blocks) {
          const before = tree.root()
          const changes = block.map(([k, v]) => ({
            key: enc.encode(k),
            value: v === null ? null : enc.encode(v),
          }))
          const patch = tree.prepare(changes)
          expect(tree.root()).to.deep.equal(before)
          tree.commit(patch)
          for (const [k, v] of block) {
            if (v === null) state.delete(k)
            else state.set(k, v)
          }
          expect(patch.root).to.deep.equal(tree.root())
          const rebuiltNow = StateTree.fromEntries(
            [...state].map(([k, v]) => ({ key: enc.encode(k), value: enc.encode(v) })),
          )
          expect(tree.root()).to.deep.equal(rebuiltNow.root())
        }
        const rebuilt = StateTree.fromEntries(
          [...state].map(([k, v]) => ({ key: enc.encode(k), value: enc.encode(v) })),
        )
        expect(rebuilt.root()).to.deep.equal(tree.root())
      }),
      { seed: 42, numRuns: 40 },
    )
  })

  it('equals the definition from scratch (merkleRoot of every bucket hash) after updates', () => {
    // the from-scratch definition costs ~130k hashes, so a couple of fixed cases
    const tree = new StateTree()
    const state = new Map<string, string>()
    for (let round = 0; round < 2; round++) {
      const changes = Array.from({ length: 50 }, (_, i) => {
        const key = `key-${(i * 7 + round * 13) % 60}`
        const value = i % 4 === 3 ? null : `v${round}-${i}`
        if (value === null) state.delete(key)
        else state.set(key, value)
        return { key: enc.encode(key), value: value === null ? null : enc.encode(value) }
      })
      tree.commit(tree.prepare(changes))
      expect(tree.root()).to.deep.equal(referenceRoot(state))
    }
  })

  it('does not confuse key/value split points', () => {
    const a = StateTree.fromEntries([{ key: enc.encode('ab'), value: enc.encode('c') }])
    const b = StateTree.fromEntries([{ key: enc.encode('a'), value: enc.encode('bc') }])
    expect(a.root()).not.to.deep.equal(b.root())
  })

  it('hashes entries, buckets and bucket choice exactly as their sha256 definitions', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 5 }),
        (key, value, hashes) => {
          const len = new Uint8Array(4)
          new DataView(len.buffer).setUint32(0, key.length)
          expect(entryHash(key, value)).to.deep.equal(sha256(len, key, value))
          const sorted = [...hashes].sort((x, y) => Buffer.compare(x, y))
          expect(bucketHash(hashes)).to.deep.equal(sha256(...sorted))
          const h = sha256(key)
          expect(bucketOf(key)).to.equal((((h[0] as number) << 8) | (h[1] as number)) >> (16 - BUCKET_BITS))
        },
      ),
      { seed: 7, numRuns: 200 },
    )
  })

  it('keeps the app hash of a fixed state (pinned: a change here is a consensus change)', () => {
    const entries = Array.from({ length: 300 }, (_, i) => ({
      key: enc.encode(`key-${i}`),
      value: enc.encode(`value-${i * 7}`),
    }))
    const tree = StateTree.fromEntries(entries)
    expect(toHex(new StateTree().root())).to.equal(
      '0x90f0951505390e5d3756748a16b2845d2a14085069cc46ffbdd34a8661f1f5d5',
    )
    expect(toHex(tree.root())).to.equal('0x23a44091d3a98a040ae9ed955366e9b1be231c8d487f4f431f3fa9773f7879dd')
    const patch = tree.prepare([
      { key: enc.encode('key-3'), value: null },
      { key: enc.encode('new'), value: enc.encode('x') },
      { key: enc.encode('key-9'), value: enc.encode('') },
    ])
    expect(toHex(patch.root)).to.equal('0x00cf9e584062bf2ca0d9cdc8f947d188aed91c2f91b275fe5be7e1fc5eb05c0f')
  })
})
