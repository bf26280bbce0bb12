import { expect } from 'chai'
import {
  buildCertificate,
  CertificateError,
  type CertificateSignatureCheck,
  verifyCertificate,
  verifyCertificateWith,
} from '../../../src/chain/certificate.js'
import { makeGenesisBlock } from '../../../src/chain/genesis-block.js'
import { ValidatorSet } from '../../../src/chain/validators.js'
import { blockHash } from '../../../src/codec/chain.js'
import type { CommitCertificate, CommitVote } from '../../../src/codec/types.js'
import { verifySignature } from '../../../src/crypto/ed25519.js'
import { sha256 } from '../../../src/crypto/hash.js'
import { buildBlock, CHAIN_ID, certify, makeValidators } from '../../fixtures/chain-builders.js'

describe('chain/certificate', () => {
  const validators = makeValidators(4) // f = 1, quorum = 3
  const genesis = makeGenesisBlock(CHAIN_ID, 1_000, sha256())
  const block = buildBlock({ parent: genesis.header, txs: [], appHash: sha256(), validators, view: 5 })
  const hash = blockHash(block.header)
  const expected = { height: 1, blockHash: hash }

  function expectRejected(cert: CommitCertificate, pattern: RegExp, chainId = CHAIN_ID): void {
    expect(() => verifyCertificate(cert, chainId, validators.set, expected))
      .to.throw(CertificateError)
      .with.property('message')
      .that.matches(pattern)
  }

  it('accepts a quorum of valid votes, and all n votes', () => {
    verifyCertificate(certify(block, validators, [0, 2, 3]), CHAIN_ID, validators.set, expected)
    verifyCertificate(certify(block, validators), CHAIN_ID, validators.set, expected)
    verifyCertificate(certify(block, validators, [1, 2, 3]), CHAIN_ID, validators.set)
  })

  it('rejects fewer votes than a quorum', () => {
    expectRejected(certify(block, validators, [0, 1]), /2 votes, a quorum is 3 of 4/)
    expectRejected(certify(block, validators, []), /0 votes/)
  })

  it('rejects a bad signature, even among enough good ones', () => {
    const cert = certify(block, validators)
    const sig = (cert.votes[1] as CommitVote).signature.slice()
    sig[0] = (sig[0] as number) ^ 1
    const votes = cert.votes.map((v, i) => (i === 1 ? { ...v, signature: sig } : v))
    expectRejected({ ...cert, votes }, /validator 1 has an invalid signature/)
  })

  it('rejects a vote signed by another key than the validator it names', () => {
    const cert = certify(block, validators, [0, 1, 2])
    const swapped = cert.votes.map((v, i) => (i === 2 ? { validator: 3, signature: v.signature } : v))
    expectRejected({ ...cert, votes: swapped }, /validator 3 has an invalid signature/)
  })

  it('rejects an unknown validator index', () => {
    const cert = certify(block, validators, [0, 1, 2])
    const votes = [...cert.votes, { validator: 4, signature: cert.votes[0]?.signature as Uint8Array }]
    expectRejected({ ...cert, votes }, /unknown validator index 4/)
  })

  it('rejects duplicate or unsorted votes (a vote counted twice is not a quorum)', () => {
    const cert = certify(block, validators, [0, 1])
    const dup = { ...cert, votes: [cert.votes[0], cert.votes[1], cert.votes[1]] } as CommitCertificate
    expectRejected(dup, /sorted by validator index without duplicates/)
    const three = certify(block, validators, [0, 1, 2])
    const unsorted = {
      ...three,
      votes: [three.votes[1], three.votes[0], three.votes[2]],
    } as CommitCertificate
    expectRejected(unsorted, /sorted/)
  })

  it('rejects signatures made for another chain id', () => {
    const cert = certify(block, validators, [0, 1, 2], 'other-chain')
    expectRejected(cert, /invalid signature/)
    // and the same certificate verifies for the chain it was made for
    verifyCertificate(cert, 'other-chain', validators.set, expected)
  })

  it('rejects a certificate for another height or block hash', () => {
    const cert = certify(block, validators, [0, 1, 2])
    expect(() => verifyCertificate(cert, CHAIN_ID, validators.set, { height: 2, blockHash: hash })).to.throw(
      CertificateError,
      /height 1, expected 2/,
    )
    expect(() =>
      verifyCertificate(cert, CHAIN_ID, validators.set, { height: 1, blockHash: sha256() }),
    ).to.throw(CertificateError, /expected 0x/)
    // claiming another height or view than the votes signed breaks the signatures
    expect(() => verifyCertificate({ ...cert, height: 2 }, CHAIN_ID, validators.set)).to.throw(
      CertificateError,
      /invalid signature/,
    )
    expect(() => verifyCertificate({ ...cert, view: 4 }, CHAIN_ID, validators.set)).to.throw(
      CertificateError,
      /invalid signature/,
    )
  })

  it('buildCertificate sorts votes and keeps one per validator', () => {
    const good = certify(block, validators, [0, 1, 2, 3])
    const [v0, v1, v2, v3] = good.votes
    const cert = buildCertificate(1, 5, hash, [v3, v1, v0, v1, v2] as typeof good.votes)
    expect(cert.votes.map((v) => v.validator)).to.deep.equal([0, 1, 2, 3])
    expect(cert.height).to.equal(1)
    expect(cert.view).to.equal(5)
    verifyCertificate(cert, CHAIN_ID, validators.set, expected)
  })

  it('works for a single-validator chain (quorum 1)', () => {
    const solo = makeValidators(1)
    const b = buildBlock({ parent: genesis.header, txs: [], appHash: sha256(), validators: solo })
    verifyCertificate(certify(b, solo), CHAIN_ID, solo.set, { height: 1, blockHash: blockHash(b.header) })
    expect(() => verifyCertificate(certify(b, solo, []), CHAIN_ID, solo.set)).to.throw(CertificateError)
  })

  describe('verifying the same certificate object again (block sync, then the engine)', () => {
    /** The genesis validator set, counting the signatures it checks. */
    class CountingSet extends ValidatorSet {
      verifies = 0
      override verify(index: number, message: Uint8Array, signature: Uint8Array): boolean {
        this.verifies++
        return super.verify(index, message, signature)
      }
    }
    const counting = (): CountingSet =>
      new CountingSet(validators.set.validators.map((v) => ({ publicKey: v.publicKey, peerId: v.peerId })))

    it('checks the signatures once, and the structure and the expected block every time', () => {
      const set = counting()
      const cert = certify(block, validators, [0, 1, 2])
      verifyCertificate(cert, CHAIN_ID, set, expected)
      expect(set.verifies).to.equal(3)
      verifyCertificate(cert, CHAIN_ID, set, expected)
      expect(set.verifies).to.equal(3)
      expect(() => verifyCertificate(cert, CHAIN_ID, set, { height: 2, blockHash: hash })).to.throw(
        /expected 2/,
      )
    })

    it('checks again for another chain, another validator set, or another object', () => {
      const set = counting()
      const cert = certify(block, validators, [0, 1, 2])
      verifyCertificate(cert, CHAIN_ID, set, expected)
      expect(() => verifyCertificate(cert, 'other-chain', set, expected)).to.throw(/invalid signature/)
      const other = counting()
      verifyCertificate(cert, CHAIN_ID, other, expected)
      expect(other.verifies).to.equal(3)
      verifyCertificate({ ...cert }, CHAIN_ID, set, expected)
      expect(set.verifies).to.equal(3 + 1 + 3)
    })

    it('remembers nothing about a certificate that failed', () => {
      const set = counting()
      const cert = certify(block, validators, [0, 1, 2])
      const sig = (cert.votes[2] as CommitVote).signature.slice()
      sig[0] = (sig[0] as number) ^ 1
      const bad = { ...cert, votes: cert.votes.map((v, i) => (i === 2 ? { ...v, signature: sig } : v)) }
      expect(() => verifyCertificate(bad, CHAIN_ID, set, expected)).to.throw(/validator 2/)
      expect(() => verifyCertificate(bad, CHAIN_ID, set, expected)).to.throw(/validator 2/)
      expect(set.verifies).to.equal(6)
    })
  })

  describe('verifyCertificateWith (signatures checked elsewhere, e.g. worker threads)', () => {
    const byNodeCrypto = async (checks: CertificateSignatureCheck[]): Promise<boolean[]> =>
      checks.map((c) => verifySignature(c.publicKey, c.message, c.signature))

    it('accepts a valid certificate and remembers it for verifyCertificate', async () => {
      const set = new ValidatorSet(
        validators.set.validators.map((v) => ({ publicKey: v.publicKey, peerId: v.peerId })),
      )
      let asked = 0
      const cert = certify(block, validators, [1, 2, 3])
      await verifyCertificateWith(cert, CHAIN_ID, set, expected, async (checks) => {
        asked += checks.length
        expect(checks.map((c) => c.publicKey)).to.deep.equal([1, 2, 3].map((i) => set.at(i)?.publicKey))
        return byNodeCrypto(checks)
      })
      expect(asked).to.equal(3)
      const spy = set as ValidatorSet & { verify: ValidatorSet['verify'] }
      spy.verify = () => expect.fail('the signatures were verified already')
      verifyCertificate(cert, CHAIN_ID, set, expected)
    })

    it('rejects what the checker refuses, and every shape error before asking it', async () => {
      const cert = certify(block, validators, [0, 1, 2])
      let error: unknown
      await verifyCertificateWith(cert, CHAIN_ID, validators.set, expected, async (c) =>
        c.map((_, i) => i !== 1),
      ).catch((e) => {
        error = e
      })
      expect(error)
        .to.be.instanceOf(CertificateError)
        .with.property('message')
        .that.matches(/validator 1/)
      const short = certify(block, validators, [0, 1])
      error = undefined
      await verifyCertificateWith(short, CHAIN_ID, validators.set, expected, () =>
        expect.fail('asked for a certificate without a quorum'),
      ).catch((e) => {
        error = e
      })
      expect(error)
        .to.be.instanceOf(CertificateError)
        .with.property('message')
        .that.matches(/a quorum is 3/)
    })
  })
})
