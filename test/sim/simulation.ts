import { type Execution, KvApp } from '../../src/app/kv-app.js'
import { SignatureCache } from '../../src/app/signature-cache.js'
import { verifyCertificate } from '../../src/chain/certificate.js'
import { ConsensusWal, type WalEntry, type WalStorage } from '../../src/chain/consensus-wal.js'
import { ValidatorSet } from '../../src/chain/validators.js'
import { blockHash, txHash } from '../../src/codec/chain.js'
import {
  type ConsensusKind,
  type ConsensusMessage,
  decodeConsensusMessage,
  decodeWalRecord,
  encodeConsensusMessage,
  newViewSignBytes,
  type PrePrepareMsg,
  prePrepareSignBytes,
  prepareSignBytes,
  signBytesOf,
} from '../../src/codec/consensus.js'
import { MAX_PIPELINE_DEPTH } from '../../src/codec/limits.js'
import { signTx } from '../../src/codec/tx-sign.js'
import type { Block, CommitCertificate, TxOp } from '../../src/codec/types.js'
import { PbftEngine } from '../../src/consensus/engine.js'
import type { EngineEvent } from '../../src/consensus/types.js'
import { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { bytesEqual, sha256, toHex } from '../../src/crypto/hash.js'
import { ConsensusDriver, type DriverPorts } from '../../src/node/driver.js'
import {
  GENESIS_KV,
  GENESIS_TIME_MS,
  makeSimGenesis,
  Replica,
  SIM_CHAIN_ID,
  type SimGenesis,
  validateAgainst,
} from './app.js'
import { COLLUDE_ACTS, type ColludeAct, Collusion } from './collude.js'
import { EventQueue } from './event-queue.js'
import { INVALID_BLOCK_KINDS, type InvalidBlockKind, makeInvalidBlock } from './invalid-block.js'
import { SignatureLedger } from './ledger.js'
import { Prng } from './prng.js'

export const NETWORK_FAULTS = ['drop', 'dup', 'reorder', 'partition', 'crash', 'skew', 'crashstep'] as const
export const BYZANTINE_FAULTS = [
  'silent',
  'equivocate',
  'forge',
  'replay',
  'future',
  'invalid',
  'partial',
  'badnewview',
  'collude',
] as const
export type NetworkFault = (typeof NETWORK_FAULTS)[number]
export type ByzantineFault = (typeof BYZANTINE_FAULTS)[number]
export type Fault = NetworkFault | ByzantineFault
export const ALL_FAULTS: readonly Fault[] = [...NETWORK_FAULTS, ...BYZANTINE_FAULTS]

/** Parses "all", "none" or a comma list of fault names. */
export function parseFaults(spec: string): Fault[] {
  if (spec === 'all') return [...ALL_FAULTS]
  if (spec === 'none' || spec === '') return []
  const out: Fault[] = []
  for (const part of spec.split(',')) {
    const f = part.trim() as Fault
    if (!ALL_FAULTS.includes(f))
      throw new RangeError(`unknown fault "${part}" (known: ${ALL_FAULTS.join(', ')})`)
    out.push(f)
  }
  return out
}

export interface SimOptions {
  readonly seed: number
  readonly validators: number
  readonly faults: readonly Fault[]
  /** the engine's pipelining depth K (default: the node's default, MAX_PIPELINE_DEPTH) */
  readonly pipelineDepth?: number
  readonly trace?: (line: string) => void
  /**
   * Tests of the checks only: `wipe-wal` restarts every crashed replica with an empty WAL (a node
   * that lost what it signed), which the honest signature ledger and the evidence check must catch.
   */
  readonly sabotage?: 'wipe-wal'
}

export interface SimResult {
  readonly seed: number
  readonly failures: string[]
  /** digest of every honest replica's final chain: equal for equal seeds */
  readonly digest: string
  readonly finalHeight: number
  /** hex app_hash (state root) of the lowest honest replica's final state */
  readonly appHash: string
  readonly txs: number
  readonly events: number
  readonly simulatedMs: number
  readonly byzantine: string[]
  readonly maxLoggedMessages: number
  /** the most heights a primary had proposed above its last final one at once (pipelining) */
  readonly maxPipelined: number
  /** the invalid-block kinds Byzantine proposers sent (each one rejected by the real validateBlock) */
  readonly invalidBlockKinds: InvalidBlockKind[]
  /** the attacks the `collude` validators carried out */
  readonly colludeActs: ColludeAct[]
  /** crashes that left the last WAL record half written, each found corrupt and skipped at restart */
  readonly tornWrites: number
  /** messages the honest validators committed to: each WAL put and each send of their own messages */
  readonly honestSignatures: number
  /** the highest view an honest replica reached, and the bound it is checked against */
  readonly maxHonestView: number
  readonly viewBound: number
}

const CHAIN_ID = SIM_CHAIN_ID
const HEAL_MS = 12_000
const SUBMIT_UNTIL_MS = 10_000
const LIVENESS_BOUND_MS = 40_000
const RESUBMIT_MS = 1500
// perTxMs: the node's size allowance (docs/CONSENSUS.md "Consensus rules", timers), large enough to matter for the sim's small blocks
const TIMEOUTS = { viewChangeBaseMs: 400, viewChangeMaxMs: 3200, perTxMs: 20 }

type Payload =
  | { readonly type: 'consensus'; readonly kind: ConsensusKind; readonly bytes: Uint8Array }
  | { readonly type: 'tx'; readonly bytes: Uint8Array }

type SimEvent =
  | { readonly type: 'deliver'; readonly from: number; readonly to: number; readonly payload: Payload }
  | { readonly type: 'engine'; readonly node: number; readonly event: EngineEvent; readonly epoch: number }
  | {
      readonly type: 'timer'
      readonly node: number
      readonly token: number
      /** the duration the engine asked for (0: its "resume" timer, not a timeout) */
      readonly ms: number
      readonly fire: () => void
    }
  | { readonly type: 'client'; readonly client: number }
  | { readonly type: 'resubmit' }
  | { readonly type: 'crash'; readonly node: number }
  /** crashstep: the replica crashes at its `after`-th next crash point (driver action or WAL write) */
  | { readonly type: 'arm_crash'; readonly node: number; readonly after: number }
  | { readonly type: 'restart'; readonly node: number }
  | { readonly type: 'sync'; readonly node: number; readonly epoch: number }

/** Thrown at a crashstep crash point; the driver stops and the replica is down until restarted. */
class SimCrash extends Error {
  override name = 'SimCrash'
  constructor(readonly where: string) {
    super(`crash before ${where}`)
  }
}

type Built = { engine: PbftEngine; driver: ConsensusDriver; replica: Replica }

/**
 * A replica's WAL bytes: what survives its crashes. Entries come back in key order, as LevelDB
 * returns them to the node.
 */
class SimWalStorage implements WalStorage {
  private readonly entries = new Map<string, Uint8Array>()
  /** called before every write: the crashstep fault may crash the replica here */
  beforeWrite: () => void = () => {}
  /**
   * A crash at a put may leave the new record half written: how many of its bytes reach the disk
   * (null: none). An existing key is never torn (a put that overwrites a durable record with the
   * same bytes leaves the old copy in a log-structured store).
   */
  tear: (length: number) => number | null = () => null
  /** keys written torn since the last restart: the restart must find each one corrupt */
  readonly torn = new Set<string>()
  /** after every complete put: the honest signature ledger reads the record */
  afterPut: (key: string, value: Uint8Array) => void = () => {}
  /** which entry of a batch a crash at the put interrupts (0 .. length - 1) */
  pick: (length: number) => number = () => 0

  /** records on the WAL (the compact WAL's block entries, keys `b…`, apart) */
  get size(): number {
    let n = 0
    for (const k of this.entries.keys()) if (!k.startsWith('b')) n++
    return n
  }

  get blocks(): number {
    return this.entries.size - this.size
  }

  walEntries(): WalEntry[] {
    return [...this.entries.keys()].sort().map((key) => ({ key, value: this.entries.get(key) as Uint8Array }))
  }

  /**
   * Not atomic, like a store without batches: the entries are written in order, and a crash here
   * may leave the first few written, the next one torn (a prefix) and the rest not written.
   */
  walPut(entries: readonly WalEntry[]): void {
    try {
      this.beforeWrite()
    } catch (e) {
      if (e instanceof SimCrash && entries.length > 0) {
        const at = this.pick(entries.length)
        for (const { key, value } of entries.slice(0, at)) this.entries.set(key, value)
        const { key, value } = entries[at] as WalEntry
        const cut = this.entries.has(key) ? null : this.tear(value.length)
        if (cut !== null) {
          this.entries.set(key, value.slice(0, cut))
          this.torn.add(key)
        }
      }
      throw e
    }
    for (const { key, value } of entries) {
      this.entries.set(key, value)
      this.afterPut(key, value)
    }
  }

  walDelete(keys: readonly string[]): void {
    this.beforeWrite()
    for (const k of keys) this.entries.delete(k)
  }

  /** sabotage only: the disk is lost */
  wipe(): void {
    this.entries.clear()
    this.torn.clear()
  }
}

class SimNode {
  engine: PbftEngine
  /** the node's own driver (src/node/driver.ts) over this simulator's ports */
  driver: ConsensusDriver
  /** the real KvApp + Mempool + chain tip of this replica (its "store" is blocks/certs/appHashes) */
  replica: Replica
  up = true
  epoch = 0
  timerToken = 0
  blocks: Block[] = []
  certs: (CommitCertificate | null)[] = [null]
  /** the state root after each height (index 0: genesis), as the store records it */
  appHashes: Uint8Array[]
  readonly walStorage = new SimWalStorage()
  /** crashstep: crash points to pass before crashing (null: not armed) */
  crashCountdown: number | null = null
  seen: Payload[] = []
  maxLogged = 0

  constructor(
    readonly index: number,
    readonly signer: Ed25519Signer,
    readonly byz: ByzantineFault | null,
    readonly skew: number,
    /** this replica's wall clock minus simulated time (ms) */
    readonly clockOffset: number,
    genesisAppHash: Uint8Array,
    private readonly make: (node: SimNode, prev: Replica | null) => Built,
  ) {
    this.appHashes = [genesisAppHash]
    const built = make(this, null)
    this.engine = built.engine
    this.driver = built.driver
    this.replica = built.replica
  }

  get height(): number {
    return this.blocks.length
  }

  restart(): void {
    const built = this.make(this, this.replica)
    this.engine = built.engine
    this.driver = built.driver
    this.replica = built.replica
  }
}

/** Runs one seeded schedule and checks agreement, validity, no duplicate tx, liveness and bounded memory. */
export function runSimulation(opts: SimOptions): SimResult {
  return new Simulation(opts).run()
}

/** The seed's PRNG; the network's is forked from it first, then the first invalid-block kind is drawn. */
function seedPrng(opts: SimOptions): { rng: Prng; net: Prng; firstInvalidKind: number } {
  const rng = new Prng(opts.seed * 2654435761 + opts.validators)
  const net = rng.fork()
  return { rng, net, firstInvalidKind: rng.int(0, INVALID_BLOCK_KINDS.length - 1) }
}

/**
 * Which validators are Byzantine, and how. `collude`: a seed either has exactly f colluders (one
 * when f = 1) or none; the other kinds act alone, up to f of them. Never more than f in all.
 */
function drawByzantine(rng: Prng, n: number, faults: ReadonlySet<Fault>): Map<number, ByzantineFault> {
  const f = Math.floor((n - 1) / 3)
  let byzKinds: ByzantineFault[] = BYZANTINE_FAULTS.filter((k) => faults.has(k))
  let colluding = false
  if (byzKinds.includes('collude') && f > 0)
    colluding = byzKinds.length === 1 || rng.chance(1 / byzKinds.length)
  byzKinds = byzKinds.filter((k) => k !== 'collude')
  let b = 0
  if (colluding) b = f
  else if (byzKinds.length > 0 && f > 0) b = rng.chance(0.85) ? rng.int(1, f) : 0
  const order = Array.from({ length: n }, (_, i) => i)
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i)
    ;[order[i], order[j]] = [order[j] as number, order[i] as number]
  }
  const out = new Map<number, ByzantineFault>()
  for (let k = 0; k < b; k++) out.set(order[k] as number, colluding ? 'collude' : rng.pick(byzKinds))
  return out
}

