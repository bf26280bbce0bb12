import { createHash } from 'node:crypto'
import { blockHash, commitVoteSignBytes } from '../../src/codec/chain.js'
import {
  type ConsensusMessage,
  encodeConsensusMessage,
  type NewViewMsg,
  newViewSignBytes,
  prePrepareSignBytes,
  prepareSignBytes,
  stripViewChange,
  type ViewChangeMsg,
  viewChangeSignBytes,
} from '../../src/codec/consensus.js'
import type { Block, CommitCertificate } from '../../src/codec/types.js'
import { PbftEngine } from '../../src/consensus/engine.js'
import { computeNewViewProposal, linkedPrefix, NewViewConstraint } from '../../src/consensus/new-view.js'
import type { EngineAction, EngineEvent } from '../../src/consensus/types.js'
import type { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../src/crypto/hash.js'
import {
  CHAIN,
  GENESIS,
  GENESIS_HASH,
  makeBlock,
  makeSigners,
  makeValidators,
  TIMEOUTS,
} from '../unit/consensus/harness.js'
import { copyEngineInto } from './clone.js'

/** The model: n = 4, one Byzantine validator (the primary of view 1), pipelining depth K = 2. */
export const N = 4
export const BYZANTINE = 1
export const DEPTH = 2
const HONEST = [0, 2, 3]

export interface Bounds {
  /** highest view a timer may move a replica to (2 = at most two view changes) */
  readonly views: number
  /** heights the honest primaries propose (and the Byzantine menu covers) */
  readonly heights: number
  /** messages the network may drop along one schedule */
  readonly drops: number
  /** messages the Byzantine validator may send along one schedule */
  readonly byzantine: number
  /** longest schedule explored */
  readonly depth: number
  /** stop after this many distinct states */
  readonly maxStates: number
  /** stop after this many seconds of wall time (a run it stops prints NOT EXHAUSTED) */
  readonly maxSeconds?: number
  /** a self-test: finalizing this height counts as a violation, so the search must report one */
  readonly canaryHeight?: number
}

/** One step of a schedule; messages are named by content, so a schedule replays exactly. */
export type Transition =
  | { readonly t: 'deliver'; readonly key: string }
  | { readonly t: 'drop'; readonly key: string }
  | { readonly t: 'timeout'; readonly r: number }
  | { readonly t: 'propose'; readonly r: number }
  | { readonly t: 'sync'; readonly r: number }
  | { readonly t: 'txs'; readonly r: number }
  | { readonly t: 'byz'; readonly key: string }

export function describe(tr: Transition): string {
  switch (tr.t) {
    case 'deliver':
    case 'drop':
    case 'byz':
      return `${tr.t} ${tr.key}`
    default:
      return `${tr.t} ${tr.r}`
  }
}

/** The inverse of describe: a printed schedule line back to its transition. */
export function parseTransition(line: string): Transition {
  const [t, arg] = line.trim().split(' ') as [string, string | undefined]
  if (arg === undefined) throw new Error(`bad schedule line: ${line}`)
  if (t === 'deliver' || t === 'drop' || t === 'byz') return { t, key: arg }
  if (t === 'timeout' || t === 'propose' || t === 'sync' || t === 'txs') return { t, r: Number(arg) }
  throw new Error(`bad schedule line: ${line}`)
}

export class Violation extends Error {
  override name = 'Violation'
}

const signers = makeSigners(N, 'model')
const validators = makeValidators(signers)
/** Validator i's signing key (the model's keys; a test-only mutant forges with an honest one). */
export const signer = (i: number) => signers[i] as Ed25519Signer

function digest(msg: ConsensusMessage): string {
  return createHash('sha256').update(encodeConsensusMessage(msg)).digest('hex').slice(0, 12)
}

function msgName(msg: ConsensusMessage): string {
  const view = msg.kind === 'viewchange' ? msg.newView : msg.view
  const height = 'height' in msg ? msg.height : msg.kind === 'viewchange' ? msg.checkpointHeight : 0
  return `${msg.kind}/v${view}/h${height}/s${msg.sender}/${digest(msg)}`
}

/** What an honest replica may sign once per slot: a second different message there is equivocation. */
function slotOf(msg: ConsensusMessage): string | null {
  switch (msg.kind) {
    case 'preprepare':
    case 'prepare':
    case 'commit':
      return `${msg.kind}/${msg.view}/${msg.height}`
    case 'viewchange':
      return `viewchange/${msg.newView}`
    case 'newview':
      return `newview/${msg.view}`
    case 'reject':
      return null
  }
}

/** What one transition did (World.applyTracked), for the independence relation of explore.ts. */
export interface Effect {
  /** describe(tr): the transition's name in sleep sets */
  readonly name: string
  readonly kind: Transition['t']
  /** the honest replica it steps, -1 for a drop */
  readonly locus: number
  /** the pending key it removes (deliver, drop) */
  readonly consumes: string | null
  /** the pending keys its step made dead and took out (World.deadMessages) */
  readonly prunes: ReadonlySet<string>
  /** the pending keys its step put into the network (new or again) */
  readonly emits: ReadonlySet<string>
}

interface Pending {
  readonly to: number
  readonly msg: ConsensusMessage
}

/**
 * One state of the model: three honest PbftEngines (the real engine, driven directly), the messages
 * in flight between them, their timers and proposal requests, and what the Byzantine validator has
 * seen. Every transition checks the invariants: agreement, an honest replica never signs two
 * different messages for one slot, no evidence against an honest replica.
 */
export class World {
  private engines = new Map<number, PbftEngine>()
  /** the engines this World may step in place (the others are shared with a clone: copied first) */
  private owned = new Set<number>()
  /** each engine's stateDigest (canonical, insertion order), until it steps */
  private digests = new Map<number, string>()
  private rawDigests = new Map<number, string>()
  /**
   * How World.hash digests the engines: 'canonical' (default) merges states that differ only in the
   * insertion order of the engine's order-insensitive Maps and Sets (ORDER_SENSITIVE, docs/CONSENSUS.md
   * "Model checking"); 'insertion' keeps every insertion order (the checker before that reduction).
   */
  static digestMode: 'canonical' | 'insertion' = 'canonical'
  /**
   * Dead messages (docs/CONSENSUS.md "Model checking", "Dead messages"): a PRE-PREPARE, PREPARE,
   * COMMIT or REJECT for a height its receiver has finalized is ignored by the receiver, now and
   * forever, so it leaves the network (and the Byzantine menu) at once. false keeps them in flight.
   */
  static deadMessages = true
  private pending = new Map<string, Pending>()
  private timers = new Map<number, { view: number; height: number }>()
  private proposals = new Map<number, Extract<EngineAction, { type: 'request_proposal' }>>()
  private chains = new Map<number, { block: Block; certificate: CommitCertificate }[]>()
  private syncWanted = new Set<number>()
  /**
   * Replicas whose driver owes them a `txs_available` (the node re-signals it after a commit while
   * its mempool holds txs; here txs never run out below the height bound)
   */
  private txsOwed = new Set<number>()
  private finalAt = new Map<number, string>()
  /** what each honest replica signed, by slot (its digest): part of the state, as it decides a violation */
  private ledger = new Map<number, Map<string, string>>()
  /** what the Byzantine validator received, by name */
  private byzSeen = new Map<string, ConsensusMessage>()
  private byzSent = new Set<string>()
  private dropsUsed = 0
  private byzUsed = 0
  /** the menu of the current byzSeen (rebuilt when the Byzantine validator has seen more) */
  private menu: { seen: number; items: Map<string, Pending> } | null = null
  /** the pending keys the current transition put into the network (added or added again) */
  private emitted: string[] = []
  /** the pending keys the current transition took out as dead */
  private pruned: string[] = []
  steps = 0

  constructor(
    private readonly bounds: Bounds,
    /** a test-only engine in place of PbftEngine (a mutant the checker must catch) */
    private readonly engineClass: typeof PbftEngine = PbftEngine,
    /** a test-only extra for the Byzantine menu (a mutant the checker must catch) */
    private readonly extraMenu?: (seen: readonly ConsensusMessage[]) => ConsensusMessage[],
  ) {
    for (const i of HONEST) {
      this.engines.set(i, this.freshEngine(i))
      this.owned.add(i)
      this.chains.set(i, [])
      this.ledger.set(i, new Map())
    }
    for (const i of HONEST) this.step(i, { type: 'start' })
    // txs wait everywhere: the primary proposes, the backups run their progress timers
    for (const i of HONEST) this.step(i, { type: 'txs_available' })
  }

  private freshEngine(i: number): PbftEngine {
    return new this.engineClass(
      {
        chainId: CHAIN,
        validators,
        selfIndex: i,
        signer: signer(i),
        timeouts: TIMEOUTS,
        pipelineDepth: DEPTH,
      },
      { validateBlock: () => ({ ok: true }) },
      { height: 0, lastBlockHash: GENESIS_HASH, lastHeader: GENESIS, view: 0, wal: [] },
    )
  }

  static replay(bounds: Bounds, schedule: readonly Transition[], root?: (b: Bounds) => World): World {
    const w = root?.(bounds) ?? new World(bounds)
    for (const tr of schedule) w.apply(tr)
    return w
  }

  /**
   * A copy of this state (the checker's successor states: no replay from the start). The engines are
   * shared until one steps: then that one is copied (clone.ts), so a transition copies one engine.
   */
  clone(): World {
    const w = Object.create(World.prototype) as World
    this.owned = new Set()
    Object.assign(w, {
      bounds: this.bounds,
      engineClass: this.engineClass,
      extraMenu: this.extraMenu,
      engines: new Map(this.engines),
      owned: new Set<number>(),
      digests: new Map(this.digests),
      rawDigests: new Map(this.rawDigests),
      pending: new Map(this.pending),
      timers: new Map(this.timers),
      proposals: new Map(this.proposals),
      chains: new Map([...this.chains].map(([r, c]) => [r, [...c]])),
      syncWanted: new Set(this.syncWanted),
      txsOwed: new Set(this.txsOwed),
      finalAt: new Map(this.finalAt),
      ledger: new Map([...this.ledger].map(([r, l]) => [r, new Map(l)])),
      byzSeen: new Map(this.byzSeen),
      byzSent: new Set(this.byzSent),
      dropsUsed: this.dropsUsed,
      byzUsed: this.byzUsed,
      menu: this.menu,
      emitted: [],
      pruned: [],
      steps: 0,
    })
    return w
  }

  /**
   * What `tr` does here, for the partial-order reduction (explore.ts): the replica it steps (-1 for a
   * drop), the pending key it takes out, and the keys it puts in. Applies `tr`.
   */
  applyTracked(tr: Transition): Effect {
    const locus = this.locus(tr)
    this.emitted = []
    this.pruned = []
    this.apply(tr)
    const consumes = tr.t === 'deliver' || tr.t === 'drop' ? tr.key : null
    return {
      name: describe(tr),
      kind: tr.t,
      locus,
      consumes,
      emits: new Set(this.emitted),
      prunes: new Set(this.pruned),
    }
  }

  private locus(tr: Transition): number {
    switch (tr.t) {
      case 'deliver':
        return this.pending.get(tr.key)?.to ?? -1
      case 'byz':
        return this.byzantineMenu().get(tr.key)?.to ?? -1
      case 'drop':
        return -1
      default:
        return tr.r
    }
  }

  /** Every transition enabled here, in a fixed order. */
  enabled(): Transition[] {
    const out: Transition[] = []
    const keys = [...this.pending.keys()].sort()
    for (const key of keys) out.push({ t: 'deliver', key })
    for (const r of HONEST) {
      if (this.proposals.has(r)) out.push({ t: 'propose', r })
      if (this.timers.has(r)) out.push({ t: 'timeout', r })
      if (this.syncWanted.has(r) && this.syncSource(r) !== null) out.push({ t: 'sync', r })
      if (this.txsOwed.has(r)) out.push({ t: 'txs', r })
    }
    if (this.dropsUsed < this.bounds.drops) for (const key of keys) out.push({ t: 'drop', key })
    if (this.byzUsed < this.bounds.byzantine) {
      for (const [key, item] of this.byzantineMenu())
        if (!this.byzSent.has(key) && !this.isDead(item.to, item.msg)) out.push({ t: 'byz', key })
    }
    return out
  }

  apply(tr: Transition): void {
    switch (tr.t) {
      case 'deliver': {
        const p = this.pending.get(tr.key)
        if (p === undefined) throw new Error(`replay: no pending ${tr.key}`)
        this.pending.delete(tr.key)
        this.step(p.to, { type: 'message', msg: p.msg })
        return
      }
      case 'drop':
        if (!this.pending.delete(tr.key)) throw new Error(`replay: no pending ${tr.key}`)
        this.dropsUsed++
        return
      case 'timeout': {
        const t = this.timers.get(tr.r)
        if (t === undefined) throw new Error(`replay: no timer at ${tr.r}`)
        this.timers.delete(tr.r)
        this.step(tr.r, { type: 'timeout', view: t.view, height: t.height })
        return
      }
      case 'propose': {
        const req = this.proposals.get(tr.r)
        if (req === undefined) throw new Error(`replay: no proposal request at ${tr.r}`)
        this.proposals.delete(tr.r)
        const block = makeBlock(signer(tr.r), req.view, req.height, req.parentHash)
        this.step(tr.r, { type: 'proposal', view: req.view, height: req.height, block })
        return
      }
      case 'sync': {
        const source = this.syncSource(tr.r)
        const own = this.chains.get(tr.r) ?? []
        if (source === null) throw new Error(`replay: nothing to sync at ${tr.r}`)
        const next = source[own.length] as { block: Block; certificate: CommitCertificate }
        this.step(tr.r, { type: 'block_synced', ...next })
        if (this.syncSource(tr.r) === null) this.syncWanted.delete(tr.r)
        return
      }
      case 'txs':
        if (!this.txsOwed.delete(tr.r)) throw new Error(`replay: no txs_available owed to ${tr.r}`)
        this.step(tr.r, { type: 'txs_available' })
        return
      case 'byz': {
        const item = this.byzantineMenu().get(tr.key)
        if (item === undefined) throw new Error(`replay: no Byzantine message ${tr.key}`)
        this.byzSent.add(tr.key)
        this.byzUsed++
        this.step(item.to, { type: 'message', msg: item.msg })
        return
      }
    }
  }

  /** A digest of the whole state (the engines by their internal state, see `digestMode`). */
  hash(mode: 'canonical' | 'insertion' = World.digestMode): string {
    const h = createHash('sha256')
    const cache = mode === 'canonical' ? this.digests : this.rawDigests
    for (const i of HONEST) {
      let d = cache.get(i)
      if (d === undefined) {
        d = stateDigest(this.engines.get(i), mode === 'canonical')
        cache.set(i, d)
      }
      h.update(`|e${i}:${d}`)
    }
    h.update(`|p:${[...this.pending.keys()].sort().join(',')}`)
    h.update(
      `|t:${[...this.timers]
        .map(([r, t]) => `${r}/${t.view}/${t.height}`)
        .sort()
        .join(',')}`,
    )
    h.update(
      `|q:${[...this.proposals].map(([r, q]) => `${r}/${q.view}/${q.height}/${toHex(q.parentHash)}`).sort()}`,
    )
    h.update(`|s:${[...this.syncWanted].sort()}|o:${[...this.txsOwed].sort()}`)
    // What the Byzantine validator saw and sent decides only its menu, which is closed once its budget
    // is spent: then states that differ only there are one state.
    if (this.byzUsed < this.bounds.byzantine)
      h.update(`|b:${[...this.byzSeen.keys()].sort()}|x:${[...this.byzSent].sort()}`)
    h.update(`|d:${this.dropsUsed}/${this.byzUsed}`)
    for (const i of HONEST)
      h.update(`|c${i}:${(this.chains.get(i) ?? []).map((c) => toHex(c.certificate.blockHash))}`)
    for (const i of HONEST)
      h.update(`|l${i}:${[...(this.ledger.get(i) ?? [])].map(([slot, d]) => `${slot}=${d}`).sort()}`)
    return h.digest('base64').slice(0, 22) // 128 bits
  }

  /** The final height the honest replicas agree on so far (the lowest of their chains). */
  finalHeights(): number[] {
    return HONEST.map((i) => this.chains.get(i)?.length ?? 0)
  }

  /** Each honest replica's final chain, as block hashes (a terminal state's outcome). */
  outcome(): string {
    return HONEST.map((i) =>
      (this.chains.get(i) ?? []).map((c) => toHex(c.certificate.blockHash).slice(0, 8)),
    ).join('|')
  }

  /**
   * A copy of this state whose engines hold the same entries with the insertion order of every
   * order-insensitive Map and Set shuffled (`rand`: uniform in [0, 1)). Its canonical digest is this
   * state's; the spec checks that it also behaves the same (same canonical digest after every
   * transition), which is what makes merging such states sound.
   */
  permuteInsertionOrders(rand: () => number): World {
    const w = this.clone()
    for (const i of HONEST) {
      const engine = copyEngineInto(w.engines.get(i) as PbftEngine, w.freshEngine(i))
      permuteGraph(engine, rand)
      w.engines.set(i, engine)
      w.owned.add(i)
      w.digests.delete(i)
      w.rawDigests.delete(i)
    }
    return w
  }

  /**
   * A copy of this state whose engines hold other values in their per-step scratch fields (TRANSIENT:
   * the last step's actions, `committedInStep`). Its digest is this state's; the spec checks that it
   * also behaves the same, which is what makes leaving those fields out of the digest sound.
   */
  scrambleTransients(rand: () => number): World {
    const w = this.clone()
    for (const i of HONEST) {
      const engine = copyEngineInto(w.engines.get(i) as PbftEngine, w.freshEngine(i))
      const scratch = engine as unknown as { out: EngineAction[]; committedInStep: boolean }
      scratch.out = rand() < 0.5 ? [] : [{ type: 'cancel_timer' }, { type: 'request_sync', height: 1 }]
      scratch.committedInStep = rand() < 0.5
      w.engines.set(i, engine)
      w.owned.add(i)
      w.digests.delete(i)
      w.rawDigests.delete(i)
    }
    return w
  }

  /** Whether the pending message `key` is dead for its receiver (as `isDead`, whatever the switch). */
  isDeadKey(key: string): boolean {
    const p = this.pending.get(key)
    if (p === undefined) return false
    const keep = World.deadMessages
    World.deadMessages = true
    try {
      return this.isDead(p.to, p.msg)
    } finally {
      World.deadMessages = keep
    }
  }

  /** Gives back a drop (the spec compares a dead message's delivery with its removal). */
  unspendDrop(): void {
    this.dropsUsed--
  }

  /** The engines' scratch fields as text (the spec's evidence that a scramble changed something). */
  transients(): string {
    return HONEST.map((i) => {
      const e = this.engines.get(i) as unknown as { out: EngineAction[]; committedInStep: boolean }
      return `${e.out.length}/${e.committedInStep}`
    }).join(',')
  }

  private step(r: number, event: EngineEvent): void {
    let engine = this.engines.get(r) as PbftEngine
    if (!this.owned.has(r)) {
      engine = copyEngineInto(engine, this.freshEngine(r))
      this.engines.set(r, engine)
      this.owned.add(r)
    }
    this.digests.delete(r)
    this.rawDigests.delete(r)
    this.steps++
    const final = this.chains.get(r)?.length ?? 0
    for (const a of engine.step(event)) this.execute(r, a)
    if (World.deadMessages && (this.chains.get(r)?.length ?? 0) > final) {
      for (const [key, p] of this.pending)
        if (p.to === r && this.isDead(r, p.msg)) {
          this.pending.delete(key)
          this.pruned.push(key)
        }
    }
  }

  /**
   * A message its receiver ignores from now on: a PRE-PREPARE, PREPARE, COMMIT or REJECT for a height
   * it has finalized. The engine's onMessage returns for it after pure checks only (sender range,
   * duplicate lookup, signature) and writes nothing but the per-step scratch fields (TRANSIENT), and
   * its final height (its chain's length here) never falls.
   */
  private isDead(to: number, msg: ConsensusMessage): boolean {
    return (
      World.deadMessages &&
      msg.kind !== 'viewchange' &&
      msg.kind !== 'newview' &&
      msg.height <= (this.chains.get(to)?.length ?? 0)
    )
  }

  private execute(r: number, a: EngineAction): void {
    switch (a.type) {
      case 'broadcast': {
        this.checkLedger(r, a.msg)
        const name = msgName(a.msg)
        for (let j = 0; j < N; j++) {
          if (j === r) continue
          if (j === BYZANTINE) this.byzSeen.set(name, a.msg)
          else if (!this.isDead(j, a.msg)) {
            this.pending.set(`${j}<${name}`, { to: j, msg: a.msg })
            this.emitted.push(`${j}<${name}`)
          }
        }
        return
      }
      case 'request_proposal':
        // Honest primaries propose only the heights of the model.
        if (a.height <= this.bounds.heights) this.proposals.set(r, a)
        return
      case 'commit': {
        const chain = this.chains.get(r) as { block: Block; certificate: CommitCertificate }[]
        const h = a.block.header.height
        const hash = toHex(blockHash(a.block.header))
        if (h !== chain.length + 1)
          throw new Violation(`order: replica ${r} finalized ${h} at ${chain.length}`)
        const known = this.finalAt.get(h)
        if (known !== undefined && known !== hash)
          throw new Violation(
            `agreement: replica ${r} finalized ${hash.slice(0, 12)} at ${h}, another ${known.slice(0, 12)}`,
          )
        this.finalAt.set(h, hash)
        chain.push({ block: a.block, certificate: a.certificate })
        // The engine forgets pending txs at a commit; the driver tells it again while txs wait,
        // which here they do below the height bound (a transition of its own: other events interleave).
        if (chain.length < this.bounds.heights) this.txsOwed.add(r)
        if (this.bounds.canaryHeight !== undefined && h >= this.bounds.canaryHeight)
          throw new Violation(`canary: replica ${r} finalized height ${h}`)
        return
      }
      case 'start_timer':
        // Timers that would move past the view bound never fire (that bounds the view changes).
        if (a.view < this.bounds.views || (a.view === this.bounds.views && a.ms === 0))
          this.timers.set(r, { view: a.view, height: a.height })
        else this.timers.delete(r)
        return
      case 'cancel_timer':
        this.timers.delete(r)
        return
      case 'request_sync':
        this.syncWanted.add(r)
        return
      case 'evidence':
        if (a.evidence.sender !== BYZANTINE)
          throw new Violation(
            `evidence against honest replica ${a.evidence.sender} (${a.evidence.kind}) at ${r}`,
          )
        return
      case 'persist':
      case 'prune_wal':
        return
    }
  }

  private checkLedger(r: number, msg: ConsensusMessage): void {
    const slot = slotOf(msg)
    if (slot === null) return
    const ledger = this.ledger.get(r) as Map<string, string>
    const d = digest(msg)
    const known = ledger.get(slot)
    if (known !== undefined && known !== d)
      throw new Violation(`honest replica ${r} signed two ${slot} messages`)
    ledger.set(slot, d)
  }

  /** The honest replica with the longest chain, if longer than r's (block sync's source). */
  private syncSource(r: number): { block: Block; certificate: CommitCertificate }[] | null {
    const own = this.chains.get(r)?.length ?? 0
    let best: { block: Block; certificate: CommitCertificate }[] | null = null
    for (const i of HONEST) {
      const c = this.chains.get(i) ?? []
      if (i !== r && c.length > own && (best === null || c.length > best.length)) best = c
    }
    return best
  }

  /**
   * The finite menu of the Byzantine validator (index 1, which signs anything): for every
   * PRE-PREPARE it has seen, PREPARE and COMMIT for that block and for a block nobody has; as primary
   * of view 1 a second PRE-PREPARE at each height it saw; VIEW-CHANGEs for the views of the model;
   * and NEW-VIEW(1) from every quorum of VIEW-CHANGEs(1) it holds — different subsets give different
   * O, which it may send to different replicas. Each to each honest replica, by name.
   */
  private byzantineMenu(): Map<string, Pending> {
    if (this.menu?.seen !== this.byzSeen.size)
      this.menu = { seen: this.byzSeen.size, items: this.buildMenu() }
    return this.menu.items
  }

  private buildMenu(): Map<string, Pending> {
    const msgs: ConsensusMessage[] = []
    const b = signer(BYZANTINE)
    const vcs = new Map<number, ViewChangeMsg>()
    for (const m of this.byzSeen.values()) {
      if (m.kind === 'viewchange' && m.newView === 1) vcs.set(m.sender, m)
      if (m.kind !== 'preprepare' || m.height > this.bounds.heights) continue
      const real = blockHash(m.block.header)
      const fake = sha256(new TextEncoder().encode(`fake/${m.view}/${m.height}`))
      for (const hash of [real, fake]) {
        msgs.push({
          kind: 'prepare',
          view: m.view,
          height: m.height,
          blockHash: hash,
          sender: BYZANTINE,
          signature: b.sign(prepareSignBytes(CHAIN, m.view, m.height, BYZANTINE, hash)),
        })
        msgs.push({
          kind: 'commit',
          view: m.view,
          height: m.height,
          blockHash: hash,
          sender: BYZANTINE,
          signature: b.sign(commitVoteSignBytes(CHAIN, m.view, m.height, hash)),
        })
      }
      const alt = makeBlock(b, 1, m.height, m.block.header.parentHash, 9)
      msgs.push({
        kind: 'preprepare',
        view: 1,
        height: m.height,
        block: alt,
        sender: BYZANTINE,
        signature: b.sign(prePrepareSignBytes(CHAIN, 1, m.height, BYZANTINE, blockHash(alt.header))),
      })
    }
    for (let v = 1; v <= this.bounds.views; v++) {
      const body = { newView: v, sender: BYZANTINE, checkpointHeight: 0, checkpoint: null, prepared: [] }
      const vc: ViewChangeMsg = {
        kind: 'viewchange',
        ...body,
        signature: b.sign(viewChangeSignBytes(CHAIN, body)),
      }
      msgs.push(vc)
      if (v === 1) vcs.set(BYZANTINE, vc)
    }
    msgs.push(...this.byzantineNewViews([...vcs.values()]))
    if (this.extraMenu !== undefined) msgs.push(...this.extraMenu([...this.byzSeen.values()]))
    const menu = new Map<string, Pending>()
    for (const msg of msgs) {
      const name = msgName(msg)
      for (const to of HONEST) menu.set(`${to}<${name}`, { to, msg })
    }
    return menu
  }

  private byzantineNewViews(vcs: ViewChangeMsg[]): NewViewMsg[] {
    const out: NewViewMsg[] = []
    const q = validators.quorum
    const subsets = (items: ViewChangeMsg[], k: number): ViewChangeMsg[][] =>
      k === 0 ? [[]] : items.flatMap((x, i) => subsets(items.slice(i + 1), k - 1).map((s) => [x, ...s]))
    for (const subset of subsets(
      vcs.sort((a, b) => a.sender - b.sender),
      q,
    )) {
      const proposal = computeNewViewProposal(subset)
      const n = linkedPrefix(proposal)
      const cands = proposal.candidates.slice(0, n)
      if (cands.some((c) => c.block === null)) continue
      const b = signer(BYZANTINE)
      const prePrepares = cands.map((c, i) => {
        const block = c.block as Block
        const height = proposal.height + i
        return {
          kind: 'preprepare' as const,
          view: 1,
          height,
          block,
          sender: BYZANTINE,
          signature: b.sign(prePrepareSignBytes(CHAIN, 1, height, BYZANTINE, blockHash(block.header))),
        }
      })
      const left = proposal.candidates[n]
      if (left !== undefined && left.block === null) continue
      const body = {
        view: 1,
        sender: BYZANTINE,
        viewChanges: subset.map(stripViewChange),
        prePrepares,
        stopHeader: left?.block?.header ?? null,
      }
      out.push({ kind: 'newview', ...body, signature: b.sign(newViewSignBytes(CHAIN, body)) })
    }
    return out
  }
}

/**
 * A digest of an engine's internal state: its object graph walked field by field, byte arrays as hex,
 * leaving out its constant configuration and closures. Canonical: the entries of a Map or Set with
 * primitive keys are taken in key order, except under the ORDER_SENSITIVE fields; otherwise in
 * insertion order.
 */
function stateDigest(root: unknown, canonical: boolean): string {
  return createHash('sha256')
    .update(serialize(root, true, canonical))
    .digest('base64')
}

const SKIP = new Set(['config', 'deps', 'host'])

/**
 * The engine's per-step scratch fields: `step` sets both before anything reads them (`out`, the
 * actions of the step; `committedInStep`), so their values between steps never decide a later one.
 * The digest leaves them out; false (`--keep-transient`) keeps them.
 */
const TRANSIENT = new Set(['out', 'committedInStep'])
let skipTransient = true
export function digestTransientFields(keep: boolean): void {
  skipTransient = !keep
}

/**
 * The engine's Maps whose insertion order its behaviour may depend on (docs/CONSENSUS.md "Model
 * checking", "Insertion-order abstraction"): a VoteTable's views (`byView`: checkCommitted tries a
 * height's views in that order, and the first with a quorum makes the certificate), the messages
 * buffered for the height above the window (`ahead`: replayed in that order), and the WAL votes per
 * height (`walVotes`: the order of the retained records). Every other Map and Set of the engine is read
 * only by key, by size, or by a loop whose result does not depend on the order (a sorted list, a count,
 * a filter that deletes, a per-key update). Only the listed Map itself keeps its order: the Maps inside
 * its values (a view's votes by sender) are canonical again.
 */
const ORDER_SENSITIVE = new Set(['byView', 'ahead', 'walVotes'])

/** byte arrays and plain values (messages, blocks: never mutated) serialized once each */
const bytesText = new WeakMap<Uint8Array, string>()
const valueText = new WeakMap<object, string>()

function isPrimitive(v: unknown): v is string | number | bigint | boolean {
  const t = typeof v
  return t === 'string' || t === 'number' || t === 'bigint' || t === 'boolean'
}

function comparePrimitive(
  a: string | number | bigint | boolean,
  b: string | number | bigint | boolean,
): number {
  if (typeof a !== typeof b) return typeof a < typeof b ? -1 : 1
  return a < b ? -1 : a > b ? 1 : 0
}

/** `keys` sorted when they are all primitives; null (keep insertion order) otherwise */
function sortedKeys(keys: readonly unknown[]): unknown[] | null {
  if (!keys.every(isPrimitive)) return null
  return [...keys].sort((a, b) => comparePrimitive(a as string, b as string))
}

/**
 * The object graph as text: object fields sorted, byte arrays as hex, a second reference to an object
 * as its first one's number, Maps and Sets as `stateDigest` says. A plain object (a message, a block,
 * a record) is a value the engine never mutates: its text is computed once and remembered.
 */
function serialize(root: unknown, top: boolean, canonical: boolean): string {
  const out: string[] = []
  const seen = new Map<object, number>()
  const walk = (v: unknown, keepOrder = false): void => {
    if (v === null || v === undefined || typeof v !== 'object') {
      if (typeof v !== 'function') out.push(`${typeof v}:${String(v)};`)
      return
    }
    if (v instanceof Uint8Array) {
      let t = bytesText.get(v)
      if (t === undefined) {
        t = `b:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')};`
        bytesText.set(v, t)
      }
      out.push(t)
      return
    }
    const id = seen.get(v)
    if (id !== undefined) {
      out.push(`@${id};`)
      return
    }
    seen.set(v, seen.size)
    const proto = Object.getPrototypeOf(v)
    if (top && (proto === Object.prototype || proto === null)) {
      let t = valueText.get(v)
      if (t === undefined) {
        t = serialize(v, false, canonical)
        valueText.set(v, t)
      }
      out.push('V', t)
      return
    }
    if (v instanceof Map) {
      out.push('M{')
      const keys = canonical && !keepOrder ? sortedKeys([...v.keys()]) : null
      for (const k of keys ?? v.keys()) {
        walk(k)
        walk(v.get(k))
      }
      out.push('}')
    } else if (v instanceof Set) {
      out.push('S{')
      const items = canonical && !keepOrder ? sortedKeys([...v]) : null
      for (const x of items ?? v) walk(x)
      out.push('}')
    } else if (Array.isArray(v)) {
      out.push('A[')
      for (const x of v) walk(x)
      out.push(']')
    } else {
      out.push('O{')
      const engine = skipTransient && v instanceof PbftEngine
      for (const k of Object.keys(v).sort()) {
        if (SKIP.has(k) || (engine && TRANSIENT.has(k))) continue
        out.push(`${k}=`)
        walk((v as Record<string, unknown>)[k], ORDER_SENSITIVE.has(k))
      }
      out.push('}')
    }
  }
  if (top) walk(root)
  else {
    // a plain value: its own fields, with a fresh numbering of its inner references
    out.push('O{')
    for (const k of Object.keys(root as object).sort()) {
      out.push(`${k}=`)
      walk((root as Record<string, unknown>)[k])
    }
    out.push('}')
  }
  return out.join('')
}

/**
 * Shuffles, in place, the insertion order of every Map and Set of an engine's state that `serialize`
 * takes in key order (the ORDER_SENSITIVE Maps keep theirs; the Maps inside their values do not).
 * Plain values (messages, blocks) are not entered: the engine never mutates them.
 */
function permuteGraph(root: object, rand: () => number): void {
  const done = new Set<object>()
  const shuffle = <T>(xs: T[]): T[] => {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1))
      ;[xs[i], xs[j]] = [xs[j] as T, xs[i] as T]
    }
    return xs
  }
  const visit = (v: unknown, keepOrder: boolean): void => {
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array || done.has(v)) return
    done.add(v)
    const proto = Object.getPrototypeOf(v)
    // plain values and the immutable NewViewConstraint are shared with other states (clone.ts)
    if (proto === Object.prototype || proto === null || v instanceof NewViewConstraint) return
    if (v instanceof Map) {
      const entries = [...v.entries()]
      if (!keepOrder && entries.every(([k]) => isPrimitive(k))) {
        v.clear()
        for (const [k, x] of shuffle(entries)) v.set(k, x)
      }
      for (const [, x] of entries) visit(x, false)
    } else if (v instanceof Set) {
      const items = [...v]
      if (!keepOrder && items.every(isPrimitive)) {
        v.clear()
        for (const x of shuffle(items)) v.add(x)
      }
      for (const x of items) visit(x, false)
    } else if (Array.isArray(v)) {
      for (const x of v) visit(x, false)
    } else {
      for (const k of Object.keys(v)) {
        if (SKIP.has(k) || k === 'phases') continue
        visit((v as Record<string, unknown>)[k], ORDER_SENSITIVE.has(k))
      }
    }
  }
  visit(root, false)
}
