import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, verifySignature } from './ed25519.js'
import { sha256 } from './hash.js'

/** Checks one Ed25519 signature: true only if `signature` by `publicKey` over `message` verifies. */
export type SignatureCheck = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean

/**
 * Verify each consensus signature once per node (docs/PERFORMANCE.md "Verify once"): the gossip
 * validator and the engine both check a message, and a commit certificate repeats COMMIT votes the
 * node already checked. This remembers the signatures that verified, keyed by SHA-256 of
 * public key ‖ signature ‖ message — exactly the bytes the verification covered, so a hit means
 * this key signed these bytes with this signature, and a tampered copy (any byte of any of the
 * three) misses and is verified (and refused) on its own. Only successes are kept; the key and
 * signature lengths are checked before the lookup, so the concatenation is unambiguous.
 *
 * Pure in effect: `check` answers exactly what `verify` would, so the engine, which must stay
 * pure, can take it (through its ValidatorSet). Bounded: the oldest entries go first.
 */
export class SignatureMemo {
  private readonly seen = new Map<string, true>()
  /** real verifications run (cache misses) */
  verifications = 0
  /** answers from the memo */
  hits = 0

  constructor(
    private readonly limit = 32_768,
    private readonly verify: SignatureCheck = verifySignature,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer')
  }

  readonly check: SignatureCheck = (publicKey, message, signature) => {
    if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false
    const d = sha256(publicKey, signature, message)
    const key = Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64')
    if (this.seen.has(key)) {
      this.hits++
      return true
    }
    this.verifications++
    if (!this.verify(publicKey, message, signature)) return false
    if (this.seen.size >= this.limit) {
      const oldest = this.seen.keys().next()
      if (oldest.done !== true) this.seen.delete(oldest.value)
    }
    this.seen.set(key, true)
    return true
  }

  get size(): number {
    return this.seen.size
  }
}
