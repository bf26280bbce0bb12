/**
 * The CometBFT dialect's params (docs/RPC.md "CometBFT dialect"). In JSON-RPC, as CometBFT decodes
 * them: integers as JSON numbers or decimal strings, byte strings as base64, strings and booleans
 * as such. In a GET route's query string, CometBFT's URI conventions: integers bare (`height=5`) or
 * quoted, byte strings as `0x`-hex or a quoted string (its UTF-8 bytes), strings quoted
 * (`path="/key"`), booleans bare. Each is converted here, then checked like a POSTed one.
 */
import { RpcError, RpcErrorCode } from '../errors.js'

/** `bytes` is Go's []byte (base64 in JSON), `hex` CometBFT's HexBytes (hex in JSON, e.g. abci_query's data). */
export type ParamKind = 'int' | 'bytes' | 'hex' | 'string' | 'bool'

export type ParamSpec = Readonly<Record<string, ParamKind>>

/** The value of each kind after checking (absent params are undefined). */
type ValueOf<K extends ParamKind> = K extends 'int'
  ? number
  : K extends 'bytes' | 'hex'
    ? Uint8Array
    : K extends 'string'
      ? string
      : boolean

export type ParamsOf<S extends ParamSpec> = { [N in keyof S]?: ValueOf<S[N]> }

function invalid(name: string, message: string): RpcError {
  return new RpcError(RpcErrorCode.INVALID_PARAMS, `invalid params: ${name}: ${message}`)
}

function shown(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text)
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const HEX_DIGITS = /^(?:[0-9a-fA-F]{2})*$/
const DIGITS = /^\d+$/

/** One JSON-RPC param value, checked and converted to its kind. */
function fromJson(name: string, kind: ParamKind, value: unknown): unknown {
  switch (kind) {
    case 'int': {
      const n = typeof value === 'string' && DIGITS.test(value) ? Number(value) : value
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
        throw invalid(name, 'must be a non-negative integer (a number or a decimal string)')
      }
      return n
    }
    case 'bytes':
      if (typeof value !== 'string' || !BASE64.test(value)) throw invalid(name, 'must be base64')
      return new Uint8Array(Buffer.from(value, 'base64'))
    case 'hex': {
      const digits = typeof value === 'string' ? value.replace(/^0[xX]/, '') : undefined
      if (digits === undefined || !HEX_DIGITS.test(digits)) throw invalid(name, 'must be hex')
      return new Uint8Array(Buffer.from(digits, 'hex'))
    }
    case 'string':
      if (typeof value !== 'string') throw invalid(name, 'must be a string')
      return value
    case 'bool':
      if (typeof value !== 'boolean') throw invalid(name, 'must be true or false')
      return value
  }
}

/** A quoted URI value's text (a JSON string), or undefined when it is not quoted. */
function unquoted(name: string, raw: string): string | undefined {
  if (raw.length < 2 || !raw.startsWith('"') || !raw.endsWith('"')) return undefined
  try {
    const text: unknown = JSON.parse(raw)
    if (typeof text === 'string') return text
  } catch {
    // reported below
  }
  throw invalid(name, `malformed quoted string ${shown(raw)}`)
}

/** One GET-route value, by CometBFT's URI conventions, as the JSON-RPC value it stands for. */
function fromUri(name: string, kind: ParamKind, raw: string): unknown {
  const quoted = unquoted(name, raw)
  const hex = /^0[xX]/.test(raw) ? raw.slice(2) : undefined
  switch (kind) {
    case 'int': {
      const digits = quoted ?? raw
      if (!DIGITS.test(digits)) throw invalid(name, `expected an integer, got ${shown(raw)}`)
      return digits
    }
    case 'bytes':
    case 'hex': {
      let bytes: Buffer
      if (hex !== undefined) {
        if (!HEX_DIGITS.test(hex)) throw invalid(name, `malformed hex ${shown(raw)}`)
        bytes = Buffer.from(hex, 'hex')
      } else if (quoted !== undefined) {
        bytes = Buffer.from(quoted, 'utf8')
      } else {
        throw invalid(name, `expected 0x-hex or a "quoted string", got ${shown(raw)}`)
      }
      return kind === 'hex' ? bytes.toString('hex') : bytes.toString('base64')
    }
    case 'string':
      if (quoted !== undefined) return quoted
      if (hex !== undefined) {
        if (!HEX_DIGITS.test(hex)) throw invalid(name, `malformed hex ${shown(raw)}`)
        return Buffer.from(hex, 'hex').toString('utf8')
      }
      throw invalid(name, `expected a "quoted string", got ${shown(raw)}`)
    case 'bool':
      if (raw === 'true') return true
      if (raw === 'false') return false
      throw invalid(name, `expected true or false, got ${shown(raw)}`)
  }
}

/**
 * A call's params, checked against the method's spec: an unknown name is -32602 (a typo must not
 * silently mean "latest"); null, and an empty GET value, mean absent, as in CometBFT.
 */
export function checkParams<S extends ParamSpec>(spec: S, raw: unknown, uri: boolean): ParamsOf<S> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new RpcError(RpcErrorCode.INVALID_PARAMS, 'invalid params: params must be a named object')
  }
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(raw)) {
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined
    if (kind === undefined) {
      const known = Object.keys(spec)
      throw invalid(
        shown(name),
        `unknown param${known.length === 0 ? ' (this method takes none)' : `; expected ${known.join(', ')}`}`,
      )
    }
    if (value === null || value === undefined || (uri && value === '')) continue
    const json = uri ? fromUri(name, kind, String(value)) : value
    out[name] = fromJson(name, kind, json)
  }
  return out as ParamsOf<S>
}
