import { decodeExact, Writer } from '../codec/binary.js'
import {
  blockHash,
  decodeBlock,
  decodeCertificate,
  decodeHeader,
  encodeBlock,
  encodeCertificate,
  encodeHeader,
  txHash,
} from '../codec/chain.js'
import type { Block, BlockHeader, CommitCertificate } from '../codec/types.js'
import { bytesEqual, HASH_BYTES, toHex } from '../crypto/hash.js'
import { Bucket, heightKey } from './buckets.js'
import type { WalEntry, WalStorage } from './consensus-wal.js'
import { type BatchOp, type KvBackend, LevelBackend, MemoryBackend } from './kv-backend.js'
import { Repository, type ValueCodec } from './repository.js'
import { StoreError } from './store-error.js'

/** One change to the app's state: a put, or a delete when value is null. Keys are the app's own. */
export interface StateWrite {
  readonly key: Uint8Array
  readonly value: Uint8Array | null
}

export interface StateEntry {
  readonly key: Uint8Array
  readonly value: Uint8Array
}

/** What the app hands the store with each block: its state changes and the state root after them. */
interface AppCommit {
  readonly writes: readonly StateWrite[]
  readonly appHash: Uint8Array
  /** per tx of the block, in order, its hash as the app computed it (saves hashing every tx again) */
  readonly results?: readonly { readonly hash: Uint8Array }[]
}

export interface ChainTip {
  readonly height: number
  readonly hash: Uint8Array
  readonly header: BlockHeader
  /** the app state root after this block (what the next header must carry as app_hash) */
  readonly appHash: Uint8Array
}

interface TxLocation {
  readonly height: number
  readonly index: number
}

/** One change to the mempool journal: a put, or a delete when value is null. */
export interface JournalWrite {
  /** the tx hash (32 bytes) */
  readonly hash: Uint8Array
  readonly value: Uint8Array | null
}

export interface JournalEntry {
  /** the record's key: a tx hash unless the record is corrupt */
  readonly hash: Uint8Array
  readonly value: Uint8Array
}

/** One change to the evidence bucket: a put, or a delete when value is null. */
export interface EvidenceWrite {
  readonly key: Uint8Array
  readonly value: Uint8Array | null
}

export interface EvidenceEntry {
  readonly key: Uint8Array
  readonly value: Uint8Array
}

interface TipRecord {
  readonly height: number
  readonly hash: Uint8Array
  readonly appHash: Uint8Array
}

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

const rawCodec: ValueCodec<Uint8Array> = { encode: (v) => v, decode: (b) => b }
const heightCodec: ValueCodec<number> = {
  encode: (h) => new Writer(8).u64(h).finish(),
  decode: (b) => decodeExact(b, 8, 'height', (r) => r.u64('height')),
}
const txLocationCodec: ValueCodec<TxLocation> = {
  encode: (l) => new Writer(12).u64(l.height).u32(l.index).finish(),
  decode: (b) =>
    decodeExact(b, 12, 'tx location', (r) => ({ height: r.u64('height'), index: r.u32('index') })),
}
const tipCodec: ValueCodec<TipRecord> = {
  encode: (t) => new Writer(72).u64(t.height).fixed(t.hash, HASH_BYTES).fixed(t.appHash, HASH_BYTES).finish(),
  decode: (b) =>
    decodeExact(b, 72, 'tip', (r) => ({
      height: r.u64('height'),
      hash: r.fixed(HASH_BYTES, 'hash'),
      appHash: r.fixed(HASH_BYTES, 'app hash'),
    })),
}
const blockCodec: ValueCodec<Block> = { encode: encodeBlock, decode: decodeBlock }
const headerCodec: ValueCodec<BlockHeader> = { encode: encodeHeader, decode: decodeHeader }
const certificateCodec: ValueCodec<CommitCertificate> = {
  encode: encodeCertificate,
  decode: decodeCertificate,
}

const META_GENESIS = 'genesis'
const META_TIP = 'tip'
/** Never stored: flush() deletes it with sync:true, a write that changes nothing but syncs the log. */
const META_FLUSH = 'flush'

