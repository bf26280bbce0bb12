import { createHash, type KeyObject } from 'node:crypto'
import { createRequire, syncBuiltinESMExports } from 'node:module'

/**
 * The model checker replays the same schedules prefix by prefix, so the engine signs and verifies the
 * same bytes over and over. Ed25519 is deterministic: remembering each (key, message[, signature])
 * answer changes no result and makes a replay cost hashing instead of curve arithmetic. Installed
 * in the checker's own process only (test/model/cli.ts), before any engine module loads.
 */
export function memoizeEd25519(): void {
  const require = createRequire(import.meta.url)
  const crypto = require('node:crypto') as typeof import('node:crypto')
  const sign = crypto.sign
  const verify = crypto.verify
  const signs = new WeakMap<KeyObject, Map<string, Buffer>>()
  const verifies = new WeakMap<KeyObject, Map<string, boolean>>()
  const digest = (...parts: NodeJS.ArrayBufferView[]): string => {
    const h = createHash('sha256')
    for (const p of parts) h.update(p)
    return h.digest('base64')
  }
  const memoSign = (algorithm: null, data: NodeJS.ArrayBufferView, key: KeyObject): Buffer =>
    remember(signs, key, digest(data), () => sign(algorithm, data, key))
  const memoVerify = (
    algorithm: null,
    data: NodeJS.ArrayBufferView,
    key: KeyObject,
    signature: NodeJS.ArrayBufferView,
  ): boolean =>
    remember(verifies, key, digest(data, signature), () => verify(algorithm, data, key, signature))
  Object.assign(crypto, { sign: memoSign, verify: memoVerify })
  syncBuiltinESMExports()
}

function remember<K extends object, V>(
  cache: WeakMap<K, Map<string, V>>,
  key: K,
  id: string,
  compute: () => V,
): V {
  let byKey = cache.get(key)
  if (byKey === undefined) {
    byKey = new Map()
    cache.set(key, byKey)
  }
  const known = byKey.get(id)
  if (known !== undefined) return known
  const value = compute()
  byKey.set(id, value)
  return value
}
