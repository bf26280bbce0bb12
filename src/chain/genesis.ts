import { readFile, writeFile } from 'node:fs/promises'
import { z } from 'zod'
import { MAX_CHAIN_ID_BYTES, MAX_KEY_BYTES, MAX_VALIDATORS, MAX_VALUE_BYTES } from '../codec/limits.js'
import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.js'
import { toHex } from '../crypto/hash.js'
import { peerIdOfPublicKey } from '../crypto/node-key.js'
import { ValidatorSet } from './validators.js'
import { issuePath, zodMessage } from './zod-issues.js'

/** Any problem with a genesis file or value; the message names the offending field. */
export class GenesisError extends Error {
  override name = 'GenesisError'
}

interface GenesisValidator {
  readonly peerId: string
  /** raw 32-byte Ed25519 public key; the same key signs the validator's consensus messages */
  readonly publicKey: Uint8Array
}

/** genesis.json (docs/HOME.md) as the node uses it. The validator order fixes each validator's index. */
export interface Genesis {
  readonly chainId: string
  /** canonical RFC 3339 UTC form with milliseconds (Date#toISOString) */
  readonly genesisTime: string
  /** the same instant in ms since the Unix epoch: block 0's timestamp */
  readonly genesisTimeMs: number
  readonly validators: readonly GenesisValidator[]
  readonly appState: { readonly kv: Readonly<Record<string, string>> }
}

/** The on-disk JSON shape (snake_case, like CometBFT's genesis.json). */
export interface GenesisFile {
  chain_id: string
  genesis_time: string
  validators: { peer_id: string; public_key: string }[]
  app_state: { kv: Record<string, string> }
}

const CHAIN_ID_PATTERN = /^[A-Za-z0-9._-]+$/
const PUBLIC_KEY_PATTERN = /^0x[0-9a-fA-F]*$/
// RFC 3339 §5.6 date-time; fields are range-checked below because Date.parse rolls
// "2026-02-30" over into March instead of rejecting it.
const RFC3339_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/

// Shape only; every semantic rule is checked by hand so each error can say exactly what is wrong.
// app_state.kv is checked by hand too: zod's record drops a "__proto__" key silently.
const genesisShape = z.strictObject({
  chain_id: z.string(),
  genesis_time: z.string(),
  validators: z.array(z.strictObject({ peer_id: z.string(), public_key: z.string() })),
  app_state: z.strictObject({ kv: z.unknown().optional() }).optional(),
})

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8')

/** Validates a chain id: 1..64 bytes of [A-Za-z0-9._-]. Returns a reason, or undefined when valid. */
export function chainIdProblem(chainId: string): string | undefined {
  if (chainId.length === 0 || chainId.length > MAX_CHAIN_ID_BYTES || !CHAIN_ID_PATTERN.test(chainId)) {
    return `must be 1..${MAX_CHAIN_ID_BYTES} characters of [A-Za-z0-9._-], got ${JSON.stringify(chainId)}`
  }
  return undefined
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate()
}

/** Parses an RFC 3339 timestamp with a zone to ms since the epoch; throws GenesisError. */
function parseRfc3339(text: string, field = 'genesis_time'): number {
  const m = RFC3339_PATTERN.exec(text)
  const bad = () =>
    new GenesisError(
      `genesis: ${field} must be an RFC 3339 time like 2026-01-31T12:00:00Z, got ${JSON.stringify(text)}`,
    )
  if (m === null) throw bad()
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const offHours = m[9] === undefined ? 0 : Number(m[9])
  const offMinutes = m[10] === undefined ? 0 : Number(m[10])
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth(year, month) ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    offHours > 23 ||
    offMinutes > 59
  ) {
    throw bad()
  }
  const ms = Date.parse(text.toUpperCase())
  if (!Number.isFinite(ms)) throw bad()
  // Block timestamps are unsigned; a pre-1970 genesis cannot be encoded.
  if (ms < 0) throw new GenesisError(`genesis: ${field} must not be before 1970-01-01T00:00:00Z`)
  return ms
}

function parseKv(kv: unknown): Record<string, string> {
  if (kv === undefined) return {}
  if (kv === null || typeof kv !== 'object' || Array.isArray(kv)) {
    throw new GenesisError('genesis: app_state.kv must be an object of string keys to string values')
  }
  const entries: [string, string][] = []
  for (const [key, value] of Object.entries(kv)) {
    const where = `app_state.kv[${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)}]`
    if (typeof value !== 'string') throw new GenesisError(`genesis: ${where} must be a string`)
    if (key.length === 0) throw new GenesisError('genesis: app_state.kv has an empty key')
    if (utf8Length(key) > MAX_KEY_BYTES) {
      throw new GenesisError(`genesis: ${where}: key is longer than ${MAX_KEY_BYTES} bytes`)
    }
    if (utf8Length(value) > MAX_VALUE_BYTES) {
      throw new GenesisError(`genesis: ${where}: value is longer than ${MAX_VALUE_BYTES} bytes`)
    }
    entries.push([key, value])
  }
  // Object.fromEntries defines own properties, so a "__proto__" key stays an ordinary entry.
  return Object.fromEntries(entries)
}

