/**
 * A failed write of the node's storage as the RpcError the client sees (docs/RPC.md "Error codes"):
 * a clear STORAGE_UNAVAILABLE instead of INTERNAL_ERROR, since the cause is the node's disk, not
 * the tx, and another node may well accept it. The file name and errno text stay in the node's log.
 */
import { type StorageFailure, storageFailure } from '../chain/store-error.js'
import { RpcError, RpcErrorCode } from './errors.js'

const MESSAGES: Readonly<Record<StorageFailure, string>> = {
  no_space: "storage full: no space left on the node's disk; the tx was not accepted",
  io_error: 'storage unavailable: the node cannot write to its disk; the tx was not accepted',
}

/** The RpcError for a storage failure, or undefined when `err` is not one. */
export function rpcErrorFromStorage(err: unknown): RpcError | undefined {
  const failure = storageFailure(err)
  if (failure === undefined) return undefined
  return new RpcError(RpcErrorCode.STORAGE_UNAVAILABLE, MESSAGES[failure], { reason: failure })
}
