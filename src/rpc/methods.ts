/**
 * The method table of docs/RPC.md: each entry validates its named params with its zod schema, then
 * calls the backend. Transport concerns (HTTP, WebSocket, batches, GET routes) live in ./jsonrpc.ts,
 * ./server.ts and ./uri.ts; subscription bookkeeping in ./ws-session.ts.
 */
import type { Logger } from 'pino'
import { z } from 'zod'
import { decodeTx, txHash } from '../codec/chain.js'
import { CodecError } from '../codec/errors.js'
import { MAX_TX_BYTES } from '../codec/limits.js'
import { fromHex, toHex } from '../crypto/hash.js'
import type { RpcBackend } from './backend.js'
import { RpcError, RpcErrorCode } from './errors.js'
import type { EventHub } from './event-hub.js'
import type { RpcLimits } from './options.js'
import {
  accountParams,
  blockchainParams,
  blockParams,
  commitParams,
  describeIssues,
  evidenceParams,
  hashParams,
  limitParams,
  noParams,
  queryParams,
  subscribeParams,
  txParams,
  unsubscribeParams,
} from './params.js'
import type {
  BroadcastAsyncResult,
  BroadcastSyncResult,
  Hex,
  JsonRpcId,
  RpcEventName,
  SubscribeResult,
  TxEvent,
  TxReceipt,
  UnsubscribeResult,
} from './types.js'

/** Which subscriptions `unsubscribe` removes. */
export type UnsubscribeTarget =
  | { subscription: string }
  | { event: RpcEventName; hash: Hex | undefined }
  | { query: string }

/** What a WebSocket connection offers the subscription methods. */
export interface SubscriptionSession {
  /**
   * `requestId` is the subscribe request's id: every event of the subscription is sent with it.
   * `query` names it in CometBFT's syntax (default: built from event and hash).
   */
  subscribe(event: RpcEventName, hash: Hex | undefined, requestId: JsonRpcId, query?: string): SubscribeResult
  /** whether a subscription with this query exists */
  subscribed(query: string): boolean
  unsubscribe(target: UnsubscribeTarget): UnsubscribeResult
  unsubscribeAll(): UnsubscribeResult
}

/** `evidence` records per call (docs/RPC.md), as for unconfirmed_txs. */
const EVIDENCE_LIMIT = { default: 30, max: 100 } as const

export interface CallContext {
  /** aborted when the client has gone away: stop waiting for it */
  readonly signal: AbortSignal
  /** present only over WebSocket */
  readonly session?: SubscriptionSession
  /** the request's id (null when it has none), set by the JSON-RPC processor for each request */
  readonly id?: JsonRpcId
  /**
   * The params come from a GET route's query string, so every value is a string: those of integer
   * params are converted here, before the same schema checks them (docs/RPC.md "GET routes").
   */
  readonly fromUri?: boolean
}

export type MethodHandler = (params: unknown, ctx: CallContext) => Promise<unknown>

/** One entry of the method table. */
export interface RpcMethod {
  readonly handler: MethodHandler
  /** the named params its schema knows, in order (the route list of `GET /routes` shows them) */
  readonly params: readonly string[]
  /** subscriptions need a connection to push to: not callable over HTTP, so no GET route either */
  readonly wsOnly: boolean
}

interface MethodDeps {
  backend: RpcBackend
  hub: EventHub
  limits: RpcLimits
  logger: Logger
}

/** Whether a param's schema takes a JSON number (so a GET query's string must become one). */
function takesNumber(schema: z.core.$ZodType): boolean {
  if (schema instanceof z.ZodOptional) return takesNumber(schema.unwrap())
  if (schema instanceof z.ZodUnion) return schema.options.some(takesNumber)
  return schema instanceof z.ZodNumber
}

const INTEGER_TEXT = /^-?\d+$/

/**
 * A GET query's params with the decimal strings of number params turned into numbers; anything
 * else is left for the schema to refuse with its usual message. CometBFT clients send integers
 * plain or quoted (`height=5`, `height="5"`; ./uri.ts has already unquoted them).
 */
function numbersFromUri(raw: unknown, numberKeys: ReadonlySet<string>): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw
  return Object.fromEntries(
    Object.entries(raw).map(([key, value]) => [
      key,
      numberKeys.has(key) && typeof value === 'string' && INTEGER_TEXT.test(value) ? Number(value) : value,
    ]),
  )
}

