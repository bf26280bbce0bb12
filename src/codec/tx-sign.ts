import type { Ed25519Signer } from '../crypto/ed25519.js'
import { decodeExact, Writer } from './binary.js'
import { encodeTx, encodeTxBody } from './chain.js'
import { MAX_MESSAGE_BYTES, MAX_TX_BYTES } from './limits.js'
import type { TxOp } from './types.js'

/** Builds and signs a transaction for a client key: the canonical bytes to submit. */
export function signTx(
  signer: Ed25519Signer,
  fields: { chainId: string; nonce: number; op: TxOp },
): Uint8Array {
  const body = { chainId: fields.chainId, from: signer.publicKey, nonce: fields.nonce, op: fields.op }
  return encodeTx({ ...body, signature: signer.sign(encodeTxBody(body)) })
}

/** Gossip payload of the tx topic: many txs per message (gossipsub has no backpressure). */
const TX_BATCH_TAG = 0x05
export const MAX_TXS_PER_BATCH = 512

export function encodeTxBatch(txs: readonly Uint8Array[]): Uint8Array {
  const w = new Writer(64 + txs.reduce((n, t) => n + t.length + 4, 0))
  w.u8(TX_BATCH_TAG).u32(txs.length)
  for (const tx of txs) w.bytes(tx)
  return w.finish()
}

export function decodeTxBatch(data: Uint8Array): Uint8Array[] {
  return decodeExact(data, MAX_MESSAGE_BYTES, 'tx batch', (r) => {
    r.tag(TX_BATCH_TAG, 'tx batch')
    const n = r.count(MAX_TXS_PER_BATCH, 'tx batch count')
    const txs: Uint8Array[] = []
    for (let i = 0; i < n; i++) txs.push(r.bytes(MAX_TX_BYTES, 'tx'))
    return txs
  })
}