function parseValidators(list: readonly { peer_id: string; public_key: string }[]): GenesisValidator[] {
  if (list.length === 0) throw new GenesisError('genesis: validators must list at least one validator')
  if (list.length > MAX_VALIDATORS) {
    throw new GenesisError(
      `genesis: validators lists ${list.length} validators, at most ${MAX_VALIDATORS} allowed`,
    )
  }
  const seen = new Map<string, number>()
  return list.map((v, i) => {
    const where = `validators[${i}]`
    if (!PUBLIC_KEY_PATTERN.test(v.public_key) || v.public_key.length % 2 !== 0) {
      throw new GenesisError(
        `genesis: ${where}.public_key must be 0x-prefixed hex, got ${JSON.stringify(v.public_key)}`,
      )
    }
    const publicKey = new Uint8Array(Buffer.from(v.public_key.slice(2), 'hex'))
    if (publicKey.length !== PUBLIC_KEY_BYTES) {
      throw new GenesisError(
        `genesis: ${where}.public_key must be ${PUBLIC_KEY_BYTES} bytes (Ed25519), got ${publicKey.length}`,
      )
    }
    const peerId = peerIdOfPublicKey(publicKey)
    if (v.peer_id !== peerId) {
      throw new GenesisError(
        `genesis: ${where}.peer_id ${v.peer_id} does not match its public_key (expected ${peerId})`,
      )
    }
    const key = toHex(publicKey)
    const first = seen.get(key)
    if (first !== undefined) {
      throw new GenesisError(`genesis: ${where} duplicates validators[${first}] (${peerId})`)
    }
    seen.set(key, i)
    return { peerId, publicKey }
  })
}

/**
 * Parses and validates a genesis: a JSON text, or an already parsed JSON value. Throws one
 * GenesisError naming the field on anything malformed, unknown or inconsistent.
 */
export function parseGenesis(input: string | unknown): Genesis {
  let value: unknown = input
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input)
    } catch (err) {
      throw new GenesisError(`genesis: invalid JSON: ${(err as Error).message}`)
    }
  }
  const shape = genesisShape.safeParse(value, { error: zodMessage })
  if (!shape.success) {
    const issue = shape.error.issues[0]
    const path = issue === undefined ? '' : issuePath(issue.path)
    throw new GenesisError(`genesis: ${path === '' ? '' : `${path}: `}${issue?.message ?? 'invalid'}`)
  }
  const file = shape.data
  const chainProblem = chainIdProblem(file.chain_id)
  if (chainProblem !== undefined) throw new GenesisError(`genesis: chain_id ${chainProblem}`)
  const genesisTimeMs = parseRfc3339(file.genesis_time)
  return {
    chainId: file.chain_id,
    genesisTime: new Date(genesisTimeMs).toISOString(),
    genesisTimeMs,
    validators: parseValidators(file.validators),
    appState: { kv: parseKv(file.app_state?.kv) },
  }
}

/** Builds a validated Genesis from parts (used by `pbft init` / `pbft testnet`). */
export function makeGenesis(opts: {
  chainId: string
  genesisTime?: Date
  validators: readonly GenesisValidator[]
  kv?: Record<string, string>
}): Genesis {
  // Round-trip through the file form so a made genesis obeys exactly the rules of a loaded one.
  return parseGenesis({
    chain_id: opts.chainId,
    genesis_time: (opts.genesisTime ?? new Date()).toISOString(),
    validators: opts.validators.map((v) => ({ peer_id: v.peerId, public_key: toHex(v.publicKey) })),
    app_state: { kv: opts.kv ?? {} },
  })
}

export function genesisToFile(g: Genesis): GenesisFile {
  return {
    chain_id: g.chainId,
    genesis_time: g.genesisTime,
    validators: g.validators.map((v) => ({ peer_id: v.peerId, public_key: toHex(v.publicKey) })),
    app_state: { kv: { ...g.appState.kv } },
  }
}

export function serializeGenesis(g: Genesis): string {
  return `${JSON.stringify(genesisToFile(g), null, 2)}\n`
}

export async function loadGenesis(path: string): Promise<Genesis> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new GenesisError(
      `cannot read genesis ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  }
  try {
    return parseGenesis(text)
  } catch (err) {
    if (err instanceof GenesisError)
      throw new GenesisError(err.message.replace(/^genesis: /, `genesis ${path}: `))
    throw err
  }
}

/** Writes genesis.json; by default refuses to replace a file (a home's genesis is never rewritten). */
export async function saveGenesis(
  path: string,
  g: Genesis,
  opts: { overwrite?: boolean } = {},
): Promise<void> {
  try {
    await writeFile(path, serializeGenesis(g), { flag: opts.overwrite === true ? 'w' : 'wx', mode: 0o644 })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new GenesisError(`genesis ${path} already exists`)
    throw new GenesisError(`cannot write genesis ${path}: ${code ?? (err as Error).message}`)
  }
}

export function genesisValidatorSet(g: Genesis): ValidatorSet {
  return new ValidatorSet(g.validators)
}
