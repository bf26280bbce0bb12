import { type HashedTx, hashTx, txSignBytes } from '../codec/chain.js'
import { CodecError } from '../codec/errors.js'
import type { SignedTx } from '../codec/types.js'
import { verifySignature } from '../crypto/ed25519.js'
import { BoundedMap } from './bounded-map.js'
import { MempoolError, type MempoolErrorCode } from './errors.js'
import { type MempoolOptions, resolveMempoolOptions } from './options.js'

/** The committed state as the mempool sees it: each sender's next nonce. */
interface NonceSource {
  nonce(address: Uint8Array): number
}

/**
 * A record of tx hashes whose signatures verified, shared with the block executor (the app's
 * SignatureCache) so a tx is verified once per node, not again when its block is validated.
 * The hash covers body and signature, so a hit means these exact bytes verified.
 */
export interface VerifiedSignatures {
  has(hash: Uint8Array): boolean
  add(hash: Uint8Array): void
}

/** Why a pending tx left the pool without being committed. */
export type DropReason = 'expired' | 'stale_nonce'

export interface DroppedTx {
  readonly hash: Uint8Array
  readonly reason: DropReason
}

export type MempoolTxStatus =
  | { readonly status: 'pending' }
  | { readonly status: 'dropped'; readonly reason: string }

/** What the node remembers of a tx that left the pool uncommitted (the `tx` RPC reports it). */
export interface DroppedTxRecord {
  /** a DropReason, or why a journaled tx could not be re-admitted after a restart */
  readonly reason: string
  readonly encoded: Uint8Array
}

export type AddResult =
  | { readonly hash: Uint8Array; readonly status: 'added' }
  /** the same bytes are already pending: a resubmission is an answer, not a failure (docs/RPC.md) */
  | { readonly hash: Uint8Array; readonly status: 'known'; readonly current: { readonly status: 'pending' } }

export interface MempoolInit {
  readonly chainId: string
  readonly state: NonceSource
  /** milliseconds; injected so tests and the simulator drive time */
  readonly now: () => number
  readonly options?: Partial<MempoolOptions>
  /** called once for every tx dropped by update() or evictExpired(), e.g. to emit an event */
  readonly onDrop?: (hash: Uint8Array, reason: DropReason, encoded: Uint8Array) => void
  /** called for every tx add() refuses, with its code (e.g. to count rejections by reason) */
  readonly onReject?: (code: MempoolErrorCode) => void
  /** called when the bounded dropped history forgets its oldest record (e.g. the journal follows) */
  readonly onForgetDropped?: (hash: Uint8Array) => void
  /** consulted before verifying and told of every verified tx (e.g. the app's SignatureCache) */
  readonly signatureCache?: VerifiedSignatures
}

interface PendingTx {
  /** hex of the tx hash: the index key */
  readonly key: string
  readonly hash: Uint8Array
  readonly encoded: Uint8Array
  /** encoded with hash, as handed to the block builder */
  readonly hashed: HashedTx
  readonly sender: Sender
  readonly nonce: number
  readonly addedAt: number
  /** arrival order, for fair reaping */
  readonly seq: number
}

interface Sender {
  readonly key: string
  readonly address: Uint8Array
  /** this sender's pending txs by nonce; at most maxNonceAhead + 1 of them */
  readonly txs: Map<number, PendingTx>
}

function hexKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/**
 * Pending transactions: admission (the tx validity of docs/CONSENSUS.md "Transactions and blocks", minus execution), fair batching for the
 * proposer, and re-checking after each committed block. Does no I/O and reads no clock.
 *
 * Indexes: by hash (a Map in arrival order, so TTL eviction walks only the expired prefix) and
 * per sender by nonce (so executability and pendingNonce are a few Map lookups). Every tx
 * acknowledged by add() either is committed (the node sees it in the chain's tx index) or is
 * recorded here as dropped with a reason — never silently forgotten (docs/CONSENSUS.md "Consensus rules").
 */