/**
 * The chain on disk: one LevelDB (HOME/data) holding blocks, headers, commit certificates, a tx index,
 * the app's state and the consensus WAL, each under its own Bucket prefix.
 *
 * Crash consistency: everything a block changes — block, header, hash index, certificate, tx index,
 * app state and the tip — is written in ONE atomic batch with sync:true. LevelDB applies a batch
 * from its log all or nothing, so after a crash at any instant the store holds the previous tip or
 * the next, never a mix. The tip is cached in memory and only moves once its batch is durable.
 *
 * A block can also be committed without waiting for the disk (`durable: false`, for catch-up): the
 * batch is still atomic, so a crash still leaves a block boundary, only possibly an earlier one —
 * never earlier than the last durable write, since LevelDB appends every batch to one log in order
 * and a synced write (the next durable commit, a consensus WAL record, flush()) syncs all before it.
 *
 * Commits must be serialised by the caller (one block at a time); a concurrent call is refused.
 */
export class ChainStore implements WalStorage {
  private readonly meta: Repository<string, Uint8Array>
  private readonly blocks: Repository<number, Block>
  private readonly headers: Repository<number, BlockHeader>
  private readonly heights: Repository<Uint8Array, number>
  private readonly certificates: Repository<number, CommitCertificate>
  private readonly txLocations: Repository<Uint8Array, TxLocation>
  private readonly appState: Repository<Uint8Array, Uint8Array>
  private readonly wal: Repository<string, Uint8Array>
  private readonly journal: Repository<Uint8Array, Uint8Array>
  private readonly evidence: Repository<Uint8Array, Uint8Array>
  private tipCache: ChainTip | undefined
  private genesis: Uint8Array | undefined
  private committing = false
  private closed = false

  private constructor(private readonly backend: KvBackend) {
    const id = (k: Uint8Array): Uint8Array => k
    this.meta = new Repository(Bucket.meta, backend, (k: string) => utf8.encode(k), rawCodec)
    this.blocks = new Repository(Bucket.blockByHeight, backend, heightKey, blockCodec)
    this.headers = new Repository(Bucket.headerByHeight, backend, heightKey, headerCodec)
    this.heights = new Repository(Bucket.heightByHash, backend, id, heightCodec)
    this.certificates = new Repository(Bucket.certificateByHeight, backend, heightKey, certificateCodec)
    this.txLocations = new Repository(Bucket.txLocation, backend, id, txLocationCodec)
    this.appState = new Repository(Bucket.appState, backend, id, rawCodec)
    this.wal = new Repository(Bucket.consensusWal, backend, (k: string) => utf8.encode(k), rawCodec)
    this.journal = new Repository(Bucket.mempoolJournal, backend, id, rawCodec)
    this.evidence = new Repository(Bucket.evidence, backend, id, rawCodec)
  }

  /** Opens (creating if needed) the LevelDB at `dir`, normally HOME/data. */
  static async open(dir: string): Promise<ChainStore> {
    return ChainStore.withBackend(await LevelBackend.open(dir))
  }

  /** A store in memory: same behaviour, nothing durable. For the simulator and tests. */
  static async memory(): Promise<ChainStore> {
    return ChainStore.withBackend(new MemoryBackend())
  }

  static async withBackend(backend: KvBackend): Promise<ChainStore> {
    const store = new ChainStore(backend)
    try {
      await store.loadTip()
    } catch (err) {
      await backend.close()
      throw err
    }
    return store
  }

  private async loadTip(): Promise<void> {
    this.genesis = await this.meta.get(META_GENESIS)
    const raw = await this.meta.get(META_TIP)
    if (raw === undefined) return
    let tip: TipRecord
    try {
      tip = tipCodec.decode(raw)
    } catch (err) {
      throw new StoreError(`corrupt tip record: ${(err as Error).message}`)
    }
    const header = await this.headers.get(tip.height)
    if (header === undefined) throw new StoreError(`the tip block ${tip.height} is missing from the store`)
    if (!bytesEqual(blockHash(header), tip.hash)) {
      throw new StoreError(`the stored header at the tip height ${tip.height} does not match the tip hash`)
    }
    this.tipCache = { height: tip.height, hash: tip.hash, header, appHash: tip.appHash }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.backend.close()
  }

  /** True once init() has stored a genesis block. */
  get initialized(): boolean {
    return this.tipCache !== undefined
  }

  /** The genesis block hash this store was initialised with, if any. */
  genesisHash(): Uint8Array | undefined {
    return this.genesis
  }

