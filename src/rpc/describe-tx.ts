/**
 * A transaction as people read it: the fields of an encoded signed tx (docs/PROTOCOL.md §3.2) in the
 * JSON style of ./types.ts. One decoder for every reader that shows txs (`pbft block`, `pbft tx get`,
 * `pbft mempool`, and the browser explorer): the fields come from src/explorer/codec.ts, which the
 * explorer runs in the browser as it is, so the CLI and the explorer decode and name the fields alike.
 */
import { CodecError } from '../codec/errors.js'
import { sha256, toHex } from '../crypto/hash.js'
import { DecodeError, decodeTxFields, fromHex, type TxFields } from '../explorer/codec.js'
import type { Hex } from './types.js'

/** The fields of one signed tx. */
export interface DecodedTx extends TxFields {
  /** SHA-256 of the encoded tx: what `tx` and `broadcast_tx_*` call its hash */
  hash: Hex
}

/**
 * Decodes an encoded signed tx (0x-hex or bytes). Throws CodecError for anything that is not one
 * tx: bad hex, a wrong tag, trailing bytes. Does not verify the signature (the node did).
 */
export function describeTx(encoded: Hex | Uint8Array): DecodedTx {
  try {
    const bytes = typeof encoded === 'string' ? fromHex(encoded) : encoded
    return { hash: toHex(sha256(bytes)), ...decodeTxFields(bytes) }
  } catch (err) {
    if (err instanceof DecodeError)
      throw new CodecError(err.message === 'not a hex string' ? 'tx is not hex' : err.message)
    throw err
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
