import type { ChainTip, StateEntry, StateWrite } from '../chain/store.js'
import { decodeTx, type HashedTx, txHash, txSignBytes } from '../codec/chain.js'
import type { SignedTx, TxOp } from '../codec/types.js'
import { verifySignature } from '../crypto/ed25519.js'
import { SignatureCache } from './signature-cache.js'
import {
  AppStateError,
  decodeEntry,
  encodeNonce,
  encodeString,
  kvStateKey,
  nonceStateKey,
} from './state-keys.js'
import { entryId, type StatePatch, StateTree } from './state-tree.js'

/** Why a tx is invalid against the state; stable strings (RPC error codes and block rejections use them). */
type TxRejectReason = 'malformed' | 'wrong_chain' | 'bad_nonce' | 'bad_signature'

interface TxResult {
  readonly hash: Uint8Array
  readonly from: Uint8Array
  readonly nonce: number
  readonly op: TxOp
}

/** A block's txs executed against the committed state, not yet applied. */
export interface Execution {
  readonly ok: true
  /** the state root after these txs (the app_hash the next block header must carry) */
  readonly appHash: Uint8Array
  /** the state changes, for ChainStore.commitBlock's atomic batch */
  readonly writes: readonly StateWrite[]
  readonly results: readonly TxResult[]
}

interface ExecutionFailure {
  readonly ok: false
  /** index of the first invalid tx in the block */
  readonly index: number
  readonly reason: TxRejectReason
}

type CheckTxResult =
  | { readonly ok: true; readonly tx: SignedTx; readonly hash: Uint8Array }
  | { readonly ok: false; readonly reason: TxRejectReason }

/** Where a restarting app reads its state: the ChainStore, or anything shaped like it. */
interface AppStateSource {
  appEntries(): AsyncIterable<StateEntry>
  tip(): Pick<ChainTip, 'height' | 'appHash'>
}

interface PendingState {
  /** the state version apply() must find: the committed one, or the one base's apply() produces */
  readonly baseVersion: number
  /** the uncommitted execution this one was computed on (pipelining), or null: committed state */
  readonly base: Execution | null
  readonly kv: ReadonlyMap<string, string | null>
  readonly nonces: ReadonlyMap<string, { address: Uint8Array; next: number }>
  /** next nonces of every sender touched by this execution and its uncommitted bases */
  readonly allNonces: ReadonlyMap<string, number>
  /** cumulative: base's patch plus this one's changes (state-tree.ts prepare) */
  readonly patch: StatePatch
}

function addressId(address: Uint8Array): string {
  return entryId(address)
}

/**
 * The replicated key-value application (docs/CONSENSUS.md "Transactions and blocks"; CometBFT's kvstore): string keys and values, and a
 * next-nonce per sender so a replayed tx is invalid. Execution is speculative (execute), and only
 * apply() — called after the store has made the block durable — changes committed state.
 */
export class KvApp {
  private readonly kv = new Map<string, string>()
  private readonly nonces = new Map<string, number>()
  private readonly pending = new WeakMap<Execution, PendingState>()
  /** bumped by every apply(); an Execution is only valid against the version it was computed on */
  private version = 0
  /** the execution the last apply() installed (a pipelined child must name it as its base) */
  private lastApplied: Execution | null = null
  private currentHeight: number

  private constructor(
    readonly chainId: string,
    private readonly tree: StateTree,
    height: number,
    readonly signatures: SignatureCache,
  ) {
    this.currentHeight = height
  }

  /** The state at genesis (height 0) from genesis.json's app_state: a flat map of strings. */
  static fromGenesis(
    chainId: string,
    kv: Readonly<Record<string, string>>,
    cache = new SignatureCache(),
  ): KvApp {
    const entries = Object.entries(kv).map(([k, v]) => {
      if (typeof v !== 'string') throw new AppStateError(`genesis app_state value for '${k}' is not a string`)
      return { key: kvStateKey(k), value: encodeString(v) }
    })
    return KvApp.fromEntries(chainId, entries, 0, cache)
  }

