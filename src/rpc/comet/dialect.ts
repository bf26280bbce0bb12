/**
 * The CometBFT dialect as the server mounts it under `/comet` (docs/RPC.md "CometBFT dialect"):
 * its method table and event format (./methods.ts) behind the same JSON-RPC processor, limits and
 * WebSocket sessions as the native RPC, with errors in CometBFT's form — the JSON-RPC 2.0 message
 * of the code, and the detail in `data`.
 */
import type { Logger } from 'pino'
import type { RpcBackend } from '../backend.js'
import { RpcErrorCode } from '../errors.js'
import { type JsonRpcErrorObject, JsonRpcProcessor, type RpcCallObserver } from '../jsonrpc.js'
import type { RpcMethod } from '../methods.js'
import { CometApi } from './methods.js'

/** The path prefix of the dialect on the RPC port. */
export const COMET_PREFIX = '/comet'

/** CometBFT's message for each code it sends (rpc/jsonrpc/types). */
const MESSAGES: ReadonlyMap<number, string> = new Map([
  [RpcErrorCode.PARSE_ERROR, 'Parse error. Invalid JSON'],
  [RpcErrorCode.INVALID_REQUEST, 'Invalid Request'],
  [RpcErrorCode.METHOD_NOT_FOUND, 'Method not found'],
  [RpcErrorCode.INVALID_PARAMS, 'Invalid params'],
  [RpcErrorCode.INTERNAL_ERROR, 'Internal error'],
])

/**
 * An error as CometBFT writes it: `{code, message, data}` with data the human detail. CometBFT
 * has no application codes: the native ones (not found, timeout, shutting down, …) are -32603, as
 * CometBFT reports any failure of a method, with the native message as data.
 */
export function cometError(error: JsonRpcErrorObject): JsonRpcErrorObject {
  const code = MESSAGES.has(error.code) ? error.code : RpcErrorCode.INTERNAL_ERROR
  return { code, message: MESSAGES.get(code) as string, data: error.message }
}

/** The subpath of a `/comet…` path (`/comet` itself is `/`), or undefined for any other path. */
export function cometSubpath(path: string): string | undefined {
  if (path === COMET_PREFIX) return '/'
  return path.startsWith(`${COMET_PREFIX}/`) ? path.slice(COMET_PREFIX.length) : undefined
}

export interface CometDialect {
  readonly methods: ReadonlyMap<string, RpcMethod>
  readonly processor: JsonRpcProcessor
  readonly api: CometApi
}

export function createCometDialect(deps: {
  backend: RpcBackend
  native: ReadonlyMap<string, RpcMethod>
  maxBatchSize: number
  logger: Logger
  /** told of every call as `comet/<method>` (`comet/unknown` for a name it does not know) */
  onCall?: RpcCallObserver
}): CometDialect {
  const onCall = deps.onCall

  const api = new CometApi({ backend: deps.backend, native: deps.native, logger: deps.logger })
  const processor = new JsonRpcProcessor({
    methods: api.methods,
    maxBatchSize: deps.maxBatchSize,
    logger: deps.logger,
    formatError: cometError,
    positionalParams: true,
    // its own label values: a dialect call is not a native one of the same name (docs/MONITORING.md)
    onCall:
      onCall === undefined ? undefined : (method, ok, seconds) => onCall(`comet/${method}`, ok, seconds),
  })
  return { methods: api.methods, processor, api }
}
