import { expect } from 'chai'
import { ValidatorSet } from '../../../src/chain/validators.js'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { sha256 } from '../../../src/crypto/hash.js'
import { peerIdOfPublicKey } from '../../../src/crypto/node-key.js'

function validatorSet(n: number): ValidatorSet {
  return new ValidatorSet(
    Array.from({ length: n }, (_, i) => {
      const publicKey = new Ed25519Signer(sha256(new Uint8Array([i]))).publicKey
      return { publicKey, peerId: peerIdOfPublicKey(publicKey) }
    }),
  )
}

describe('chain/validators', () => {
  it('quorum is 2f+1 when n = 3f+1', () => {
    for (const n of [1, 4, 7, 10]) {
      const set = validatorSet(n)
      expect(set.quorum).to.equal(2 * set.f + 1)
    }
  })

  it('for every n, two quorums share f+1 validators and the honest ones alone form a quorum', () => {
    for (let n = 1; n <= 40; n++) {
      const set = validatorSet(n)
      expect(2 * set.quorum - n, `n=${n} intersection`).to.be.at.least(set.f + 1)
      expect(set.quorum, `n=${n} liveness`).to.be.at.most(n - set.f)
    }
  })

  it('rotates the primary by view and finds validators by key and peer id', () => {
    const set = validatorSet(4)
    expect(set.primary(5).index).to.equal(1)
    const v = set.at(2)
    expect(v).to.not.equal(undefined)
    expect(set.byPeerId(v?.peerId ?? '')?.index).to.equal(2)
    expect(set.isValidatorKey(v?.publicKey ?? new Uint8Array(32))).to.equal(true)
    expect(() => new ValidatorSet([])).to.throw(RangeError)
  })
})
