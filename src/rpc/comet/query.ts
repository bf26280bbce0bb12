/**
 * CometBFT's event query language (`tm.event='Tx' AND tx.hash='AB…'`), parsed in full — conditions
 * joined by AND, each `key op operand` — and then narrowed to what this node can answer: the
 * subscriptions and tx_search forms of docs/RPC.md "CometBFT dialect". Anything else is a clear
 * -32602 naming what is served, never a silent subscription that would receive nothing.
 */
import { RpcError, RpcErrorCode } from '../errors.js'
import type { Hex, RpcEventName } from '../types.js'

type Operator = '=' | '<' | '<=' | '>' | '>=' | 'CONTAINS' | 'EXISTS'

export interface Condition {
  key: string
  op: Operator
  /** a quoted operand as its text, a bare number as a number; absent for EXISTS */
  value?: string | number
}

/** Longest query accepted; CometBFT clients send a few dozen characters. */
const MAX_QUERY_CHARS = 512

function invalid(message: string): RpcError {
  return new RpcError(RpcErrorCode.INVALID_PARAMS, `invalid params: ${message}`)
}

function shown(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text)
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*/
const NUMBER = /^-?\d+(\.\d+)?(?![A-Za-z0-9_.])/
const OPERATORS: readonly Operator[] = ['<=', '>=', '=', '<', '>', 'CONTAINS', 'EXISTS']

/** Parses a query into its conditions; a malformed one is -32602 saying where. */
export function parseQuery(query: unknown): Condition[] {
  if (typeof query !== 'string') throw invalid('query must be a string')
  if (query.length > MAX_QUERY_CHARS) throw invalid(`query longer than ${MAX_QUERY_CHARS} characters`)
  const conditions: Condition[] = []
  let rest = query.trim()
  const fail = (what: string): never => {
    const at = query.length - rest.length
    throw invalid(`malformed query ${shown(query)}: ${what} at character ${at}`)
  }
  if (rest === '') fail('empty query')
  for (;;) {
    const key = KEY.exec(rest)?.[0]
    if (key === undefined) fail('expected a key such as tm.event')
    rest = rest.slice((key as string).length).trimStart()
    const op = OPERATORS.find((o) => rest.startsWith(o))
    if (op === undefined) fail('expected an operator (=, <, <=, >, >=, CONTAINS, EXISTS)')
    rest = rest.slice((op as Operator).length).trimStart()
    const condition: Condition = { key: key as string, op: op as Operator }
    if (op !== 'EXISTS') {
      if (rest.startsWith("'")) {
        const end = rest.indexOf("'", 1)
        if (end === -1) fail('unterminated quoted value')
        condition.value = rest.slice(1, end)
        rest = rest.slice(end + 1)
      } else {
        const number = NUMBER.exec(rest)?.[0]
        if (number === undefined) fail("expected a value: 'text' in single quotes or a number")
        condition.value = Number(number)
        rest = rest.slice((number as string).length)
      }
    }
    conditions.push(condition)
    rest = rest.trimStart()
    if (rest === '') return conditions
    if (!/^AND\s/.test(rest)) fail('expected AND between conditions')
    rest = rest.slice(3).trimStart()
  }
}

/** The forms a subscription may take (docs/RPC.md). */
const SUBSCRIPTIONS = "tm.event='NewBlock', tm.event='Tx', tm.event='Tx' AND tx.hash='<hash>'"

/** A tx hash as a query operand: 64 hex digits, upper or lower case, 0x optional. */
function hashOperand(value: string | number | undefined, query: string): Hex {
  if (typeof value !== 'string' || !/^(0[xX])?[0-9a-fA-F]{64}$/.test(value)) {
    throw invalid(`query ${shown(query)}: tx.hash must be 32 bytes as hex in single quotes`)
  }
  return `0x${value.replace(/^0[xX]/, '').toLowerCase()}`
}

/** The subscription a WebSocket `subscribe` query asks for. */
export function subscriptionOf(query: unknown): { event: RpcEventName; hash: Hex | undefined } {
  const conditions = parseQuery(query)
  const text = query as string
  let event: RpcEventName | undefined
  let hash: Hex | undefined
  for (const c of conditions) {
    if (
      c.key === 'tm.event' &&
      c.op === '=' &&
      (c.value === 'NewBlock' || c.value === 'Tx') &&
      event === undefined
    ) {
      event = c.value
    } else if (c.key === 'tx.hash' && c.op === '=' && hash === undefined) {
      hash = hashOperand(c.value, text)
    } else {
      throw invalid(`query ${shown(text)} is not served: subscribe to ${SUBSCRIPTIONS}`)
    }
  }
  if (event === undefined || (hash !== undefined && event !== 'Tx')) {
    throw invalid(`query ${shown(text)} is not served: subscribe to ${SUBSCRIPTIONS}`)
  }
  return { event, hash }
}

/** What a `tx_search` query selects. */
export type TxSearch = { by: 'hash'; hash: Hex } | { by: 'height'; height: number }

const SEARCHES = "tx.hash='<hash>' or tx.height=<height> (optionally with tm.event='Tx')"

export function txSearchOf(query: unknown): TxSearch {
  const conditions = parseQuery(query)
  const text = query as string
  let found: TxSearch | undefined
  for (const c of conditions) {
    if (c.key === 'tm.event' && c.op === '=' && c.value === 'Tx') continue
    if (found !== undefined || c.op !== '=') found = undefined
    else if (c.key === 'tx.hash') found = { by: 'hash', hash: hashOperand(c.value, text) }
    else if (c.key === 'tx.height') {
      const height = typeof c.value === 'string' && /^\d+$/.test(c.value) ? Number(c.value) : c.value
      if (typeof height !== 'number' || !Number.isSafeInteger(height) || height < 0) {
        throw invalid(`query ${shown(text)}: tx.height must be a non-negative integer`)
      }
      found = { by: 'height', height }
    }
    if (found === undefined) break
  }
  if (found === undefined) throw invalid(`query ${shown(text)} is not served: search by ${SEARCHES}`)
  return found
}
