import { merkleRoot } from '../../src/chain/merkle.js'
import type { ValidatorSet } from '../../src/chain/validators.js'
import { blockHash, decodeTx, encodeTxBody, txHash } from '../../src/codec/chain.js'
import type { Block, BlockHeader, SignedTx } from '../../src/codec/types.js'
import type { BlockVerdict } from '../../src/consensus/types.js'
import { verifySignature } from '../../src/crypto/ed25519.js'
import { bytesEqual, sha256, toHex } from '../../src/crypto/hash.js'

export const MAX_SIM_TXS_PER_BLOCK = 40

/** Tx signature checks shared by every replica of one run (a pure function of the bytes). */
export class SigCache {
  private readonly ok = new Map<string, boolean>()

  check(tx: SignedTx, hashHex: string): boolean {
    let v = this.ok.get(hashHex)
    if (v === undefined) {
      v = verifySignature(tx.from, encodeTxBody(tx), tx.signature)
      this.ok.set(hashHex, v)
    }
    return v
  }
}

export function genesisHeader(chainId: string): BlockHeader {
  const zero = new Uint8Array(32)
  return {
    chainId,
    height: 0,
    view: 0,
    timestamp: 0,
    proposer: zero,
    parentHash: zero,
    txRoot: merkleRoot([]),
    appHash: zero,
  }
}

/**
 * A tiny deterministic application behind the engine's validateBlock interface: nonces per sender and
 * an app_hash that hash-chains the applied tx hashes. Replaceable by the real KV app.
 */
export class SimApp {
  readonly nonces = new Map<string, number>()
  appHash: Uint8Array = new Uint8Array(32)
  lastHeader: BlockHeader
  lastHash: Uint8Array

  constructor(
    private readonly chainId: string,
    private readonly validators: ValidatorSet,
    private readonly sigs: SigCache,
  ) {
    this.lastHeader = genesisHeader(chainId)
    this.lastHash = blockHash(this.lastHeader)
  }

  get height(): number {
    return this.lastHeader.height
  }

  nextNonce(from: Uint8Array): number {
    return this.nonces.get(toHex(from)) ?? 0
  }

  validateBlock(block: Block): BlockVerdict {
    const h = block.header
    if (h.chainId !== this.chainId) return bad('wrong chain id')
    if (h.height !== this.height + 1) return bad('wrong height')
    if (!bytesEqual(h.parentHash, this.lastHash)) return bad('wrong parent hash')
    if (!bytesEqual(h.appHash, this.appHash)) return bad('wrong app hash')
    if (!bytesEqual(h.proposer, this.validators.primary(h.view).publicKey)) return bad('wrong proposer')
    if (h.timestamp <= this.lastHeader.timestamp) return bad('timestamp not after parent')
    if (block.txs.length === 0 || block.txs.length > MAX_SIM_TXS_PER_BLOCK) return bad('bad tx count')
    const hashes = block.txs.map((t) => txHash(t))
    if (!bytesEqual(h.txRoot, merkleRoot(hashes))) return bad('wrong tx root')
    const next = new Map<string, number>()
    const seen = new Set<string>()
    for (let i = 0; i < block.txs.length; i++) {
      const hx = toHex(hashes[i] as Uint8Array)
      if (seen.has(hx)) return bad('duplicate tx')
      seen.add(hx)
      let tx: SignedTx
      try {
        tx = decodeTx(block.txs[i] as Uint8Array)
      } catch {
        return bad('tx does not decode')
      }
      if (tx.chainId !== this.chainId) return bad('tx for another chain')
      if (!this.sigs.check(tx, hx)) return bad('bad tx signature')
      const from = toHex(tx.from)
      const expected = next.get(from) ?? this.nonces.get(from) ?? 0
      if (tx.nonce !== expected) return bad('bad nonce')
      next.set(from, expected + 1)
    }
    return { ok: true }
  }

  apply(block: Block): void {
    for (const raw of block.txs) {
      const tx = decodeTx(raw)
      const from = toHex(tx.from)
      this.nonces.set(from, (this.nonces.get(from) ?? 0) + 1)
      this.appHash = sha256(this.appHash, txHash(raw))
    }
    this.lastHeader = block.header
    this.lastHash = blockHash(block.header)
  }

  /** The honest block builder: executable txs in nonce order, header filled in. */
  buildBlock(
    view: number,
    proposer: Uint8Array,
    now: number,
    mempool: Iterable<{ tx: SignedTx; bytes: Uint8Array }>,
  ): Block | null {
    const byFrom = new Map<string, { tx: SignedTx; bytes: Uint8Array }[]>()
    for (const e of mempool) {
      const k = toHex(e.tx.from)
      const list = byFrom.get(k) ?? []
      list.push(e)
      byFrom.set(k, list)
    }
    const txs: Uint8Array[] = []
    const senders = [...byFrom.keys()].sort()
    for (const k of senders) {
      const list = (byFrom.get(k) ?? []).sort((a, b) => a.tx.nonce - b.tx.nonce)
      let nonce = this.nonces.get(k) ?? 0
      for (const e of list) {
        if (txs.length >= MAX_SIM_TXS_PER_BLOCK) break
        if (e.tx.nonce !== nonce) continue
        txs.push(e.bytes)
        nonce++
      }
    }
    if (txs.length === 0) return null
    return {
      header: {
        chainId: this.chainId,
        height: this.height + 1,
        view,
        timestamp: Math.max(now, this.lastHeader.timestamp + 1),
        proposer,
        parentHash: this.lastHash,
        txRoot: merkleRoot(txs.map((t) => txHash(t))),
        appHash: this.appHash,
      },
      txs,
    }
  }

  /** true when some mempool tx is executable now (drives txs_available) */
  hasExecutable(mempool: Iterable<{ tx: SignedTx }>): boolean {
    for (const e of mempool) if (e.tx.nonce === this.nextNonce(e.tx.from)) return true
    return false
  }
}

function bad(reason: string): BlockVerdict {
  return { ok: false, reason }
}