/** The Byzantine validators a seed draws, as `index:kind`, exactly as its run does (nothing runs). */
export function byzantineOf(opts: SimOptions): string[] {
  const { rng } = seedPrng(opts)
  return [...drawByzantine(rng, opts.validators, new Set(opts.faults))]
    .sort((a, b) => a[0] - b[0])
    .map(([i, kind]) => `${i}:${kind}`)
}

class Simulation {
  private readonly rng: Prng
  private readonly net: Prng
  private readonly queue = new EventQueue<SimEvent>()
  private now = 0
  private events = 0
  private readonly n: number
  private readonly depth: number
  private maxPipelined = 0
  private busy = false
  private readonly f: number
  private readonly validators: ValidatorSet
  private readonly signers: Ed25519Signer[]
  private readonly nodes: SimNode[] = []
  private readonly failures: string[] = []
  /** tx signatures verified by any replica of this run (see Replica.atGenesis); the replay uses its own */
  private readonly signatures = new SignatureCache()
  private readonly finalByHeight = new Map<number, string>()
  private readonly submitted = new Map<string, Uint8Array>()
  private readonly finalAppHashByHeight = new Map<number, string>()
  private readonly clients: { signer: Ed25519Signer; nonce: number }[] = []
  private readonly faults: Set<Fault>
  private dropRate = 0
  private dupRate = 0
  private reorderSpread = 0
  private partition: { from: number; to: number; side: Set<number> } | null = null
  private readonly genesis: SimGenesis
  /** invalid-block kinds the Byzantine proposers produced, each confirmed rejected by validateBlock */
  private readonly invalidKinds = new Set<InvalidBlockKind>()
  private nextInvalidKind: number
  /** every message each honest validator signed, across its restarts (ledger.ts) */
  private readonly ledger = new SignatureLedger()
  /** which validators are Byzantine (fixed before any engine exists) */
  private readonly byzantine = new Map<number, ByzantineFault>()
  private collusion: Collusion | null = null
  private readonly colludeActs = new Set<ColludeAct>()
  private tornWrites = 0
  /** view-change timeouts (timers of a nonzero duration) that fired at honest replicas */
  private timeoutsFired = 0
  /** view -> validators that sent a REJECT in it (f+1 of them make honest replicas change view at once) */
  private readonly rejectSenders = new Map<number, Set<number>>()
  /** views in which an honest replica reported its primary's two PRE-PREPAREs (also a change at once) */
  private readonly equivocationViews = new Set<number>()

