import { blockHash, encodeBlock, encodeCertificate } from '../../../src/codec/chain.js'
import type { Block, CommitCertificate } from '../../../src/codec/types.js'
import { bytesEqual, sha256 } from '../../../src/crypto/hash.js'
import type { BlockSource, EncodedBlockWithCertificate } from '../../../src/network/block-source.js'
import { CHAIN_ID } from './helpers.js'

/**
 * A chain of empty blocks whose "certificates" carry a stand-in signature SHA-256(hash)‖SHA-256(hash),
 * so a test `verify` can tell an honest certificate from a forged one without a validator set.
 */
export function makeChain(length: number, salt = 0): Array<{ block: Block; certificate: CommitCertificate }> {
  const out: Array<{ block: Block; certificate: CommitCertificate }> = []
  let parentHash = new Uint8Array(32)
  for (let height = 1; height <= length; height++) {
    const block: Block = {
      header: {
        chainId: CHAIN_ID,
        height,
        view: 0,
        timestamp: 1_700_000_000_000 + height,
        proposer: new Uint8Array(32).fill(1),
        parentHash,
        txRoot: new Uint8Array(32),
        appHash: new Uint8Array(32).fill(salt),
      },
      txs: [],
    }
    const hash = blockHash(block.header)
    out.push({
      block,
      certificate: { height, view: 0, blockHash: hash, votes: [{ validator: 0, signature: fakeSig(hash) }] },
    })
    parentHash = new Uint8Array(hash)
  }
  return out
}

function fakeSig(hash: Uint8Array): Uint8Array {
  const h = sha256(hash)
  const sig = new Uint8Array(64)
  sig.set(h, 0)
  sig.set(h, 32)
  return sig
}

export function verifyFake(block: Block, certificate: CommitCertificate): boolean {
  const hash = blockHash(block.header)
  return (
    bytesEqual(hash, certificate.blockHash) &&
    bytesEqual(certificate.votes[0]?.signature ?? new Uint8Array(), fakeSig(hash))
  )
}

export type Behaviour = 'honest' | 'garbage' | 'forged' | 'stall'

/** A BlockSource over `makeChain`, honest or misbehaving in one of a few ways. */
export class FakeBlockSource implements BlockSource {
  private readonly encoded: EncodedBlockWithCertificate[]
  private readonly stalls = new Set<() => void>()
  served = 0

  constructor(
    private readonly chain: Array<{ block: Block; certificate: CommitCertificate }>,
    private readonly behaviour: Behaviour = 'honest',
  ) {
    this.encoded = chain.map(({ block, certificate }) => ({
      block: encodeBlock(block),
      certificate: encodeCertificate(
        behaviour === 'forged'
          ? { ...certificate, votes: [{ validator: 0, signature: new Uint8Array(64).fill(9) }] }
          : certificate,
      ),
    }))
  }

  tipHeight(): number {
    return this.chain.length
  }

  tipHash(): Uint8Array {
    const last = this.chain[this.chain.length - 1]
    return last === undefined ? new Uint8Array(32) : blockHash(last.block.header)
  }

  async getBlockWithCertificate(height: number): Promise<EncodedBlockWithCertificate | undefined> {
    this.served++
    if (this.behaviour === 'stall') await new Promise<void>((resolve) => this.stalls.add(resolve))
    const item = this.encoded[height - 1]
    if (item === undefined) return undefined
    if (this.behaviour === 'garbage')
      return { block: new Uint8Array([0xde, 0xad]), certificate: item.certificate }
    return item
  }

  /** Releases stalled reads so the test can stop cleanly. */
  release(): void {
    for (const r of this.stalls) r()
    this.stalls.clear()
  }
}
