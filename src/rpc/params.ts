/**
 * One zod schema per method's named params (docs/RPC.md). Objects are strict: an unknown key is an
 * error (-32602), which catches typos such as `{heigth: 3}` that would otherwise silently mean
 * "latest". Hex inputs are normalised to lowercase 0x-hex so the backend sees one spelling.
 */
import { z } from 'zod'
import { MAX_KEY_BYTES } from '../codec/limits.js'

/** Any even-length hex string, optionally 0x-prefixed; the size is checked by the caller. */
const hexString = z.string().regex(/^(0[xX])?([0-9a-fA-F]{2})*$/, 'must be an even-length 0x-hex string')

function normaliseHex(s: string): string {
  return `0x${(s.startsWith('0x') || s.startsWith('0X') ? s.slice(2) : s).toLowerCase()}`
}

/** A 32-byte value (hash or public key) as 0x-hex. */
const bytes32Hex = z
  .string()
  .regex(/^(0[xX])?[0-9a-fA-F]{64}$/, 'must be 32 bytes as 0x-hex (64 hex digits)')
  .transform(normaliseHex)

const heightParam = z.int().min(0)

const eventName = z.enum(['NewBlock', 'Tx'])

export const noParams = z.strictObject({})

export const txParams = z.strictObject({ tx: hexString })

export const commitParams = z.strictObject({ tx: hexString, timeout_ms: z.int().min(1).optional() })

export const blockParams = z
  .strictObject({ height: heightParam.optional(), hash: bytes32Hex.optional() })
  .refine((p) => p.height === undefined || p.hash === undefined, 'give either height or hash, not both')

export const blockchainParams = z
  .strictObject({ min_height: heightParam.optional(), max_height: heightParam.optional() })
  .refine(
    (p) => p.min_height === undefined || p.max_height === undefined || p.min_height <= p.max_height,
    'min_height must not exceed max_height',
  )

export const hashParams = z.strictObject({ hash: bytes32Hex })

export const accountParams = z.strictObject({ address: bytes32Hex })

export const queryParams = z.strictObject({
  key: z
    .string()
    .refine(
      (k) => Buffer.byteLength(k, 'utf8') <= MAX_KEY_BYTES,
      `must be at most ${MAX_KEY_BYTES} UTF-8 bytes`,
    ),
})

/** `validator` is an index (genesis order) or a peer id; the backend knows which exist. */
export const evidenceParams = z.strictObject({
  limit: z.int().min(1).optional(),
  validator: z.union([z.int().min(0), z.string().min(1).max(128)]).optional(),
})

/** `limit` is accepted by num_unconfirmed_txs too (docs/RPC.md documents it for both) and ignored. */
export const limitParams = z.strictObject({ limit: z.int().min(1).optional() })

export const subscribeParams = z
  .strictObject({ event: eventName, hash: bytes32Hex.optional() })
  .refine((p) => p.hash === undefined || p.event === 'Tx', 'hash filters Tx events only')

export const unsubscribeParams = z
  .strictObject({
    subscription: z.string().optional(),
    event: eventName.optional(),
    hash: bytes32Hex.optional(),
  })
  .refine(
    (p) => (p.subscription === undefined) !== (p.event === undefined),
    'give either subscription or event (with an optional hash)',
  )
  .refine((p) => p.hash === undefined || p.event !== undefined, 'hash needs event')

/** "path: message; path: message" — one line a human can act on. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.map(String).join('.') : 'params'
      return `${path}: ${issue.message}`
    })
    .join('; ')
}