  constructor(private readonly opts: SimOptions) {
    const prng = seedPrng(opts)
    this.rng = prng.rng
    this.net = prng.net
    this.n = opts.validators
    this.depth = opts.pipelineDepth ?? MAX_PIPELINE_DEPTH
    this.f = Math.floor((this.n - 1) / 3)
    this.faults = new Set(opts.faults)
    const seedBytes = (label: string, i: number) =>
      sha256(new TextEncoder().encode(`${label}/${opts.seed}/${i}`))
    this.signers = Array.from({ length: this.n }, (_, i) => new Ed25519Signer(seedBytes('validator', i)))
    this.validators = new ValidatorSet(
      this.signers.map((s, i) => ({ publicKey: s.publicKey, peerId: `peer${i}` })),
    )
    for (let c = 0; c < 3; c++)
      this.clients.push({ signer: new Ed25519Signer(seedBytes('client', c)), nonce: 0 })
    this.genesis = makeSimGenesis()
    this.nextInvalidKind = prng.firstInvalidKind
    this.setupNodes()
    this.setupFaults()
  }

  private trace(line: string): void {
    this.opts.trace?.(`${String(this.now).padStart(6)} ${line}`)
  }

  private has(f: Fault): boolean {
    return this.faults.has(f)
  }

  private setupNodes(): void {
    const byzSet = this.byzantine
    for (const [i, kind] of drawByzantine(this.rng, this.n, this.faults)) byzSet.set(i, kind)
    const colluding = [...byzSet.values()].includes('collude')
    for (let i = 0; i < this.n; i++) {
      const skew = this.has('skew') ? 0.8 + this.rng.float() * 0.4 : 1
      // Wall clocks disagree by up to 2 x 1.5 s: well inside the 10 s proposal drift bound.
      const offset = this.has('skew') ? this.rng.int(-1500, 1500) : 0
      const node = new SimNode(
        i,
        this.signers[i] as Ed25519Signer,
        byzSet.get(i) ?? null,
        skew,
        offset,
        this.genesis.appHash,
        (nd, prev) => this.buildEngine(nd, prev),
      )
      this.nodes.push(node)
    }
    if (colluding) this.setupCollusion()
  }

  private setupCollusion(): void {
    const colluders = this.nodes.filter((nd) => nd.byz === 'collude').map((nd) => nd.index)
    this.collusion = new Collusion({
      chainId: CHAIN_ID,
      validators: this.validators,
      rng: this.net,
      colluders,
      honest: this.honest().map((nd) => nd.index),
      signer: (i) => this.signers[i] as Ed25519Signer,
      send: (from, to, msg) => this.sendMsg(this.nodes[from] as SimNode, to, msg),
      act: (kind) => this.colludeActs.add(kind),
      fail: (why) => this.failures.push(why),
      trace: (line) => this.trace(line),
    })
  }

  /**
   * An honest replica's WAL record is durable: its own signed message in it is a commitment from now
   * on (a message signed and lost in a crash before it was persisted or sent is not: nobody saw it).
   */
  private notePersisted(nd: SimNode, key: string, bytes: Uint8Array): void {
    if (key.startsWith('b')) return // a block entry of the compact WAL, not a record
    const rec = decodeWalRecord(bytes)
    if (rec.msg.sender === nd.index) this.noteSigned(nd.index, signBytesOf(CHAIN_ID, rec.msg), 'persisted')
  }

  /** An honest validator persisted or sent a message it signed: into the ledger; a conflict fails the seed. */
  private noteSigned(validator: number, bytes: Uint8Array, how: string): void {
    const conflict = this.ledger.record(validator, bytes, how)
    if (conflict !== null) this.failures.push(conflict)
  }

  /** A replica's wall clock (what Date.now() is to a real node). */
  private clock(nd: SimNode): number {
    return GENESIS_TIME_MS + this.now + nd.clockOffset
  }

  private buildEngine(node: SimNode, prev: Replica | null): Built {
    const clock = () => this.clock(node)
    const wal = new ConsensusWal(node.walStorage)
    const replica =
      prev === null
        ? Replica.atGenesis(this.genesis, this.validators, clock, this.signatures)
        : Replica.restarted(prev, node.appHashes[node.height] as Uint8Array, clock, this.signatures)
    const engine = new PbftEngine(
      {
        chainId: CHAIN_ID,
        validators: this.validators,
        selfIndex: node.index,
        signer: node.signer,
        timeouts: TIMEOUTS,
        pipelineDepth: this.depth,
      },
      {
        // The engine's verdict, as src/node/node.ts gives it: the real validateBlock, own clock as now.
        validateBlock: (block, ancestors) => {
          const v = replica.validate(block, this.clock(node), ancestors)
          return v.ok ? { ok: true } : v
        },
      },
      {
        height: replica.height,
        lastBlockHash: replica.hash,
        lastHeader: replica.header,
        lastCertificate: node.certs[replica.height] ?? null,
        recentCertificates: node.certs
          .slice(Math.max(1, replica.height - (MAX_PIPELINE_DEPTH - 1)), replica.height)
          .filter((c): c is CommitCertificate => c !== null),
        view: 0,
        wal: this.loadWal(node, wal),
      },
    )
    const driver = new ConsensusDriver(engine, this.ports(node, wal))
    return { engine, driver, replica }
  }

