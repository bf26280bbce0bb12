/**
 * A transaction as people read it: the fields of an encoded signed tx (docs/PROTOCOL.md §3.2) in the
 * JSON style of ./types.ts. One function for every reader that shows txs (`pbft block`, `pbft tx
 * get`, `pbft mempool`, the explorer), so they all decode and name the fields alike.
 */
import { decodeTx, txHash } from '../codec/chain.js'
import { CodecError } from '../codec/errors.js'
import { fromHex, toHex } from '../crypto/hash.js'
import type { Hex } from './types.js'

/** The fields of one signed tx. */
export interface DecodedTx {
  /** SHA-256 of the encoded tx: what `tx` and `broadcast_tx_*` call its hash */
  hash: Hex
  chain_id: string
  /** the sender's public key (its address) */
  sender: Hex
  nonce: number
  op: 'set' | 'del'
  key: string
  /** the value set; null for del */
  value: string | null
  signature: Hex
}

/**
 * Decodes an encoded signed tx (0x-hex or bytes). Throws CodecError for anything that is not one
 * tx: bad hex, a wrong tag, trailing bytes. Does not verify the signature (the node did).
 */
export function describeTx(encoded: Hex | Uint8Array): DecodedTx {
  let bytes: Uint8Array
  if (typeof encoded === 'string') {
    try {
      bytes = fromHex(encoded)
    } catch {
      throw new CodecError('tx is not hex')
    }
  } else {
    bytes = encoded
  }
  const tx = decodeTx(bytes)
  return {
    hash: toHex(txHash(bytes)),
    chain_id: tx.chainId,
    sender: toHex(tx.from),
    nonce: tx.nonce,
    op: tx.op.type,
    key: tx.op.key,
    value: tx.op.type === 'set' ? tx.op.value : null,
    signature: toHex(tx.signature),
  }
}

/** describeTx for display: a tx that does not decode gives `{error}` instead of throwing. */
export function describeTxOrError(encoded: Hex | Uint8Array): DecodedTx | { error: string } {
  try {
    return describeTx(encoded)
  } catch (err) {
    if (err instanceof CodecError) return { error: `undecodable tx: ${err.message}` }
    throw err
  }
}