  /** Rebuilds an app from stored entries at `height` (also used by the simulator's memory stores). */
  static fromEntries(
    chainId: string,
    entries: Iterable<StateEntry>,
    height: number,
    cache = new SignatureCache(),
  ): KvApp {
    const list = [...entries]
    const app = new KvApp(chainId, StateTree.fromEntries(list), height, cache)
    for (const { key, value } of list) {
      const e = decodeEntry(key, value)
      if (e.kind === 'kv') app.kv.set(e.key, e.value)
      else app.nonces.set(addressId(e.address), e.nonce)
    }
    return app
  }

  /**
   * Loads the state persisted by ChainStore and checks it: the root recomputed from the stored entries
   * must equal the tip's recorded post-state app hash, or the store is corrupt.
   */
  static async load(source: AppStateSource, chainId: string, cache = new SignatureCache()): Promise<KvApp> {
    const entries: StateEntry[] = []
    for await (const e of source.appEntries()) entries.push(e)
    const tip = source.tip()
    const app = KvApp.fromEntries(chainId, entries, tip.height, cache)
    if (Buffer.compare(app.appHash(), tip.appHash) !== 0) {
      throw new AppStateError(
        `the stored app state hashes to ${Buffer.from(app.appHash()).toString('hex')}, but the tip at height ` +
          `${tip.height} records ${Buffer.from(tip.appHash).toString('hex')}: the store is corrupt`,
      )
    }
    return app
  }

  /** Every state entry, for ChainStore.init at genesis. */
  stateEntries(): StateEntry[] {
    const out: StateEntry[] = []
    for (const [k, v] of this.kv) out.push({ key: kvStateKey(k), value: encodeString(v) })
    for (const [a, n] of this.nonces) {
      out.push({ key: nonceStateKey(Buffer.from(a, 'latin1')), value: encodeNonce(n) })
    }
    return out
  }

  /** Height of the last applied block (0 at genesis). */
  get height(): number {
    return this.currentHeight
  }

  appHash(): Uint8Array {
    return this.tree.root()
  }

  query(key: string): string | null {
    return this.kv.get(key) ?? null
  }

  /** The sender's next nonce in committed state (0 for a new sender). */
  nonce(address: Uint8Array): number {
    return this.nonces.get(addressId(address)) ?? 0
  }

  /**
   * Mempool admission against committed state (CometBFT's CheckTx): decodes, checks chain id, that the
   * nonce is not already used, and the signature (remembered, so the block won't verify it again).
   * A nonce ahead of the state is accepted: ordering is the mempool's concern.
   */
  checkTx(raw: Uint8Array): CheckTxResult {
    let tx: SignedTx
    try {
      tx = decodeTx(raw)
    } catch {
      return { ok: false, reason: 'malformed' }
    }
    if (tx.chainId !== this.chainId) return { ok: false, reason: 'wrong_chain' }
    if (tx.nonce < this.nonce(tx.from)) return { ok: false, reason: 'bad_nonce' }
    const hash = txHash(raw)
    if (!this.signatureValid(tx, raw, hash)) return { ok: false, reason: 'bad_signature' }
    return { ok: true, tx, hash }
  }