  private loadWal(node: SimNode, wal: ConsensusWal) {
    const loaded = wal.load()
    if (loaded instanceof Promise) throw new Error('sim: the WAL storage answers synchronously')
    if (loaded.corrupt.length > 0)
      this.trace(`node ${node.index} skips ${loaded.corrupt.length} corrupt WAL records`)
    // A torn last record must be found corrupt and skipped: it was never sent (persist-before-send).
    const corrupt = new Set(loaded.corrupt.map((c) => c.key))
    for (const key of node.walStorage.torn) {
      if (!corrupt.has(key))
        this.failures.push(`wal: node ${node.index} loaded its torn record ${key} as valid`)
      else this.tornWrites++
    }
    node.walStorage.torn.clear()
    return loaded.records
  }

  /** The simulator's side of the node's driver: seeded network, fake clock, in-memory stores. */
  private ports(nd: SimNode, wal: ConsensusWal): DriverPorts {
    nd.walStorage.beforeWrite = () => this.crashPoint(nd, 'a WAL write')
    if (nd.byz === null) nd.walStorage.afterPut = (key, bytes) => this.notePersisted(nd, key, bytes)
    // crashstep: half of the crashes at a put leave a prefix of the entry it reached on disk (a
    // batch's earlier entries whole: blocks go before the record that names them).
    nd.walStorage.tear = (length) => (this.rng.chance(0.5) ? this.rng.int(0, length - 1) : null)
    nd.walStorage.pick = (length) => this.rng.int(0, length - 1)
    return {
      beforeAction: (action, index) => this.crashPoint(nd, `action ${index} (${action.type})`),
      wal,
      timer: {
        start: (ms, fire) => {
          const token = ++nd.timerToken
          const at = this.now + Math.max(1, Math.round(ms * nd.skew))
          this.queue.push(at, { type: 'timer', node: nd.index, token, ms, fire })
        },
        cancel: () => {
          nd.timerToken++
        },
      },
      publish: (msg) => {
        if (msg.kind === 'preprepare' && msg.height - nd.height > this.maxPipelined)
          this.maxPipelined = msg.height - nd.height
        if (msg.kind === 'viewchange' || msg.kind === 'newview' || msg.kind === 'reject') {
          const v = msg.kind === 'viewchange' ? msg.newView : msg.view
          const why = msg.kind === 'reject' ? ` (${msg.reason}, h${msg.height})` : ''
          this.trace(`node ${nd.index} sends ${msg.kind} for view ${v} at height ${nd.height}${why}`)
        }
        // Re-sent from the WAL after a restart without signing again: the ledger sees it here.
        if (nd.byz === null && msg.sender === nd.index)
          this.noteSigned(nd.index, signBytesOf(CHAIN_ID, msg), 'sent')
        this.broadcast(nd, msg)
      },
      requestProposal: (a) => this.propose(nd, a.view, a.height, a.ancestors),
      commit: (block, certificate) => this.commit(nd, block, certificate),
      requestSync: (height) => {
        this.trace(`node ${nd.index} requests sync to ${height}`)
        this.queue.push(this.now + this.net.int(5, 60), { type: 'sync', node: nd.index, epoch: nd.epoch })
      },
      evidence: (e) => {
        this.trace(
          `node ${nd.index} evidence against ${e.sender} (${e.kind}, view ${e.view}, height ${e.height})`,
        )
        // Nodes ignore a validator they hold evidence against (docs/CONSENSUS.md "Proven-faulty
        // validators"): sound only because an honest replica never signs two conflicting messages.
        if (this.nodes[e.sender]?.byz === null)
          this.failures.push(
            `evidence: node ${nd.index} reported honest node ${e.sender} (${e.kind}, view ${e.view}, height ${e.height})`,
          )
        if (e.kind === 'preprepare' && nd.byz === null) this.equivocationViews.add(e.view)
      },
      afterStep: (status) => {
        const logged = status.loggedMessages
        if (logged > nd.maxLogged) nd.maxLogged = logged
        // The log is bounded by the view/height windows whatever the adversary sends.
        if (logged > 100 * this.n && !this.failures.some((f) => f.startsWith('memory'))) {
          this.failures.push(`memory: node ${nd.index} holds ${logged} messages`)
        }
      },
      fatal: (err) => {
        if (!(err instanceof SimCrash)) {
          this.failures.push(`node ${nd.index}: driver failed: ${String(err)}`)
          return
        }
        this.crash(nd, `crashes before ${err.where}`)
        this.queue.push(this.now + this.rng.int(200, 3000), { type: 'restart', node: nd.index })
      },
    }
  }

  private setupFaults(): void {
    const r = this.rng
    // Busy seeds keep the primary's mempool full, so it pipelines up to K heights at once.
    this.busy = r.chance(0.3)
    if (this.has('drop') && r.chance(0.6)) this.dropRate = r.float() * 0.25
    if (this.has('dup') && r.chance(0.6)) this.dupRate = r.float() * 0.2
    if (this.has('reorder') && r.chance(0.6)) this.reorderSpread = r.int(20, 400)
    if (this.has('partition') && r.chance(0.5)) {
      const from = r.int(0, 6000)
      const side = new Set<number>()
      for (let i = 0; i < this.n; i++) if (r.chance(0.5)) side.add(i)
      this.partition = { from, to: Math.min(HEAL_MS - 500, from + r.int(500, 5000)), side }
    }
    if (this.has('crash')) {
      const crashes = r.int(0, 2)
      for (let k = 0; k < crashes; k++) {
        const node = r.int(0, this.n - 1)
        const at = r.int(100, 9000)
        this.queue.push(at, { type: 'crash', node })
        this.queue.push(Math.min(HEAL_MS - 200, at + r.int(200, 3000)), { type: 'restart', node })
      }
    }
    if (this.has('crashstep')) {
      // A crash in the middle of a step: between two of its actions, or between the WAL's writes
      // (persist, or retain's "write what is missing, then delete the rest").
      const crashes = r.int(0, 2)
      for (let k = 0; k < crashes; k++) {
        const node = r.int(0, this.n - 1)
        this.queue.push(r.int(100, 9000), { type: 'arm_crash', node, after: r.int(0, 8) })
      }
    }
    // Clients: a few txs each over the submission window.
    for (let c = 0; c < this.clients.length; c++)
      this.queue.push(r.int(0, 500), { type: 'client', client: c })
    this.queue.push(RESUBMIT_MS, { type: 'resubmit' })
  }