function method<S extends z.ZodObject>(
  schema: S,
  run: (params: z.output<S>, ctx: CallContext) => unknown,
): RpcMethod {
  const shape: Record<string, z.core.$ZodType> = schema.shape
  const numberKeys = new Set(
    Object.entries(shape)
      .filter(([, param]) => takesNumber(param))
      .map(([key]) => key),
  )
  const handler: MethodHandler = async (raw, ctx) => {
    // One validation path for POST, WebSocket and GET: a GET route only converts, then this schema.
    const input = ctx.fromUri === true ? numbersFromUri(raw, numberKeys) : raw
    const parsed = schema.safeParse(input)
    if (!parsed.success) {
      throw new RpcError(RpcErrorCode.INVALID_PARAMS, `invalid params: ${describeIssues(parsed.error)}`)
    }
    return await run(parsed.data, ctx)
  }
  return { handler, params: Object.keys(shape), wsOnly: false }
}

/** The checked tx bytes and hash; a tx that does not decode is INVALID_PARAMS (docs/RPC.md). */
function decodeTxParam(hex: string): { bytes: Uint8Array; hash: Hex } {
  const bytes = checkTxParam(hex)
  return { bytes, hash: toHex(txHash(bytes)) }
}

/** decodeTxParam without the hash, for broadcast_tx_sync (the node's answer carries it). */
function checkTxParam(hex: string): Uint8Array {
  const digits = hex.startsWith('0x') || hex.startsWith('0X') ? hex.length - 2 : hex.length
  if (digits / 2 > MAX_TX_BYTES) {
    throw new RpcError(RpcErrorCode.TX_TOO_LARGE, `tx too large: ${digits / 2} > ${MAX_TX_BYTES} bytes`)
  }
  const bytes = fromHex(hex)
  if (bytes.length === 0) throw new RpcError(RpcErrorCode.INVALID_PARAMS, 'invalid params: tx is empty')
  try {
    decodeTx(bytes)
  } catch (err) {
    if (err instanceof CodecError) {
      throw new RpcError(RpcErrorCode.INVALID_PARAMS, `invalid params: tx does not decode: ${err.message}`)
    }
    throw err
  }
  return bytes
}

function receiptOf(event: TxEvent): TxReceipt {
  if (event.status === 'dropped') {
    throw new RpcError(RpcErrorCode.TX_DROPPED, `tx dropped: ${event.reason}`, {
      hash: event.hash,
      reason: event.reason,
    })
  }
  return { hash: event.hash, height: event.height, index: event.index, block_hash: event.block_hash }
}

/** Subscriptions need a connection to push to; over HTTP they do not exist (-32601). */
function wsOnly(name: string, entry: RpcMethod): RpcMethod {
  const handler: MethodHandler = async (raw, ctx) => {
    if (ctx.session === undefined) {
      throw new RpcError(
        RpcErrorCode.METHOD_NOT_FOUND,
        `${name} is only available over WebSocket at /websocket`,
      )
    }
    return await entry.handler(raw, ctx)
  }
  return { ...entry, handler, wsOnly: true }
}

/** The session of a wsOnly method's context. */
function sessionOf(ctx: CallContext): SubscriptionSession {
  if (ctx.session === undefined) throw new Error('subscription method called without a WebSocket session')
  return ctx.session
}