export class Mempool {
  readonly options: MempoolOptions
  private readonly chainId: string
  private readonly state: NonceSource
  private readonly now: () => number
  private readonly onDrop: ((hash: Uint8Array, reason: DropReason, encoded: Uint8Array) => void) | undefined
  private readonly onReject: ((code: MempoolErrorCode) => void) | undefined
  private readonly byHash = new Map<string, PendingTx>()
  private readonly senders = new Map<string, Sender>()
  /** the node's one dropped-tx history: newest maxDroppedHistory, oldest forgotten first */
  private readonly dropped: BoundedMap<string, DroppedTxRecord>
  /** hashes whose signature verified, kept after they leave the pool: verify each tx once */
  private readonly verified: BoundedMap<string, true>
  private readonly signatureCache: VerifiedSignatures | undefined
  private totalBytes = 0
  private nextSeq = 0

  constructor(init: MempoolInit) {
    this.options = resolveMempoolOptions(init.options)
    this.chainId = init.chainId
    this.state = init.state
    this.now = init.now
    this.onDrop = init.onDrop
    this.onReject = init.onReject
    const onForget = init.onForgetDropped
    this.dropped = new BoundedMap(
      this.options.maxDroppedHistory,
      onForget === undefined ? undefined : (key) => onForget(Buffer.from(key, 'hex')),
    )
    this.verified = new BoundedMap(this.options.maxVerifiedCache)
    this.signatureCache = init.signatureCache
  }

  /** number of pending txs */
  get size(): number {
    return this.byHash.size
  }

  /** encoded bytes of all pending txs */
  get bytes(): number {
    return this.totalBytes
  }

  /**
   * Admits an encoded signed tx or throws a MempoolError saying why not. Cheap checks run
   * first and the signature (the dominant cost) last, so spam and replays cost no verify.
   * `admittedAt` (ms) is for re-admitting a journaled tx after a restart: its TTL keeps counting
   * from its first admission. Re-admit in admission-time order: evictExpired relies on arrival
   * order being time order. A HashedTx comes with its hash (computed by hashTx from exactly its
   * bytes), which is then not computed again, and its bytes are kept without a copy.
   */
  add(tx: Uint8Array | HashedTx, admittedAt?: number): AddResult {
    try {
      return this.admit(tx, admittedAt)
    } catch (err) {
      if (err instanceof MempoolError) this.onReject?.(err.code)
      throw err
    }
  }

  private admit(input: Uint8Array | HashedTx, admittedAt: number | undefined): AddResult {
    const { maxTxBytes, maxNonceAhead, maxTxs, maxBytes } = this.options
    const encodedTx = input instanceof Uint8Array ? input : input.bytes
    if (encodedTx.length > maxTxBytes) {
      throw new MempoolError('too_large', `tx too large: ${encodedTx.length} > ${maxTxBytes} bytes`)
    }
    // The caller's plain bytes are copied (the pool must not see them change) and the copy hashed;
    // a HashedTx's bytes are immutable by contract and kept unless they are a view into a larger
    // buffer (e.g. a whole message, which the pool must not keep alive): then copied and rehashed.
    const hashed =
      input instanceof Uint8Array
        ? hashTx(input.slice())
        : ownsBuffer(input.bytes)
          ? input
          : hashTx(input.bytes.slice())
    const hash = hashed.hash
    const key = hexKey(hash)
    if (this.byHash.has(key)) return { hash, status: 'known', current: { status: 'pending' } }

    const tx = decodeOrThrow(hashed)
    if (tx.chainId !== this.chainId) {
      throw new MempoolError(
        'wrong_chain',
        `tx chain_id ${JSON.stringify(tx.chainId)} is not ${this.chainId}`,
      )
    }
    const stateNonce = this.state.nonce(tx.from)
    if (tx.nonce < stateNonce) {
      throw new MempoolError(
        'bad_nonce',
        `nonce ${tx.nonce} already used: the sender's next nonce is ${stateNonce}`,
      )
    }
    if (tx.nonce > stateNonce + maxNonceAhead) {
      throw new MempoolError(
        'nonce_too_far',
        `nonce ${tx.nonce} is too far ahead: at most ${stateNonce + maxNonceAhead} (next nonce ${stateNonce})`,
      )
    }
    const senderKey = hexKey(tx.from)
    const sender = this.senders.get(senderKey)
    if (sender?.txs.has(tx.nonce) === true) {
      // First one wins: replacing would let anyone who saw a tx race a conflicting one past it.
      throw new MempoolError(
        'nonce_taken',
        `another pending tx from this sender already has nonce ${tx.nonce}`,
      )
    }
    if (this.byHash.size >= maxTxs) {
      throw new MempoolError('mempool_full', `mempool full: ${this.byHash.size} txs (max ${maxTxs})`)
    }
    if (this.totalBytes + encodedTx.length > maxBytes) {
      throw new MempoolError('mempool_full', `mempool full: ${this.totalBytes} bytes (max ${maxBytes})`)
    }
    if (!this.verified.has(key) && this.signatureCache?.has(hash) !== true) {
      if (!verifySignature(tx.from, txSignBytes(hashed.bytes), tx.signature)) {
        throw new MempoolError('invalid_signature', 'tx signature does not verify')
      }
    }
    // Verified (now or before): block validation of this tx will not verify it again.
    this.verified.set(key, true)
    this.signatureCache?.add(hash)

    this.insert(key, hashed, tx, sender ?? this.newSender(senderKey, tx.from), admittedAt ?? this.now())
    // A resubmitted tx that was dropped (e.g. expired) is pending again.
    this.dropped.delete(key)
    return { hash, status: 'added' }
  }

