/**
 * The mempool's refusal codes mapped to RPC's stable codes, for the node's broadcastTx. A Record
 * over MempoolErrorCode: a new mempool code fails to compile here until it is given an RPC code.
 */
import { MempoolError, type MempoolErrorCode } from '../mempool/errors.js'
import { RpcError, RpcErrorCode } from './errors.js'

export const MEMPOOL_TO_RPC_CODE: Readonly<Record<MempoolErrorCode, number>> = {
  // the server decodes every tx first, so this is a tx that decodes but is not well-formed
  malformed: RpcErrorCode.INVALID_PARAMS,
  too_large: RpcErrorCode.TX_TOO_LARGE,
  wrong_chain: RpcErrorCode.TX_WRONG_CHAIN,
  invalid_signature: RpcErrorCode.TX_INVALID_SIGNATURE,
  bad_nonce: RpcErrorCode.TX_NONCE_USED,
  nonce_too_far: RpcErrorCode.TX_NONCE_UNAVAILABLE,
  nonce_taken: RpcErrorCode.TX_NONCE_UNAVAILABLE,
  mempool_full: RpcErrorCode.MEMPOOL_FULL,
}

/** A MempoolError as the RpcError the client sees (its message kept, its mempool code as data). */
export function rpcErrorFromMempool(err: MempoolError): RpcError {
  return new RpcError(MEMPOOL_TO_RPC_CODE[err.code], err.message, { reason: err.code })
}

/** Rethrow helper: MempoolError becomes RpcError, anything else passes unchanged. */
export function toRpcError(err: unknown): unknown {
  return err instanceof MempoolError ? rpcErrorFromMempool(err) : err
}