  private honest(): SimNode[] {
    return this.nodes.filter((nd) => nd.byz === null)
  }

  run(): SimResult {
    for (const nd of this.nodes) this.stepEngine(nd, { type: 'start' })
    const end = HEAL_MS + LIVENESS_BOUND_MS
    for (;;) {
      const e = this.queue.pop()
      if (e === undefined || e.time > end) break
      this.now = e.time
      this.events++
      this.handle(e.item)
      if (this.failures.length > 0) break
      if (this.now > SUBMIT_UNTIL_MS && this.allFinal()) break
      if (this.events > 3_000_000) {
        this.failures.push('event budget exceeded (message storm?)')
        break
      }
    }
    if (this.failures.length === 0) this.finalChecks()
    if (this.failures.length === 0) this.stateChecks()
    const views = this.viewGrowth()
    if (this.failures.length === 0 && views.max > views.bound)
      this.failures.push(
        `views: an honest replica reached view ${views.max}, above the bound ${views.bound} ` +
          `(${this.timeoutsFired} timeouts fired at honest replicas + ${views.immediate} views with f+1 ` +
          'REJECTs or an equivocating primary)',
      )
    const honest = this.honest()
    const digest = toHex(
      sha256(
        ...honest.map((nd) =>
          sha256(
            ...nd.blocks.map((b) => blockHash(b.header)),
            nd.replica.app.appHash(),
            new Uint8Array([nd.height]),
          ),
        ),
      ),
    )
    return {
      seed: this.opts.seed,
      failures: this.failures,
      digest,
      finalHeight: Math.min(...honest.map((nd) => nd.height)),
      appHash: toHex(honest.reduce((lo, nd) => (nd.height < lo.height ? nd : lo)).replica.app.appHash()),
      txs: this.submitted.size,
      events: this.events,
      simulatedMs: this.now,
      byzantine: this.nodes.filter((nd) => nd.byz !== null).map((nd) => `${nd.index}:${nd.byz}`),
      maxLoggedMessages: Math.max(...this.nodes.map((nd) => nd.maxLogged)),
      maxPipelined: this.maxPipelined,
      invalidBlockKinds: [...this.invalidKinds].sort(),
      colludeActs: COLLUDE_ACTS.filter((a) => this.colludeActs.has(a)),
      tornWrites: this.tornWrites,
      honestSignatures: this.ledger.signatures,
      maxHonestView: views.max,
      viewBound: views.bound,
    }
  }

  /**
   * View growth (docs/CONSENSUS.md "Simulator"): the highest view an honest replica reached (its
   * engine's view at the end, or any view it signed a message for) is at most the number of
   * view-change timeouts fired at honest replicas plus the number of views in which an honest replica
   * may have changed view at once (f+1 validators sent a REJECT in it, or an honest replica caught
   * its primary's two PRE-PREPAREs). Every other way into a view (f+1 VIEW-CHANGEs, a NEW-VIEW, a
   * commit certificate, the WAL) needs an honest replica already there, so the first honest replica
   * in each view w > 0 came from w - 1 on one of those triggers.
   */
  private viewGrowth(): { max: number; bound: number; immediate: number } {
    let max = 0
    for (const nd of this.honest()) max = Math.max(max, nd.engine.view, this.ledger.highestView(nd.index))
    const immediate = new Set(this.equivocationViews)
    for (const [view, senders] of this.rejectSenders) if (senders.size >= this.f + 1) immediate.add(view)
    return { max, bound: this.timeoutsFired + immediate.size, immediate: immediate.size }
  }

  private allFinal(): boolean {
    for (const nd of this.honest()) {
      if (!nd.up) return false
      const included = this.includedTxs(nd)
      for (const h of this.submitted.keys()) if (!included.has(h)) return false
    }
    return true
  }

  private includedTxs(nd: SimNode): Set<string> {
    const s = new Set<string>()
    for (const b of nd.blocks) for (const t of b.txs) s.add(toHex(txHash(t)))
    return s
  }

  private finalChecks(): void {
    for (const nd of this.honest()) {
      const included = this.includedTxs(nd)
      const missing = [...this.submitted.keys()].filter((h) => !included.has(h))
      if (missing.length > 0) {
        this.failures.push(
          `liveness: node ${nd.index} (height ${nd.height}, view ${nd.engine.view}, ${nd.engine.phase}) misses ` +
            `${missing.length}/${this.submitted.size} txs ${LIVENESS_BOUND_MS} ms after heal`,
        )
        return
      }
      const logged = nd.engine.status().loggedMessages
      // Per height inside the watermarks (K of them): a few views' votes; everything below is pruned.
      if (logged > this.depth * 8 * this.n + 8)
        this.failures.push(`memory: node ${nd.index} holds ${logged} messages after the run`)
      if (nd.walStorage.size > 6 * this.depth)
        this.failures.push(`memory: node ${nd.index} WAL holds ${nd.walStorage.size} records`)
      if (nd.walStorage.blocks > 8 * this.depth)
        this.failures.push(`memory: node ${nd.index} WAL holds ${nd.walStorage.blocks} blocks`)
    }
  }

  /**
   * The replicated state: every honest replica ends at the same height with the same app_hash, and
   * replaying the final chain through a fresh KvApp (real validation, fresh signature cache)
   * reproduces each height's state root and the final one.
   */
  private stateChecks(): void {
    const honest = this.honest()
    const first = honest[0]
    if (first === undefined) return
    for (const nd of honest) {
      const root = toHex(nd.replica.app.appHash())
      if (nd.height !== first.height || root !== toHex(first.replica.app.appHash())) {
        this.failures.push(
          `state: node ${nd.index} ends at height ${nd.height} app_hash ${root.slice(0, 16)}, node ` +
            `${first.index} at ${first.height} ${toHex(first.replica.app.appHash()).slice(0, 16)}`,
        )
        return
      }
      if (nd.replica.app.height !== nd.height || root !== toHex(nd.appHashes[nd.height] as Uint8Array)) {
        this.failures.push(`state: node ${nd.index}'s app is not at its store's tip`)
        return
      }
    }
    const app = KvApp.fromGenesis(CHAIN_ID, GENESIS_KV, new SignatureCache())
    let tip = { header: this.genesis.block.header, hash: this.genesis.hash, app }
    for (const block of first.blocks) {
      const v = validateAgainst(block, tip, this.validators, Number.POSITIVE_INFINITY)
      const h = block.header.height
      if (!v.ok) {
        this.failures.push(`replay: block ${h} of the final chain is invalid on a fresh app: ${v.reason}`)
        return
      }
      app.apply(v.execution)
      tip = { header: block.header, hash: v.hash, app }
      if (!bytesEqual(app.appHash(), first.appHashes[h] as Uint8Array)) {
        this.failures.push(`replay: app_hash after height ${h} differs from the replicas'`)
        return
      }
    }
    if (!bytesEqual(app.appHash(), first.replica.app.appHash()))
      this.failures.push("replay: the final app_hash differs from the replicas'")
  }

