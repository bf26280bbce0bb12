import { verifySignature } from '../crypto/ed25519.js'
import { bytesEqual, toHex } from '../crypto/hash.js'
import type { SignatureCheck } from '../crypto/verify-memo.js'

export interface Validator {
  readonly index: number
  readonly publicKey: Uint8Array
  readonly peerId: string
}

/** The fixed validator set from genesis: n = 3f+1 (any n >= 1 works; f = floor((n-1)/3)). */
export class ValidatorSet {
  readonly validators: readonly Validator[]
  readonly n: number
  readonly f: number
  /**
   * ceil((n+f+1)/2): any two quorums intersect in at least f+1 validators, so in one honest one.
   * It is 2f+1 when n = 3f+1 (the paper's setting) and stays safe for other n (e.g. n = 2, 3, 5).
   */
  readonly quorum: number
  private readonly byKey = new Map<string, Validator>()
  private readonly byPeer = new Map<string, Validator>()

  /**
   * `check` verifies one signature (default: Ed25519 verify). The node passes a memoizing one
   * (SignatureMemo) so a consensus signature is verified once per node whoever asks.
   */
  constructor(
    validators: readonly { publicKey: Uint8Array; peerId: string }[],
    private readonly check: SignatureCheck = verifySignature,
  ) {
    if (validators.length === 0) throw new RangeError('a validator set needs at least one validator')
    this.validators = validators.map((v, index) => ({ index, publicKey: v.publicKey, peerId: v.peerId }))
    this.n = this.validators.length
    this.f = Math.floor((this.n - 1) / 3)
    this.quorum = Math.floor((this.n + this.f) / 2) + 1
    for (const v of this.validators) {
      const key = toHex(v.publicKey)
      if (this.byKey.has(key)) throw new RangeError(`duplicate validator ${key}`)
      this.byKey.set(key, v)
      this.byPeer.set(v.peerId, v)
    }
  }

  /** PBFT §4.1: the primary of view v is replica v mod n. */
  primary(view: number): Validator {
    return this.validators[view % this.n] as Validator
  }

  at(index: number): Validator | undefined {
    return this.validators[index]
  }

  byPublicKey(publicKey: Uint8Array): Validator | undefined {
    return this.byKey.get(toHex(publicKey))
  }

  byPeerId(peerId: string): Validator | undefined {
    return this.byPeer.get(peerId)
  }

  isValidatorKey(publicKey: Uint8Array): boolean {
    const v = this.byPublicKey(publicKey)
    return v !== undefined && bytesEqual(v.publicKey, publicKey)
  }

  /** The same set, checking signatures with `check` (e.g. SignatureMemo.check). */
  withSignatureCheck(check: SignatureCheck): ValidatorSet {
    return new ValidatorSet(this.validators, check)
  }

  /** Checks one signature by the validator at `index`. */
  verify(index: number, message: Uint8Array, signature: Uint8Array): boolean {
    const v = this.validators[index]
    return v !== undefined && this.check(v.publicKey, message, signature)
  }
}