  /**
   * Stores the genesis block and the genesis app state if the store is empty. Idempotent for the same
   * genesis; a store holding another chain is refused rather than silently mixed with it.
   */
  async init(genesis: Block, appState: readonly StateEntry[] = []): Promise<void> {
    const hash = blockHash(genesis.header)
    if (this.tipCache !== undefined) {
      if (this.genesis === undefined || !bytesEqual(this.genesis, hash)) {
        throw new StoreError(
          `the store holds a chain with genesis ${this.genesis === undefined ? 'unknown' : toHex(this.genesis)}, ` +
            `not ${toHex(hash)} (chain ${genesis.header.chainId}); use a fresh data directory for another chain`,
        )
      }
      return
    }
    if (genesis.header.height !== 0) throw new StoreError('the genesis block must have height 0')
    const tip: TipRecord = { height: 0, hash, appHash: genesis.header.appHash }
    const ops: BatchOp[] = [
      this.blocks.putOp(0, genesis),
      this.headers.putOp(0, genesis.header),
      this.heights.putOp(hash, 0),
      ...appState.map((e) => this.appState.putOp(e.key, e.value)),
      this.meta.putOp(META_GENESIS, hash),
      this.meta.putOp(META_TIP, tipCodec.encode(tip)),
    ]
    await this.backend.batch(ops, true)
    this.genesis = hash
    this.tipCache = { ...tip, header: genesis.header }
  }

  /** The latest final block (cached). Throws if the store has no genesis yet. */
  tip(): ChainTip {
    if (this.tipCache === undefined) throw new StoreError('the store is not initialised with a genesis block')
    return this.tipCache
  }

  /**
   * Appends a final block with its certificate and the app's state changes, atomically and durably.
   * The block must extend the tip; the certificate must name this block (checking its signatures is
   * the caller's job, before calling). `durable: false` skips the fsync (catch-up; see the class note),
   * until the next durable write or flush().
   */
  async commitBlock(
    block: Block,
    certificate: CommitCertificate,
    app: AppCommit,
    opts: { readonly durable?: boolean } = {},
  ): Promise<void> {
    const tip = this.tip()
    if (this.committing) throw new StoreError('commitBlock called while another commit is in flight')
    const { header } = block
    const hash = blockHash(header)
    if (header.height !== tip.height + 1) {
      throw new StoreError(`block height ${header.height} does not extend the tip at height ${tip.height}`)
    }
    if (!bytesEqual(header.parentHash, tip.hash)) {
      throw new StoreError(
        `block ${header.height} has parent ${toHex(header.parentHash)}, tip is ${toHex(tip.hash)}`,
      )
    }
    if (certificate.height !== header.height || !bytesEqual(certificate.blockHash, hash)) {
      throw new StoreError(`the certificate is not for block ${header.height} ${toHex(hash)}`)
    }
    if (app.appHash.length !== HASH_BYTES) throw new StoreError('the app hash must be 32 bytes')
    const next: TipRecord = { height: header.height, hash, appHash: app.appHash }
    const ops: BatchOp[] = [
      this.blocks.putOp(header.height, block),
      this.headers.putOp(header.height, header),
      this.heights.putOp(hash, header.height),
      this.certificates.putOp(header.height, certificate),
    ]
    const results = app.results?.length === block.txs.length ? app.results : undefined
    block.txs.forEach((tx, index) => {
      const hash = results?.[index]?.hash ?? txHash(tx)
      ops.push(this.txLocations.putOp(hash, { height: header.height, index }))
    })
    for (const w of app.writes) {
      ops.push(w.value === null ? this.appState.delOp(w.key) : this.appState.putOp(w.key, w.value))
    }
    ops.push(this.meta.putOp(META_TIP, tipCodec.encode(next)))
    this.committing = true
    try {
      await this.backend.batch(ops, opts.durable ?? true)
    } finally {
      this.committing = false
    }
    this.tipCache = { ...next, header }
  }

  /** Makes every earlier write durable (blocks committed with `durable: false`): one synced write. */
  async flush(): Promise<void> {
    await this.backend.batch([this.meta.delOp(META_FLUSH)], true)
  }

  async getBlock(height: number): Promise<Block | undefined> {
    return this.blocks.get(height)
  }

  async getHeader(height: number): Promise<BlockHeader | undefined> {
    return this.headers.get(height)
  }