  /**
   * Txs for the next proposal, without removing them: only txs executable in order (each
   * sender's nonces contiguous from its state nonce), at most `maxTxs` and `maxBytes` of encoded
   * tx bytes (block framing is the caller's to subtract). Fair across senders: round-robin, one
   * tx per sender a round, senders ordered by the arrival of their first executable tx.
   * The returned arrays are the pool's own: do not mutate them.
   * `state` overrides the committed nonces, e.g. with those after blocks proposed but not final yet
   * (pipelining), so their txs are skipped and their senders' next txs come first.
   */
  reap(maxTxs: number, maxBytes: number, state: NonceSource = this.state): Uint8Array[] {
    return this.reapHashed(maxTxs, maxBytes, state).map((tx) => tx.bytes)
  }

  /** reap() with each tx's hash (the block builder's tx root and execution need them). */
  reapHashed(maxTxs: number, maxBytes: number, state: NonceSource = this.state): HashedTx[] {
    let round: PendingTx[] = []
    for (const sender of this.senders.values()) {
      const head = sender.txs.get(state.nonce(sender.address))
      if (head !== undefined) round.push(head)
    }
    round.sort((a, b) => a.seq - b.seq)

    const out: HashedTx[] = []
    let bytes = 0
    while (round.length > 0 && out.length < maxTxs) {
      const next: PendingTx[] = []
      for (const tx of round) {
        if (out.length >= maxTxs) break
        // A tx that does not fit blocks only its own sender (its successors need it first).
        if (bytes + tx.encoded.length > maxBytes) continue
        out.push(tx.hashed)
        bytes += tx.encoded.length
        const successor = tx.sender.txs.get(tx.nonce + 1)
        if (successor !== undefined) next.push(successor)
      }
      round = next
    }
    return out
  }

  /**
   * Is some pending tx executable on the committed state (its sender's next nonce)? What makes a
   * block worth proposing: a tx waiting behind a nonce gap is not, and must not start the backups'
   * progress timer (a client's gap would otherwise force view changes). Stops at the first one.
   */
  hasExecutable(): boolean {
    for (const sender of this.senders.values())
      if (sender.txs.has(this.state.nonce(sender.address))) return true
    return false
  }

  /**
   * After a block is applied (state nonces already advanced): forgets its txs (the chain's tx
   * index reports them from now on) and drops pending txs whose nonce the state has passed,
   * e.g. a conflicting tx with the same nonce got committed. Returns the dropped txs.
   * Walks every pending tx once — per block, not per tx.
   */
  update(committedTxHashes: readonly Uint8Array[]): DroppedTx[] {
    for (const hash of committedTxHashes) {
      const key = hexKey(hash)
      const tx = this.byHash.get(key)
      if (tx !== undefined) this.remove(tx)
      // Committed after all (e.g. via another node's pool): final beats an earlier drop.
      this.dropped.delete(key)
    }
    const droppedNow: DroppedTx[] = []
    // Deleting the current entry while iterating a Map is well defined in JS.
    for (const sender of this.senders.values()) {
      const stateNonce = this.state.nonce(sender.address)
      for (const tx of sender.txs.values()) {
        if (tx.nonce < stateNonce) droppedNow.push(this.drop(tx, 'stale_nonce'))
      }
    }
    return droppedNow
  }

