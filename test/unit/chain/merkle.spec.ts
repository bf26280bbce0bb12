import { expect } from 'chai'
import fc from 'fast-check'
import { EMPTY_MERKLE_ROOT, merkleLeafHash, merkleNodeHash, merkleRoot } from '../../../src/chain/merkle.js'
import { fromHex, sha256, toHex } from '../../../src/crypto/hash.js'

/** RFC 6962 §2.1 MTH, written as the RFC states it (recursive split at the largest power of two < n). */
function referenceRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256()
  if (leaves.length === 1) return sha256(new Uint8Array([0]), leaves[0] as Uint8Array)
  let k = 1
  while (k * 2 < leaves.length) k *= 2
  return sha256(new Uint8Array([1]), referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)))
}

describe('chain/merkle', () => {
  it('hashes the empty tree to sha256 of nothing', () => {
    expect(toHex(merkleRoot([]))).to.equal(
      '0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    )
    expect(merkleRoot([])).to.deep.equal(EMPTY_MERKLE_ROOT)
  })

  it('matches the certificate-transparency RFC 6962 test vectors', () => {
    const leaves = [
      '',
      '00',
      '10',
      '2021',
      '3031',
      '40414243',
      '5051525354555657',
      '606162636465666768696a6b6c6d6e6f',
    ]
    const roots = [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
      'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    ]
    const data = leaves.map((h) => fromHex(h))
    roots.forEach((root, i) => {
      expect(toHex(merkleRoot(data.slice(0, i + 1)))).to.equal(`0x${root}`)
    })
  })

  it('separates leaves from inner nodes (second-preimage resistance)', () => {
    const a = sha256(new Uint8Array([1]))
    const b = sha256(new Uint8Array([2]))
    const inner = merkleNodeHash(merkleLeafHash(a), merkleLeafHash(b))
    expect(merkleRoot([a, b])).to.deep.equal(inner)
    // the concatenation of the two leaf hashes, as one leaf, must not give the same root
    expect(merkleRoot([new Uint8Array([...merkleLeafHash(a), ...merkleLeafHash(b)])])).not.to.deep.equal(
      inner,
    )
  })

  it('equals the recursive RFC definition for any number of leaves', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }), { maxLength: 70 }), (leaves) => {
        expect(merkleRoot(leaves)).to.deep.equal(referenceRoot(leaves))
      }),
      { seed: 6962, numRuns: 200 },
    )
  })

  it('changes when any leaf changes or leaves are reordered', () => {
    const leaves = [1, 2, 3, 4, 5].map((i) => sha256(new Uint8Array([i])))
    const root = merkleRoot(leaves)
    expect(merkleRoot([...leaves.slice(0, 4)])).not.to.deep.equal(root)
    expect(merkleRoot([leaves[1], leaves[0], ...leaves.slice(2)] as Uint8Array[])).not.to.deep.equal(root)
  })
})