export function createMethods(deps: MethodDeps): ReadonlyMap<string, RpcMethod> {
  const { backend, hub, limits, logger } = deps

  async function broadcastTxCommit(tx: string, timeoutMs: number | undefined, ctx: CallContext) {
    const { bytes, hash } = decodeTxParam(tx)
    const timeout = Math.min(timeoutMs ?? limits.defaultCommitTimeoutMs, limits.maxCommitTimeoutMs)
    // Wait first, submit second: an outcome that arrives while broadcastTx runs is not missed.
    const wait = hub.waitForTx(hash, timeout)
    const onAbort = (): void => wait.cancel()
    ctx.signal.addEventListener('abort', onAbort, { once: true })
    try {
      const admitted = await backend.broadcastTx(bytes)
      if (admitted.status === 'pending') return receiptOf(await wait.promise)
      wait.cancel()
      if (admitted.status === 'dropped') {
        const known = await backend.tx(hash)
        const reason = known?.reason ?? 'dropped'
        return receiptOf({ hash, status: 'dropped', reason })
      }
      // Already final: answer at once from the tx index.
      const known = await backend.tx(hash)
      if (
        known?.status !== 'final' ||
        known.height === null ||
        known.index === null ||
        known.block_hash === null
      ) {
        throw new Error(`backend said tx ${hash} is final but has no receipt for it`)
      }
      return { hash, height: known.height, index: known.index, block_hash: known.block_hash }
    } finally {
      wait.cancel()
      ctx.signal.removeEventListener('abort', onAbort)
    }
  }

  async function blockchain(min: number | undefined, max: number | undefined) {
    const range = limits.maxBlockchainRange
    let lo: number
    let hi: number
    if (min !== undefined && max !== undefined) {
      // A wide range pages forward from min: the client asks again from the last height + 1.
      lo = min
      hi = Math.min(max, min + range - 1)
    } else if (min !== undefined) {
      lo = min
      hi = Math.min(Number.MAX_SAFE_INTEGER, min + range - 1)
    } else {
      hi = max ?? (await backend.status()).sync_info.latest_block_height
      lo = Math.max(0, hi - range + 1)
    }
    return await backend.blockchain(lo, hi)
  }

  const table: Record<string, RpcMethod> = {
    broadcast_tx_async: method(txParams, (p): BroadcastAsyncResult => {
      const { bytes, hash } = decodeTxParam(p.tx)
      // Fire and forget (docs/RPC.md): admission errors are not the caller's to see, only logged.
      Promise.resolve()
        .then(() => backend.broadcastTx(bytes))
        .catch((err: unknown) => logger.debug({ err, hash }, 'rpc: broadcast_tx_async tx not admitted'))
      return { hash }
    }),
    broadcast_tx_sync: method(txParams, async (p): Promise<BroadcastSyncResult> => {
      return await backend.broadcastTx(checkTxParam(p.tx))
    }),
    broadcast_tx_commit: method(commitParams, (p, ctx) => broadcastTxCommit(p.tx, p.timeout_ms, ctx)),
    status: method(noParams, () => backend.status()),
    block: method(blockParams, async (p) => {
      const ref =
        p.hash !== undefined
          ? ({ by: 'hash', hash: p.hash } as const)
          : p.height !== undefined
            ? ({ by: 'height', height: p.height } as const)
            : ({ by: 'latest' } as const)
      const block = await backend.block(ref)
      if (block === null) {
        const what =
          ref.by === 'hash' ? `hash ${ref.hash}` : ref.by === 'height' ? `height ${ref.height}` : 'latest'
        throw new RpcError(RpcErrorCode.NOT_FOUND, `block not found: ${what}`)
      }
      return block
    }),
    blockchain: method(blockchainParams, (p) => blockchain(p.min_height, p.max_height)),
    tx: method(hashParams, async (p) => {
      const tx = await backend.tx(p.hash)
      if (tx === null) throw new RpcError(RpcErrorCode.NOT_FOUND, `tx not found: ${p.hash}`)
      return tx
    }),
    account: method(accountParams, (p) => backend.account(p.address)),
    query: method(queryParams, (p) => backend.query(p.key)),
    unconfirmed_txs: method(limitParams, (p) =>
      backend.unconfirmedTxs(Math.min(p.limit ?? limits.defaultUnconfirmedLimit, limits.maxUnconfirmedLimit)),
    ),
    num_unconfirmed_txs: method(limitParams, () => backend.numUnconfirmedTxs()),
    net_info: method(noParams, () => backend.netInfo()),
    validators: method(noParams, () => backend.validators()),
    evidence: method(evidenceParams, (p) =>
      backend.evidence({
        limit: Math.min(p.limit ?? EVIDENCE_LIMIT.default, EVIDENCE_LIMIT.max),
        validator: p.validator,
      }),
    ),
    subscribe: wsOnly(
      'subscribe',
      method(subscribeParams, (p, ctx) => sessionOf(ctx).subscribe(p.event, p.hash, ctx.id ?? null)),
    ),
    unsubscribe: wsOnly(
      'unsubscribe',
      method(unsubscribeParams, (p, ctx) => {
        if (p.subscription !== undefined) return sessionOf(ctx).unsubscribe({ subscription: p.subscription })
        // the schema guarantees event is set when subscription is not
        return sessionOf(ctx).unsubscribe({ event: p.event ?? 'Tx', hash: p.hash })
      }),
    ),
    unsubscribe_all: wsOnly(
      'unsubscribe_all',
      method(noParams, (_p, ctx) => sessionOf(ctx).unsubscribeAll()),
    ),
  }
  return new Map(Object.entries(table))
}
