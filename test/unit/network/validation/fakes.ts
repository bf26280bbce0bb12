import { ValidatorSet } from '../../../../src/chain/validators.js'
import { type HashedTx, txHash } from '../../../../src/codec/chain.js'
import { type ViewChangeMsg, viewChangeSignBytes } from '../../../../src/codec/consensus.js'
import type { Ed25519Signer } from '../../../../src/crypto/ed25519.js'
import { toHex } from '../../../../src/crypto/hash.js'
import type { MempoolError } from '../../../../src/mempool/errors.js'
import {
  GossipValidationError,
  type GossipValidator,
  type GossipValidators,
} from '../../../../src/network/gossip-validation.js'
import type { ValidatorBudgets } from '../../../../src/network/options.js'
import {
  createGossipValidators,
  type GossipValidationComponents,
  type TxGossipPool,
} from '../../../../src/network/validation/index.js'
import { CHAIN, makeSigners } from '../../consensus/harness.js'

/** An in-memory mempool: admits what `refuse` lets through, and says 'known' for a pending tx. */
export class FakePool implements TxGossipPool {
  readonly pending = new Map<string, Uint8Array>()
  /** the mempool's own verdict on a new tx, e.g. a state-dependent refusal; undefined admits it */
  refuse: (tx: Uint8Array) => MempoolError | Error | undefined = () => undefined

  has(hash: Uint8Array): boolean {
    return this.pending.has(toHex(hash))
  }

  add({ bytes: tx, hash }: HashedTx): { status: 'added' | 'known' } {
    const key = toHex(txHash(tx))
    // the hash the validator carries along is the hash of exactly these bytes
    if (toHex(hash) !== key) throw new Error(`carried hash ${toHex(hash)} is not the tx's hash ${key}`)
    if (this.pending.has(key)) return { status: 'known' }
    const err = this.refuse(tx)
    if (err !== undefined) throw err
    this.pending.set(key, tx)
    return { status: 'added' }
  }
}

export class FakeSignatures {
  readonly verified = new Set<string>()

  has(hash: Uint8Array): boolean {
    return this.verified.has(toHex(hash))
  }

  add(hash: Uint8Array): void {
    this.verified.add(toHex(hash))
  }
}

/** A real validator set that counts signature checks, to see which checks ran before them. */
export class CountingValidatorSet extends ValidatorSet {
  verifies = 0

  override verify(index: number, message: Uint8Array, signature: Uint8Array): boolean {
    this.verifies++
    return super.verify(index, message, signature)
  }
}

export const signers = makeSigners(4)

/** Validator i's key. */
export const s = (i: number): Ed25519Signer => signers[i] as Ed25519Signer

/** VIEW-CHANGE to `newView` at genesis (no checkpoint, nothing prepared), signed by `signer`. */
export function viewChange(sender: number, newView: number, signer = s(sender)): ViewChangeMsg {
  const body = { newView, sender, checkpointHeight: 0, checkpoint: null, prepared: [] }
  return { kind: 'viewchange', ...body, signature: signer.sign(viewChangeSignBytes(CHAIN, body)) }
}

/** The node's validators over fakes: tip height, view and clock (ms) are settable, admissions recorded. */
export class Fixture {
  tip = 0
  view = 0
  clock = 0
  readonly admitted: number[] = []
  readonly mempool = new FakePool()
  readonly signatures = new FakeSignatures()
  readonly validatorSet = new CountingValidatorSet(
    signers.map((s, i) => ({ publicKey: s.publicKey, peerId: `p${i}` })),
  )
  readonly components: GossipValidationComponents
  readonly validators: GossipValidators

  constructor(opts: { chainId?: string; budgets?: ValidatorBudgets } = {}) {
    this.components = {
      chainId: opts.chainId ?? CHAIN,
      validators: this.validatorSet,
      tipHeight: () => this.tip,
      currentView: () => this.view,
      ...(opts.budgets === undefined ? {} : { budgets: opts.budgets }),
      now: () => this.clock,
      mempool: this.mempool,
      signatures: this.signatures,
      onTxsAdmitted: (count) => this.admitted.push(count),
    }
    this.validators = createGossipValidators(this.components)
  }
}

/** A validator's outcome as one string: 'accept', 'ignore', or e.g. 'reject:malformed'. */
export async function judge(validator: GossipValidator, data: Uint8Array): Promise<string> {
  try {
    return await validator(data, 'peer')
  } catch (err) {
    if (err instanceof GossipValidationError) return `${err.action}:${err.code}`
    throw err
  }
}