  async getHeightByHash(hash: Uint8Array): Promise<number | undefined> {
    if (hash.length !== HASH_BYTES) return undefined
    return this.heights.get(hash)
  }

  async getBlockByHash(hash: Uint8Array): Promise<Block | undefined> {
    const height = await this.getHeightByHash(hash)
    return height === undefined ? undefined : this.blocks.get(height)
  }

  async getCertificate(height: number): Promise<CommitCertificate | undefined> {
    return this.certificates.get(height)
  }

  async getTxLocation(hash: Uint8Array): Promise<TxLocation | undefined> {
    if (hash.length !== HASH_BYTES) return undefined
    return this.txLocations.get(hash)
  }

  /** Headers with their hashes for min..max (inclusive), clamped to the chain; ascending. */
  async getHeaders(
    min: number,
    max: number,
  ): Promise<{ height: number; hash: Uint8Array; header: BlockHeader }[]> {
    const top = Math.min(max, this.tip().height)
    const from = Math.max(0, min)
    if (from > top) return []
    const out: { height: number; hash: Uint8Array; header: BlockHeader }[] = []
    for await (const [, header] of this.headers.range(from, top)) {
      out.push({ height: header.height, hash: blockHash(header), header })
    }
    return out
  }

  /** Every app state entry, in key order (the app rebuilds its state from these on restart). */
  async *appEntries(): AsyncIterable<StateEntry> {
    for await (const [key, value] of this.appState.entries()) yield { key, value }
  }

  async appGet(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.appState.get(key)
  }

  /** Writes consensus WAL entries durably (one synced, atomic batch) before the caller acts on them. */
  async walPut(entries: readonly WalEntry[]): Promise<void> {
    await this.backend.batch(
      entries.map((e) => this.wal.putOp(e.key, e.value)),
      true,
    )
  }

  async walEntries(): Promise<WalEntry[]> {
    const out: WalEntry[] = []
    for await (const [key, value] of this.wal.entries()) {
      let name: string
      try {
        name = utf8Decoder.decode(key)
      } catch {
        throw new StoreError(`corrupt consensus WAL key ${Buffer.from(key).toString('hex')}`)
      }
      out.push({ key: name, value })
    }
    return out
  }

  async walDelete(keys: readonly string[]): Promise<void> {
    await this.backend.batch(
      keys.map((k) => this.wal.delOp(k)),
      true,
    )
  }

  async metaGet(name: string): Promise<Uint8Array | undefined> {
    return this.meta.get(name)
  }

  /** Small named values for other subsystems; 'genesis', 'tip' and 'flush' are the store's own. */
  async metaPut(name: string, value: Uint8Array): Promise<void> {
    if (name === META_GENESIS || name === META_TIP || name === META_FLUSH)
      throw new StoreError(`meta key '${name}' is reserved`)
    await this.backend.batch([this.meta.putOp(name, value)], true)
  }

  /**
   * Applies mempool journal changes as one atomic batch; `sync` makes it durable before the promise
   * resolves (the journal group-commits: one batch per flush window, not one per tx).
   */
  async journalWrite(writes: readonly JournalWrite[], sync: boolean): Promise<void> {
    await this.backend.batch(
      writes.map((w) =>
        w.value === null ? this.journal.delOp(w.hash) : this.journal.putOp(w.hash, w.value),
      ),
      sync,
    )
  }

  /** Every mempool journal record, raw (the journal decodes them and skips corrupt ones). */
  async journalEntries(): Promise<JournalEntry[]> {
    const out: JournalEntry[] = []
    for await (const [hash, value] of this.journal.entries()) out.push({ hash, value })
    return out
  }

  /** Applies evidence pool changes (a new record, the ones it evicts) as one atomic, synced batch. */
  async evidenceWrite(writes: readonly EvidenceWrite[]): Promise<void> {
    await this.backend.batch(
      writes.map((w) =>
        w.value === null ? this.evidence.delOp(w.key) : this.evidence.putOp(w.key, w.value),
      ),
      true,
    )
  }

  /** Every evidence record, raw and in key order (the pool decodes them and drops corrupt ones). */
  async evidenceEntries(): Promise<EvidenceEntry[]> {
    const out: EvidenceEntry[] = []
    for await (const [key, value] of this.evidence.entries()) out.push({ key, value })
    return out
  }
}
