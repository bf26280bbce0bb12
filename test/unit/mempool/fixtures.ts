import { encodeTx, encodeTxBody, txHash } from '../../../src/codec/chain.js'
import type { TxBody, TxOp } from '../../../src/codec/types.js'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { Mempool, type MempoolInit } from '../../../src/mempool/mempool.js'

export const CHAIN_ID = 'test-chain'

/** Deterministic keys: signer(i) is the same key in every run. */
export function signer(i: number): Ed25519Signer {
  return new Ed25519Signer(new Uint8Array(32).fill(i + 1))
}

export function signedTx(
  from: Ed25519Signer,
  nonce: number,
  op: TxOp = { type: 'set', key: 'k', value: `v${nonce}` },
  chainId = CHAIN_ID,
): Uint8Array {
  const body: TxBody = { chainId, from: from.publicKey, nonce, op }
  return encodeTx({ ...body, signature: from.sign(encodeTxBody(body)) })
}

/** A settable committed-state stand-in: next nonce per sender. */
export class FakeNonces {
  private readonly nonces = new Map<string, number>()

  nonce(address: Uint8Array): number {
    return this.nonces.get(Buffer.from(address).toString('hex')) ?? 0
  }

  set(address: Uint8Array, nonce: number): void {
    this.nonces.set(Buffer.from(address).toString('hex'), nonce)
  }
}

export class FakeClock {
  constructor(public ms = 1_000_000) {}
  readonly now = (): number => this.ms
}

export interface Harness {
  pool: Mempool
  nonces: FakeNonces
  clock: FakeClock
  drops: { hash: string; reason: string }[]
}

export function harness(options: MempoolInit['options'] = {}): Harness {
  const nonces = new FakeNonces()
  const clock = new FakeClock()
  const drops: Harness['drops'] = []
  const pool = new Mempool({
    chainId: CHAIN_ID,
    state: nonces,
    now: clock.now,
    options,
    onDrop: (hash, reason) => drops.push({ hash: hex(hash), reason }),
  })
  return { pool, nonces, clock, drops }
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}

export { txHash }