  /** Drops txs pending for longer than ttlMs; the node calls this periodically. */
  evictExpired(): DroppedTx[] {
    const cutoff = this.now() - this.options.ttlMs
    const droppedNow: DroppedTx[] = []
    // byHash is in arrival order, so the expired txs are a prefix.
    for (const tx of this.byHash.values()) {
      if (tx.addedAt >= cutoff) break
      droppedNow.push(this.drop(tx, 'expired'))
    }
    return droppedNow
  }

  /** 'pending', 'dropped' with its reason, or undefined (never seen, committed, or forgotten). */
  status(hash: Uint8Array): MempoolTxStatus | undefined {
    const key = hexKey(hash)
    if (this.byHash.has(key)) return { status: 'pending' }
    const record = this.dropped.get(key)
    return record === undefined ? undefined : { status: 'dropped', reason: record.reason }
  }

  /** A tx dropped from this pool (or restored as dropped from the journal), with its bytes. */
  droppedTx(hash: Uint8Array): DroppedTxRecord | undefined {
    return this.dropped.get(hexKey(hash))
  }

  /**
   * Puts a tx dropped before a restart back into the history (oldest first); onDrop is not called,
   * since it was reported when it happened.
   */
  restoreDropped(hash: Uint8Array, reason: string, encoded: Uint8Array): void {
    const key = hexKey(hash)
    if (!this.byHash.has(key)) this.dropped.set(key, { reason, encoded })
  }

  has(hash: Uint8Array): boolean {
    return this.byHash.has(hexKey(hash))
  }

  /** When a pending tx was admitted (ms), e.g. to journal it with its TTL start. */
  admittedAt(hash: Uint8Array): number | undefined {
    return this.byHash.get(hexKey(hash))?.addedAt
  }

  /** The encoded tx if pending (the pool's own copy: do not mutate). */
  get(hash: Uint8Array): Uint8Array | undefined {
    return this.byHash.get(hexKey(hash))?.encoded
  }

  /**
   * True when this exact tx (hash covers body and signature) has had its signature verified by
   * this pool recently, so a block validator may skip verifying it again.
   */
  hasVerifiedSignature(hash: Uint8Array): boolean {
    const key = hexKey(hash)
    return this.byHash.has(key) || this.verified.has(key)
  }

  /** The sender's next nonce counting its pending txs contiguous from the state nonce. */
  pendingNonce(address: Uint8Array): number {
    let nonce = this.state.nonce(address)
    const sender = this.senders.get(hexKey(address))
    if (sender === undefined) return nonce
    while (sender.txs.has(nonce)) nonce++
    return nonce
  }

  /** Up to `limit` pending txs in arrival order (for unconfirmed_txs). */
  list(limit: number): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const tx of this.byHash.values()) {
      if (out.length >= limit) break
      out.push(tx.encoded)
    }
    return out
  }

  private newSender(key: string, address: Uint8Array): Sender {
    const sender: Sender = { key, address, txs: new Map() }
    this.senders.set(key, sender)
    return sender
  }

  private insert(key: string, hashed: HashedTx, tx: SignedTx, sender: Sender, addedAt: number): void {
    const entry: PendingTx = {
      key,
      hash: hashed.hash,
      encoded: hashed.bytes,
      hashed,
      sender,
      nonce: tx.nonce,
      addedAt,
      seq: this.nextSeq++,
    }
    this.byHash.set(key, entry)
    sender.txs.set(tx.nonce, entry)
    this.totalBytes += entry.encoded.length
  }

  private remove(tx: PendingTx): void {
    this.byHash.delete(tx.key)
    tx.sender.txs.delete(tx.nonce)
    if (tx.sender.txs.size === 0) this.senders.delete(tx.sender.key)
    this.totalBytes -= tx.encoded.length
  }

  private drop(tx: PendingTx, reason: DropReason): DroppedTx {
    this.remove(tx)
    this.dropped.set(tx.key, { reason, encoded: tx.encoded })
    this.onDrop?.(tx.hash, reason, tx.encoded)
    return { hash: tx.hash, reason }
  }
}

function ownsBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
}

function decodeOrThrow(tx: HashedTx): SignedTx {
  try {
    return tx.decoded()
  } catch (err) {
    if (err instanceof CodecError) throw new MempoolError('malformed', `malformed tx: ${err.message}`)
    throw err
  }
}