  /**
   * Executes a block's txs in order on top of committed state, without changing it. A tx is valid when
   * it decodes, names this chain, carries its sender's next nonce (counting earlier txs of the same
   * block) and is signed by its sender. The first invalid tx fails the whole execution.
   * A tx given as plain bytes is hashed here. A HashedTx brings its hash (block validation and the
   * block builder have it already): hashTx computed it from exactly those bytes, so it cannot be a
   * wrong hash that hits the signature cache for an unverified tx. A hash from anywhere else is
   * never taken.
   */
  execute(txs: readonly (Uint8Array | HashedTx)[], base?: Execution): Execution | ExecutionFailure {
    let basePending: PendingState | undefined
    if (base !== undefined) {
      basePending = this.pending.get(base)
      if (basePending === undefined || basePending.baseVersion < this.version) {
        throw new AppStateError('execute: the base execution is applied, stale or not from this app')
      }
    }
    const baseNonces = basePending?.allNonces
    const kv = new Map<string, string | null>()
    const nonces = new Map<string, { address: Uint8Array; next: number }>()
    const results: TxResult[] = []
    for (let index = 0; index < txs.length; index++) {
      const item = txs[index] as Uint8Array | HashedTx
      const raw = item instanceof Uint8Array ? item : item.bytes
      let tx: SignedTx
      try {
        tx = item instanceof Uint8Array ? decodeTx(raw) : item.decoded()
      } catch {
        return { ok: false, index, reason: 'malformed' }
      }
      if (tx.chainId !== this.chainId) return { ok: false, index, reason: 'wrong_chain' }
      const id = addressId(tx.from)
      const expected = nonces.get(id)?.next ?? baseNonces?.get(id) ?? this.nonces.get(id) ?? 0
      if (tx.nonce !== expected) return { ok: false, index, reason: 'bad_nonce' }
      const hash = item instanceof Uint8Array ? txHash(raw) : item.hash
      if (!this.signatureValid(tx, raw, hash)) return { ok: false, index, reason: 'bad_signature' }
      nonces.set(id, { address: tx.from, next: expected + 1 })
      kv.set(tx.op.key, tx.op.type === 'set' ? tx.op.value : null)
      results.push({ hash, from: tx.from, nonce: tx.nonce, op: tx.op })
    }
    const writes: StateWrite[] = []
    for (const [k, v] of kv) writes.push({ key: kvStateKey(k), value: v === null ? null : encodeString(v) })
    for (const { address, next } of nonces.values()) {
      writes.push({ key: nonceStateKey(address), value: encodeNonce(next) })
    }
    const patch = this.tree.prepare(writes, basePending?.patch)
    const execution: Execution = { ok: true, appHash: patch.root, writes, results }
    const allNonces = new Map(baseNonces ?? [])
    for (const [id, { next }] of nonces) allNonces.set(id, next)
    this.pending.set(execution, {
      baseVersion: basePending === undefined ? this.version : basePending.baseVersion + 1,
      base: base ?? null,
      kv,
      nonces,
      allNonces,
      patch,
    })
    return execution
  }

  /** The sender's next nonce after `execution` (and its uncommitted bases) on top of committed state. */
  nonceAfter(execution: Execution | undefined, address: Uint8Array): number {
    const id = addressId(address)
    const p = execution === undefined ? undefined : this.pending.get(execution)
    return p?.allNonces.get(id) ?? this.nonces.get(id) ?? 0
  }

  /** Whether apply(execution) would succeed now (computed on exactly the committed state). */
  canApply(execution: Execution): boolean {
    const p = this.pending.get(execution)
    if (p === undefined || p.baseVersion !== this.version) return false
    return p.base === null || p.base === this.lastApplied
  }

  /**
   * Makes an execution the committed state (after ChainStore.commitBlock made it durable) and moves
   * to the next height. Refuses an execution computed on an older state: applying it would corrupt
   * the state silently.
   */
  apply(execution: Execution): void {
    const p = this.pending.get(execution)
    if (p === undefined) throw new AppStateError('apply: this execution was not produced by this app')
    if (!this.canApply(execution)) {
      throw new AppStateError('apply: the execution is stale (the state changed since it was computed)')
    }
    for (const [k, v] of p.kv) {
      if (v === null) this.kv.delete(k)
      else this.kv.set(k, v)
    }
    for (const [id, { next }] of p.nonces) this.nonces.set(id, next)
    this.tree.commit(p.patch)
    this.version++
    this.currentHeight++
    this.pending.delete(execution)
    this.lastApplied = execution
  }

  /** `raw` is the tx's encoding that decoded to `tx`, `hash` its hash. */
  private signatureValid(tx: SignedTx, raw: Uint8Array, hash: Uint8Array): boolean {
    if (this.signatures.has(hash)) return true
    if (!verifySignature(tx.from, txSignBytes(raw), tx.signature)) return false
    this.signatures.add(hash)
    return true
  }
}