  // ---------- events ----------

  private handle(ev: SimEvent): void {
    switch (ev.type) {
      case 'deliver':
        this.deliver(ev.from, ev.to, ev.payload)
        return
      case 'engine': {
        const nd = this.nodes[ev.node] as SimNode
        if (nd.up && nd.epoch === ev.epoch) this.stepEngine(nd, ev.event)
        return
      }
      case 'timer': {
        const nd = this.nodes[ev.node] as SimNode
        if (nd.up && nd.timerToken === ev.token && nd.byz !== 'silent') {
          if (nd.byz === null && ev.ms > 0) this.timeoutsFired++
          ev.fire()
        }
        return
      }
      case 'client':
        this.clientSubmit(ev.client)
        return
      case 'resubmit':
        this.resubmit()
        return
      case 'crash':
        this.crash(this.nodes[ev.node] as SimNode, 'crashes')
        return
      case 'arm_crash': {
        const nd = this.nodes[ev.node] as SimNode
        if (nd.up && nd.byz === null) nd.crashCountdown = ev.after
        return
      }
      case 'restart': {
        const nd = this.nodes[ev.node] as SimNode
        if (nd.up) return
        this.trace(`node ${nd.index} restarts at height ${nd.height} with ${nd.walStorage.size} WAL records`)
        nd.up = true
        nd.epoch++
        if (this.opts.sabotage === 'wipe-wal') nd.walStorage.wipe()
        try {
          nd.restart()
        } catch (e) {
          this.failures.push(`node ${nd.index}: ${(e as Error).message}`)
          return
        }
        this.stepEngine(nd, { type: 'start' })
        return
      }
      case 'sync':
        this.sync(ev.node, ev.epoch)
        return
    }
  }

  private crash(nd: SimNode, how: string): void {
    if (!nd.up) return
    this.trace(`node ${nd.index} ${how}`)
    nd.up = false
    nd.epoch++
    nd.timerToken++
    nd.crashCountdown = null
  }

  /** crashstep: throws SimCrash when the armed replica reaches its crash point (before the heal). */
  private crashPoint(nd: SimNode, where: string): void {
    if (nd.crashCountdown === null || this.now >= HEAL_MS) return
    if (nd.crashCountdown-- > 0) return
    nd.crashCountdown = null
    throw new SimCrash(where)
  }

  private stepEngine(nd: SimNode, event: EngineEvent): void {
    if (nd.byz === 'silent') return
    nd.driver.submit(event)
  }

  // ---------- network ----------

  private reachable(a: number, b: number): boolean {
    const p = this.partition
    if (p === null || this.now < p.from || this.now >= p.to) return true
    return p.side.has(a) === p.side.has(b)
  }

  private send(from: number, to: number, payload: Payload): void {
    const healed = this.now >= HEAL_MS
    const net = this.net
    if (!healed && !this.reachable(from, to)) return
    if (!healed && this.dropRate > 0 && net.chance(this.dropRate)) return
    const base = net.int(2, 30)
    const spread = !healed && this.reorderSpread > 0 ? net.int(0, this.reorderSpread) : net.int(0, 10)
    this.queue.push(this.now + base + spread, { type: 'deliver', from, to, payload })
    if (this.dupRate > 0 && net.chance(healed ? this.dupRate / 4 : this.dupRate)) {
      this.queue.push(this.now + base + net.int(0, 500), { type: 'deliver', from, to, payload })
    }
  }

  private deliver(from: number, to: number, payload: Payload): void {
    const nd = this.nodes[to] as SimNode
    if (!nd.up || nd.byz === 'silent') return
    if (this.now < HEAL_MS && !this.reachable(from, to)) return
    if (payload.type === 'tx') {
      this.addTx(nd, payload.bytes, false)
      return
    }
    if (nd.byz === 'replay' && nd.seen.length < 300) nd.seen.push(payload)
    let msg: ConsensusMessage
    try {
      msg = decodeConsensusMessage(payload.kind, payload.bytes)
    } catch {
      return // malformed: a real node's gossip validator rejects it
    }
    if (nd.byz === 'collude') this.collusion?.observe(msg)
    this.stepEngine(nd, { type: 'message', msg })
  }

  private sendMsg(nd: SimNode, to: number, msg: ConsensusMessage): void {
    if (msg.kind === 'reject') {
      const senders = this.rejectSenders.get(msg.view) ?? new Set<number>()
      senders.add(msg.sender)
      this.rejectSenders.set(msg.view, senders)
    }
    this.send(nd.index, to, { type: 'consensus', kind: msg.kind, bytes: encodeConsensusMessage(msg) })
  }

  private others(nd: SimNode): number[] {
    return this.nodes.filter((o) => o.index !== nd.index).map((o) => o.index)
  }

  private broadcast(nd: SimNode, msg: ConsensusMessage): void {
    if (nd.byz !== null && this.byzantineBroadcast(nd, msg)) return
    for (const to of this.others(nd)) this.sendMsg(nd, to, msg)
  }

  // ---------- app / mempool / clients ----------

  /** A tx reaches a replica's real mempool; the replica that admitted a client's tx gossips it on. */
  private addTx(nd: SimNode, bytes: Uint8Array, gossip: boolean): void {
    // Committed txs come back as bad_nonce, duplicates as 'known': the mempool's own rules.
    if (nd.replica.submit(bytes) !== 'added') return
    if (gossip) for (const to of this.others(nd)) this.send(nd.index, to, { type: 'tx', bytes })
    if (nd.replica.hasExecutable()) this.stepEngine(nd, { type: 'txs_available' })
  }

  private includedIn(nd: SimNode, h: string): boolean {
    const height = this.txHeights.get(h)
    return height !== undefined && height <= nd.height
  }

  /** tx hash -> height it became final at (agreement makes this the same for every honest node) */
  private readonly txHeights = new Map<string, number>()

  /** a key no client owns, for the invalid txs a client (or attacker) submits */
  private readonly mallory = new Ed25519Signer(sha256(new TextEncoder().encode('sim/mallory')))

