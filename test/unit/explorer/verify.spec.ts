import { expect } from 'chai'
import { buildCertificate } from '../../../src/chain/certificate.js'
import { merkleRoot as nodeMerkleRoot } from '../../../src/chain/merkle.js'
import { ValidatorSet } from '../../../src/chain/validators.js'
import { blockHash, txHash } from '../../../src/codec/chain.js'
import { signTx } from '../../../src/codec/tx-sign.js'
import type { Block } from '../../../src/codec/types.js'
import { signCommit } from '../../../src/consensus/signing.js'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../../src/crypto/hash.js'
import { ed25519Verify, merkleRoot, quorumOf, verifyBlock } from '../../../src/explorer/verify.js'
import { blockToResult } from '../../../src/rpc/convert.js'
import type { BlockResult } from '../../../src/rpc/types.js'

/**
 * The explorer's certificate check (src/explorer/verify.ts) on WebCrypto, as the browser runs it:
 * a block signed by real validator keys verifies; any tampering is reported, not trusted.
 */
const CHAIN = 'verify-chain'
const signers = [0, 1, 2, 3].map((i) => new Ed25519Signer(sha256(new TextEncoder().encode(`validator-${i}`))))
const keys = signers.map((s) => toHex(s.publicKey))
const client = new Ed25519Signer(sha256(new TextEncoder().encode('client')))

function makeBlock(signing: number[]): BlockResult {
  const txs = [0, 1, 2].map((nonce) =>
    signTx(client, { chainId: CHAIN, nonce, op: { type: 'set', key: `k${nonce}`, value: 'v' } }),
  )
  const block: Block = {
    header: {
      chainId: CHAIN,
      height: 7,
      view: 2,
      timestamp: 1_700_000_000_000,
      proposer: signers[2]?.publicKey as Uint8Array,
      parentHash: sha256(new Uint8Array([1])),
      txRoot: nodeMerkleRoot(txs.map(txHash)),
      appHash: sha256(new Uint8Array([2])),
    },
    txs,
  }
  const hash = blockHash(block.header)
  const votes = signing.map((i) => {
    const msg = signCommit({ chainId: CHAIN, selfIndex: i, signer: signers[i] as Ed25519Signer }, 2, 7, hash)
    return { validator: i, signature: msg.signature }
  })
  return blockToResult(block, buildCertificate(7, 2, hash, votes))
}

function flipLastByte(hex: string): string {
  const last = Number.parseInt(hex.slice(-2), 16) ^ 1
  return `${hex.slice(0, -2)}${last.toString(16).padStart(2, '0')}`
}

describe('explorer/verify: the certificate checked in the browser with WebCrypto', () => {
  it('counts a quorum as the node does (3 of 4, 4 of 5, 5 of 7)', () => {
    for (const n of [1, 2, 3, 4, 5, 7, 10, 100])
      expect(quorumOf(n), `n=${n}`).to.equal(
        new ValidatorSet(
          Array.from({ length: n }, (_, i) => ({ publicKey: sha256(new Uint8Array([i])), peerId: `p${i}` })),
        ).quorum,
      )
  })

  it('a well-signed block: hash and tx root recomputed, each vote valid, absent ones named', async () => {
    const check = await verifyBlock(makeBlock([0, 1, 3]), keys)
    expect(check.hash_matches).to.equal(true)
    expect(check.tx_root_matches).to.equal(true)
    expect(check.certificate?.votes.map((v) => v.state)).to.deep.equal(['valid', 'valid', 'absent', 'valid'])
    expect(check.certificate).to.include({ valid: 3, quorum: 3, proves_final: true, for_this_block: true })
  })

  it('a tampered signature is reported invalid, and below a quorum the block is not proven', async () => {
    const block = makeBlock([0, 1, 2])
    const vote = block.commit?.votes[1]
    if (vote === undefined) throw new Error('no vote')
    vote.signature = flipLastByte(vote.signature)
    const check = await verifyBlock(block, keys)
    expect(check.certificate?.votes.map((v) => v.state)).to.deep.equal([
      'valid',
      'invalid',
      'valid',
      'absent',
    ])
    expect(check.certificate).to.include({ valid: 2, proves_final: false })
  })

  it('a tampered header breaks every vote: the signatures are checked over the recomputed hash', async () => {
    const block = makeBlock([0, 1, 2, 3])
    block.header.timestamp += 1
    const check = await verifyBlock(block, keys)
    expect(check.hash_matches).to.equal(false)
    expect(check.certificate?.valid).to.equal(0)
    expect(check.certificate?.for_this_block).to.equal(false)
    expect(check.certificate?.proves_final).to.equal(false)
  })

  it('a tx swapped out of the block is caught by the tx root', async () => {
    const block = makeBlock([0, 1, 2])
    block.txs[0] = block.txs[1] as string
    expect((await verifyBlock(block, keys)).tx_root_matches).to.equal(false)
  })

  it('votes checked against the wrong validator set are invalid; the genesis block has no certificate', async () => {
    const check = await verifyBlock(makeBlock([0, 1, 2]), [...keys].reverse())
    expect(check.certificate?.valid).to.equal(0)
    const genesis = makeBlock([])
    genesis.commit = null
    expect((await verifyBlock(genesis, keys)).certificate).to.equal(null)
  })

  it('the Merkle root and Ed25519 agree with the node implementations', async () => {
    for (const n of [0, 1, 2, 3, 5, 8, 13]) {
      const leaves = Array.from({ length: n }, (_, i) => sha256(new Uint8Array([i])))
      expect(toHex(await merkleRoot(leaves)), `n=${n}`).to.equal(toHex(nodeMerkleRoot(leaves)))
    }
    const msg = new TextEncoder().encode('hello')
    const sig = toHex((signers[0] as Ed25519Signer).sign(msg))
    expect(await ed25519Verify(keys[0] as string, sig, msg)).to.equal(true)
    expect(await ed25519Verify(keys[1] as string, sig, msg)).to.equal(false)
    expect(await ed25519Verify('0x1234', sig, msg)).to.equal(false)
    expect(await ed25519Verify(keys[0] as string, '0xzz', msg)).to.equal(false)
  })
})
