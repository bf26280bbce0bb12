/**
 * JSON-RPC 2.0 envelopes (https://www.jsonrpc.org/specification): parse a payload, run a single
 * request or a batch, and serialise the responses. Shared by HTTP and WebSocket. Every failure
 * becomes an error response; nothing a client sends can throw out of `handle`.
 */
import type { Logger } from 'pino'
import { RpcError, RpcErrorCode } from './errors.js'
import type { CallContext, RpcMethod } from './methods.js'
import type { JsonRpcId } from './types.js'

export interface JsonRpcErrorObject {
  code: number
  message: string
  data?: unknown
}

/**
 * Told of every call that named a method: `method` is a known method's name or 'unknown' (one
 * value for any name a client makes up, so a client cannot grow the metric's label set).
 */
export type RpcCallObserver = (method: string, ok: boolean, seconds: number) => void

interface JsonRpcProcessorDeps {
  methods: ReadonlyMap<string, RpcMethod>
  maxBatchSize: number
  logger: Logger
  onCall?: RpcCallObserver
  /**
   * How this dialect writes an error object (the CometBFT dialect, ./comet/, moves the detail into
   * `data`); every error the processor sends passes through it. Default: as given.
   */
  formatError?: (error: JsonRpcErrorObject) => JsonRpcErrorObject
  /**
   * Also take params as an array, one value per declared param in order (CometBFT does; the
   * native dialect refuses arrays with a hint to name them).
   */
  positionalParams?: boolean
}

export function errorResponse(id: JsonRpcId, error: JsonRpcErrorObject): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error })
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isId(value: unknown): value is JsonRpcId {
  return value === null || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))
}

export class JsonRpcProcessor {
  constructor(private readonly deps: JsonRpcProcessorDeps) {}

  /** An error response in this processor's dialect, for the transport's own errors (413, 408, …). */
  errorResponse(id: JsonRpcId, error: JsonRpcErrorObject): string {
    return errorResponse(id, this.deps.formatError?.(error) ?? error)
  }

  /** The serialised response (object or array), or null when nothing is to be sent (notifications). */
  async handle(body: string, ctx: CallContext): Promise<string | null> {
    let payload: unknown
    try {
      payload = JSON.parse(body)
    } catch {
      return this.errorResponse(null, {
        code: RpcErrorCode.PARSE_ERROR,
        message: 'parse error: invalid JSON',
      })
    }
    if (!Array.isArray(payload)) return await this.handleOne(payload, ctx)
    if (payload.length === 0) {
      return this.errorResponse(null, {
        code: RpcErrorCode.INVALID_REQUEST,
        message: 'invalid request: empty batch',
      })
    }
    if (payload.length > this.deps.maxBatchSize) {
      return this.errorResponse(null, {
        code: RpcErrorCode.INVALID_REQUEST,
        message: `invalid request: batch of ${payload.length} exceeds the limit of ${this.deps.maxBatchSize}`,
      })
    }
    const responses = await Promise.all(payload.map((request) => this.handleOne(request, ctx)))
    const sent = responses.filter((r): r is string => r !== null)
    return sent.length === 0 ? null : `[${sent.join(',')}]`
  }

  /**
   * One request that is already a value, not text: a GET route's call (./uri.ts), which takes the
   * same path from here on as a POSTed one.
   */
  async handleRequest(request: unknown, ctx: CallContext): Promise<string | null> {
    return await this.handleOne(request, ctx)
  }

  private async handleOne(request: unknown, ctx: CallContext): Promise<string | null> {
    if (!isPlainObject(request)) return this.invalid(null, 'a request must be a JSON object')
    const hasId = Object.hasOwn(request, 'id')
    const id = hasId && isId(request.id) ? request.id : null
    if (hasId && !isId(request.id)) return this.invalid(null, 'id must be a string, a number or null')
    if (request.jsonrpc !== '2.0') return this.invalid(id, 'jsonrpc must be exactly "2.0"')
    if (typeof request.method !== 'string') return this.invalid(id, 'method must be a string')
    const method = request.method

    let result: unknown
    let error: JsonRpcErrorObject | undefined
    const started = performance.now()
    try {
      result = await this.call(method, request.params, { ...ctx, id })
    } catch (err) {
      error = this.toErrorObject(err, method)
    }
    const label = this.deps.methods.has(method) ? method : 'unknown'
    this.deps.onCall?.(label, error === undefined, (performance.now() - started) / 1000)
    // A notification gets no response, whatever happened (JSON-RPC 2.0 §4.1).
    if (!hasId) return null
    if (error !== undefined) return this.serialiseError(id, error)
    try {
      return JSON.stringify({ jsonrpc: '2.0', id, result: result ?? null })
    } catch (err) {
      return this.serialiseError(id, this.toErrorObject(err, method))
    }
  }

  private async call(method: string, params: unknown, ctx: CallContext): Promise<unknown> {
    const entry = this.deps.methods.get(method)
    if (entry === undefined) {
      throw new RpcError(RpcErrorCode.METHOD_NOT_FOUND, `method not found: ${method.slice(0, 64)}`)
    }
    if (this.deps.positionalParams === true && Array.isArray(params) && params.length > 0) {
      return await entry.handler(positionalParams(params, entry.params), ctx)
    }
    return await entry.handler(namedParams(params), ctx)
  }

  private invalid(id: JsonRpcId, why: string): string {
    return this.errorResponse(id, { code: RpcErrorCode.INVALID_REQUEST, message: `invalid request: ${why}` })
  }

  private serialiseError(id: JsonRpcId, error: JsonRpcErrorObject): string {
    try {
      return this.errorResponse(id, error)
    } catch {
      // data that does not serialise (a bigint, a cycle) must not cost the client its answer
      return this.errorResponse(id, { code: error.code, message: error.message })
    }
  }

  /** RpcError passes through; anything else is logged with its stack and reported without it. */
  private toErrorObject(err: unknown, method: string): JsonRpcErrorObject {
    if (err instanceof RpcError) return err.toJSON()
    this.deps.logger.error({ err, method }, 'rpc: internal error')
    return { code: RpcErrorCode.INTERNAL_ERROR, message: 'internal error' }
  }
}

/**
 * Params are a named object (docs/RPC.md). Omitted (or null, or the empty array some clients send for
 * "no params") means `{}`; positional params are refused with a hint.
 */
function namedParams(params: unknown): unknown {
  if (params === undefined || params === null) return {}
  if (Array.isArray(params)) {
    if (params.length === 0) return {}
    throw new RpcError(
      RpcErrorCode.INVALID_PARAMS,
      'invalid params: params must be a named object, e.g. {"tx": "0x..."}, not an array',
    )
  }
  if (!isPlainObject(params)) {
    throw new RpcError(RpcErrorCode.INVALID_PARAMS, 'invalid params: params must be a named object')
  }
  return params
}

/** Params given as an array, as CometBFT takes them: exactly one value per declared param, in order. */
function positionalParams(params: readonly unknown[], names: readonly string[]): Record<string, unknown> {
  if (params.length !== names.length) {
    throw new RpcError(
      RpcErrorCode.INVALID_PARAMS,
      `invalid params: expected ${names.length} params (${names.join(', ')}), got ${params.length}`,
    )
  }
  return Object.fromEntries(names.map((name, i) => [name, params[i]]))
}