  private clientSubmit(c: number): void {
    const client = this.clients[c] as { signer: Ed25519Signer; nonce: number }
    const key = this.rng.pick(['greeting', 'k0', 'k1', 'k2', `c${c}`, 'owner/alice'])
    const op: TxOp = this.rng.chance(0.15)
      ? { type: 'del', key }
      : { type: 'set', key, value: `v${client.nonce}/c${c}` }
    const bytes = signTx(client.signer, { chainId: CHAIN_ID, nonce: client.nonce++, op })
    const h = toHex(txHash(bytes))
    this.submitted.set(h, bytes)
    this.submitToHonest(bytes)
    if (this.rng.chance(0.05)) this.submitJunk()
    const next = this.now + (this.busy ? this.rng.int(30, 200) : this.rng.int(100, 1500))
    if (next < SUBMIT_UNTIL_MS) this.queue.push(next, { type: 'client', client: c })
  }

  /** A tx with a broken signature or for another chain: the real mempool must refuse it. */
  private submitJunk(): void {
    const targets = this.honest().filter((nd) => nd.up)
    if (targets.length === 0) return
    const nd = this.rng.pick(targets)
    const wrongChain = this.rng.chance(0.5)
    const op: TxOp = { type: 'set', key: 'k0', value: 'stolen' }
    const bytes = signTx(this.mallory, { chainId: wrongChain ? 'other-chain' : CHAIN_ID, nonce: 0, op })
    if (!wrongChain) bytes[bytes.length - 1] ^= 0x01 // the last byte is in the signature
    const expected = wrongChain ? 'wrong_chain' : 'invalid_signature'
    const got = nd.replica.submit(bytes)
    if (got !== expected) this.failures.push(`mempool: node ${nd.index} answered ${got} to a ${expected} tx`)
  }

  private submitToHonest(bytes: Uint8Array): void {
    const targets = this.honest().filter((nd) => nd.up)
    if (targets.length === 0) return
    this.addTx(this.rng.pick(targets), bytes, true)
  }

  /** Clients resubmit what is not final yet (what a wallet does after a broadcast_tx_commit timeout). */
  private resubmit(): void {
    const honest = this.honest()
    for (const [h, bytes] of this.submitted) {
      if (honest.every((nd) => this.includedIn(nd, h))) continue
      this.submitToHonest(bytes)
    }
    for (const nd of honest) {
      if (nd.up && nd.replica.hasExecutable()) this.stepEngine(nd, { type: 'txs_available' })
    }
    this.queue.push(this.now + RESUBMIT_MS, { type: 'resubmit' })
  }

  private propose(nd: SimNode, view: number, height: number, ancestors: readonly Block[]): void {
    const block = nd.replica.build(view, nd.signer.publicKey, this.clock(nd), ancestors)
    // The invalid kinds are defined against the committed tip, so only the lowest height gets one.
    if (nd.byz === 'invalid' && block !== null && block.header.height === nd.height + 1) {
      this.proposeInvalid(nd, view, block)
      return
    }
    this.queue.push(this.now + 1, {
      type: 'engine',
      node: nd.index,
      epoch: nd.epoch,
      event: { type: 'proposal', view, height, block: block?.header.height === height ? block : null },
    })
  }

  private commit(nd: SimNode, block: Block, cert: CommitCertificate): void {
    const h = block.header.height
    const hash = toHex(blockHash(block.header))
    if (h !== nd.height + 1) {
      this.failures.push(`order: node ${nd.index} got height ${h} at height ${nd.height}`)
      return
    }
    // Every final block passed the real validateBlock on this replica: before its vote, or here (as
    // the node's commit does); stateChecks() re-validates the whole final chain on a fresh app.
    const verdict = nd.replica.finalExecution(block)
    if (!verdict.ok) {
      this.failures.push(`validity: node ${nd.index} finalized an invalid block at ${h}: ${verdict.reason}`)
      return
    }
    const execution: Execution = verdict.execution
    if (nd.byz === null) {
      const known = this.finalByHeight.get(h)
      if (known === undefined) this.finalByHeight.set(h, hash)
      else if (known !== hash)
        this.failures.push(`agreement: node ${nd.index} finalized ${hash} at ${h}, others ${known}`)
      try {
        verifyCertificate(cert, CHAIN_ID, this.validators, { height: h, blockHash: blockHash(block.header) })
      } catch (e) {
        this.failures.push(`certificate: node ${nd.index} at ${h}: ${(e as Error).message}`)
      }
      const included = this.includedTxs(nd)
      for (const t of block.txs) {
        const th = toHex(txHash(t))
        if (!this.submitted.has(th)) this.failures.push(`validity: tx ${th} at ${h} was never submitted`)
        if (included.has(th)) this.failures.push(`duplicate tx ${th} at ${h} on node ${nd.index}`)
      }
      const root = toHex(execution.appHash)
      const knownRoot = this.finalAppHashByHeight.get(h)
      if (knownRoot === undefined) this.finalAppHashByHeight.set(h, root)
      else if (knownRoot !== root)
        this.failures.push(`state: node ${nd.index} has app_hash ${root} after ${h}, others ${knownRoot}`)
    }
    nd.blocks.push(block)
    nd.certs.push(cert)
    nd.appHashes.push(execution.appHash)
    nd.replica.commit(block, execution)
    for (const t of block.txs) {
      const th = toHex(txHash(t))
      if (!this.txHeights.has(th)) this.txHeights.set(th, h)
    }
    this.trace(
      `node ${nd.index} final ${h} ${hash.slice(0, 10)} (${block.txs.length} txs, view ${cert.view})`,
    )
    if (nd.replica.hasExecutable()) {
      this.queue.push(this.now, {
        type: 'engine',
        node: nd.index,
        epoch: nd.epoch,
        event: { type: 'txs_available' },
      })
    }
  }

  /** Block sync: the best reachable peer serves its final blocks with their certificates. */
  private sync(node: number, epoch: number): void {
    const nd = this.nodes[node] as SimNode
    if (!nd.up || nd.epoch !== epoch) return
    let best: SimNode | null = null
    for (const p of this.nodes) {
      if (p === nd || !p.up || (this.now < HEAL_MS && !this.reachable(p.index, node))) continue
      if (best === null || p.height > best.height) best = p
    }
    if (best === null || best.height <= nd.height) return
    const to = Math.min(best.height, nd.height + 50)
    for (let h = nd.height + 1; h <= to && nd.up; h++) {
      const block = best.blocks[h - 1] as Block
      const certificate = best.certs[h] as CommitCertificate
      this.stepEngine(nd, { type: 'block_synced', block, certificate })
      if (nd.height !== h) break
    }
  }

  // ---------- Byzantine behaviour ----------

  /** Returns true when it took over the send entirely. */
  private byzantineBroadcast(nd: SimNode, msg: ConsensusMessage): boolean {
    const others = this.others(nd)
    const r = this.net
    switch (nd.byz) {
      case 'collude':
        this.collusion?.broadcast(nd.index, msg)
        return this.collusion !== null
      case 'equivocate': {
        if (msg.kind === 'preprepare' && msg.block.header.view === msg.view) {
          const alt = {
            ...msg.block,
            header: { ...msg.block.header, timestamp: msg.block.header.timestamp + 1 },
          }
          const pp2 = this.signPP(nd, msg.view, msg.height, alt)
          for (const [i, to] of others.entries()) this.sendMsg(nd, to, i % 2 === 0 ? msg : pp2)
          return true
        }
        if (msg.kind === 'prepare' && r.chance(0.5)) {
          const fake = sha256(new Uint8Array([r.int(0, 255)]))
          const sig = nd.signer.sign(prepareSignBytes(CHAIN_ID, msg.view, msg.height, nd.index, fake))
          const alt = { ...msg, blockHash: fake, signature: sig }
          for (const [i, to] of others.entries()) this.sendMsg(nd, to, i % 2 === 0 ? msg : alt)
          return true
        }
        return false
      }
      case 'partial': {
        if (msg.kind === 'preprepare' || msg.kind === 'newview') {
          const k = r.int(0, Math.max(0, this.f))
          for (const to of others.slice(0, k)) this.sendMsg(nd, to, msg)
          return true
        }
        return false
      }
      case 'forge': {
        for (const to of others) this.sendMsg(nd, to, msg)
        const victim = r.pick(others)
        // Impersonation: another validator's index with our signature; and a tampered copy of our own.
        this.sendMsg(nd, r.pick(others), { ...msg, sender: victim } as ConsensusMessage)
        const bad = msg.signature.slice()
        bad[r.int(0, bad.length - 1)] ^= 0xff
        this.sendMsg(nd, r.pick(others), { ...msg, signature: bad } as ConsensusMessage)
        if ((msg.kind === 'prepare' || msg.kind === 'commit') && r.chance(0.5)) {
          this.sendMsg(nd, r.pick(others), { ...msg, blockHash: sha256(msg.blockHash) })
        }
        return true
      }
      case 'replay': {
        for (const to of others) this.sendMsg(nd, to, msg)
        for (let k = 0; k < 3 && nd.seen.length > 0; k++) this.send(nd.index, r.pick(others), r.pick(nd.seen))
        return true
      }
      case 'future': {
        for (const to of others) this.sendMsg(nd, to, msg)
        if (r.chance(0.5)) {
          const view = nd.engine.view + r.int(5, 5000)
          const height = nd.height + r.int(2, 100)
          const hash = sha256(new Uint8Array([r.int(0, 255)]))
          const prep = { kind: 'prepare' as const, view, height, blockHash: hash, sender: nd.index }
          const signed = {
            ...prep,
            signature: nd.signer.sign(signBytesOf(CHAIN_ID, { ...prep, signature: new Uint8Array(64) })),
          }
          for (const to of others) this.sendMsg(nd, to, signed)
          const vcBody = {
            kind: 'viewchange' as const,
            newView: view,
            sender: nd.index,
            checkpointHeight: nd.height,
            checkpoint: nd.certs[nd.height] ?? null,
            prepared: [],
          }
          const vc = {
            ...vcBody,
            signature: nd.signer.sign(signBytesOf(CHAIN_ID, { ...vcBody, signature: new Uint8Array(64) })),
          }
          for (const to of others) this.sendMsg(nd, to, vc)
        }
        return true
      }
      case 'badnewview': {
        if (msg.kind !== 'newview') return false
        let tampered: ConsensusMessage
        const first = msg.prePrepares[0]
        if (first !== undefined) {
          const b = first.block
          const alt = { ...b, header: { ...b.header, timestamp: b.header.timestamp + 7, view: msg.view } }
          tampered = this.signNV(nd, {
            ...msg,
            prePrepares: [this.signPP(nd, msg.view, first.height, alt), ...msg.prePrepares.slice(1)],
          })
        } else if (msg.viewChanges.length > 0) {
          tampered = this.signNV(nd, { ...msg, viewChanges: msg.viewChanges.slice(1) })
        } else {
          return false
        }
        for (const to of others) this.sendMsg(nd, to, tampered)
        return true
      }
      default:
        return false
    }
  }

  /**
   * A Byzantine primary's invalid proposal: one rule of the real validateBlock broken per block,
   * the kinds taken in turn from a seeded start. The sim checks the real validation rejects it for
   * that reason before sending, so the fault cannot silently turn into a valid block.
   */
  private proposeInvalid(nd: SimNode, view: number, block: Block): void {
    const kind = INVALID_BLOCK_KINDS[this.nextInvalidKind++ % INVALID_BLOCK_KINDS.length] as InvalidBlockKind
    const other = this.validators.validators[(nd.index + 1) % this.n]?.publicKey ?? new Uint8Array(32)
    const { block: bad, expect } = makeInvalidBlock(kind, {
      block,
      signer: nd.signer,
      lastFinal: nd.blocks.at(-1),
      parentTimestamp: nd.replica.header.timestamp,
      otherProposer: other,
      now: this.clock(nd),
    })
    const verdict = nd.replica.validate(bad, this.clock(nd))
    if (verdict.ok || !expect.test(verdict.reason)) {
      this.failures.push(
        `sim: the "${kind}" invalid block was ${verdict.ok ? 'accepted' : `rejected as ${verdict.reason}`} ` +
          'by the real validateBlock',
      )
      return
    }
    this.invalidKinds.add(kind)
    this.trace(
      `node ${nd.index} proposes an invalid block (${kind}) at height ${block.header.height}, view ${view}`,
    )
    const pp = this.signPP(nd, view, block.header.height, bad)
    for (const to of this.others(nd)) this.sendMsg(nd, to, pp)
  }

  private signPP(nd: SimNode, view: number, height: number, block: Block): PrePrepareMsg {
    const sig = nd.signer.sign(prePrepareSignBytes(CHAIN_ID, view, height, nd.index, blockHash(block.header)))
    return { kind: 'preprepare', view, height, sender: nd.index, block, signature: sig }
  }

  private signNV(nd: SimNode, msg: Extract<ConsensusMessage, { kind: 'newview' }>): ConsensusMessage {
    return { ...msg, signature: nd.signer.sign(newViewSignBytes(CHAIN_ID, msg)) }
  }
}
