import type { ValidatorSet } from '../../src/chain/validators.js'
import { blockHash, commitVoteSignBytes } from '../../src/codec/chain.js'
import {
  type CommitMsg,
  type ConsensusMessage,
  type NewViewMsg,
  newViewSignBytes,
  type PrePrepareMsg,
  type PreparedCert,
  type PrepareMsg,
  prePrepareSignBytes,
  prepareSignBytes,
  stripViewChange,
  type ViewChangeMsg,
  viewChangeSignBytes,
} from '../../src/codec/consensus.js'
import { MAX_PIPELINE_DEPTH } from '../../src/codec/limits.js'
import type { Block, BlockHeader } from '../../src/codec/types.js'
import { computeNewViewProposal, linkedPrefix } from '../../src/consensus/new-view.js'
import { verifyConsensusMessage } from '../../src/consensus/verify.js'
import type { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { toHex } from '../../src/crypto/hash.js'
import type { Prng } from './prng.js'

/** The attacks the colluders carried out in a run (SimResult.colludeActs; fast.spec checks each happens). */
export const COLLUDE_ACTS = [
  'equivocating-preprepare',
  'double-vote',
  'vote-other-real-block',
  'viewchange-chosen-certificates',
  'equivocating-viewchange',
  'equivocating-newview',
  'stop-header-truncation',
  'selective-delivery',
] as const
export type ColludeAct = (typeof COLLUDE_ACTS)[number]

/** What the colluding validators need from the simulation. */
export interface CollusionHost {
  readonly chainId: string
  readonly validators: ValidatorSet
  /** the simulation's network PRNG: every choice below is seeded, so a run replays */
  readonly rng: Prng
  readonly colluders: readonly number[]
  readonly honest: readonly number[]
  signer(validator: number): Ed25519Signer
  send(from: number, to: number, msg: ConsensusMessage): void
  act(kind: ColludeAct): void
  /** a message the colluders built is not valid: a simulator bug, the seed fails */
  fail(why: string): void
  trace(line: string): void
}

/** Which honest replicas got which of two signed versions of one slot. */
interface Split {
  readonly a: string
  readonly b: string
  readonly sideB: ReadonlySet<number>
}

/**
 * `collude`: f validators that share everything any of them has seen and each sign, with their own
 * key, anything that passes `verifyConsensusMessage` (docs/CONSENSUS.md "Simulator"). Each runs the
 * node's honest engine; what its engine sends is intercepted here and replaced by:
 * - a fresh proposal equivocated (two valid blocks for one (view, height), one per half of the
 *   honest replicas), and the colluders' PREPAREs and COMMITs for both, each half getting the vote
 *   for its block (`double-vote`); otherwise sometimes a PREPARE/COMMIT for another real block of
 *   that height (`vote-other-real-block`);
 * - VIEW-CHANGEs carrying a chosen subset of the real prepared certificates the colluders know
 *   (assembled from real PRE-PREPAREs and PREPAREs, or taken from VIEW-CHANGEs): per height a
 *   lower-view one, or none from some height on — leaving out the newest, the "stop-header
 *   truncation" of P; sent to all, or to one half with the honest one to the other;
 * - as primary, a second NEW-VIEW built from another quorum of the VIEW-CHANGEs they know (the
 *   colluders' chosen ones first), so with a shorter O, to one half; and a NEW-VIEW whose O is cut
 *   short with another real header as the stop header (an attempt the engine must refuse);
 * - selective delivery of everything else (some honest replicas only).
 */
export class Collusion {
  private readonly blocks = new Map<string, Block>()
  /** `${view}/${height}` -> the PRE-PREPAREs of primary(view) seen, by block hash */
  private readonly prePrepares = new Map<string, Map<string, PrePrepareMsg>>()
  /** `${view}/${height}/${hash}` -> PREPARE signatures by sender */
  private readonly prepares = new Map<string, Map<number, Uint8Array>>()
  /** height -> real prepared certificates seen in VIEW-CHANGEs (with their blocks) */
  private readonly vcCerts = new Map<number, PreparedCert[]>()
  /** new view -> valid VIEW-CHANGEs known, one list per sender (colluders may have several) */
  private readonly viewChanges = new Map<number, Map<number, ViewChangeMsg[]>>()
  private readonly seenSignatures = new Set<string>()
  private readonly splits = new Map<string, Split>()

  constructor(private readonly host: CollusionHost) {}

  isColluder(i: number): boolean {
    return this.host.colluders.includes(i)
  }

  // ---------- shared knowledge ----------

  /** Every message a colluder receives or sends. */
  observe(msg: ConsensusMessage): void {
    const sig = toHex(msg.signature)
    if (this.seenSignatures.has(sig)) return
    this.seenSignatures.add(sig)
    if (this.seenSignatures.size > 50_000) this.seenSignatures.clear()
    switch (msg.kind) {
      case 'preprepare': {
        if (msg.sender !== this.host.validators.primary(msg.view).index) return
        const h = toHex(blockHash(msg.block.header))
        this.blocks.set(h, msg.block)
        const key = `${msg.view}/${msg.height}`
        const m = this.prePrepares.get(key) ?? new Map<string, PrePrepareMsg>()
        m.set(h, msg)
        this.prePrepares.set(key, m)
        return
      }
      case 'prepare': {
        const key = `${msg.view}/${msg.height}/${toHex(msg.blockHash)}`
        const m = this.prepares.get(key) ?? new Map<number, Uint8Array>()
        m.set(msg.sender, msg.signature)
        this.prepares.set(key, m)
        return
      }
      case 'viewchange': {
        if (!verifyConsensusMessage(msg, this.host.chainId, this.host.validators)) return
        this.addViewChange(msg)
        return
      }
      default:
        return
    }
  }

  private addViewChange(vc: ViewChangeMsg): void {
    const byView = this.viewChanges.get(vc.newView) ?? new Map<number, ViewChangeMsg[]>()
    const list = byView.get(vc.sender) ?? []
    list.push(vc)
    byView.set(vc.sender, list)
    this.viewChanges.set(vc.newView, byView)
    for (const p of vc.prepared) {
      if (p.block === null) continue
      this.blocks.set(toHex(p.blockHash), p.block)
      const certs = this.vcCerts.get(p.height) ?? []
      if (!certs.some((c) => c.view === p.view && toHex(c.blockHash) === toHex(p.blockHash))) certs.push(p)
      this.vcCerts.set(p.height, certs)
    }
  }

  /** Every real prepared certificate known at `height`, of a view below `below`. */
  private certsAt(height: number, below: number): PreparedCert[] {
    const { validators } = this.host
    const out = (this.vcCerts.get(height) ?? []).filter((c) => c.view < below)
    for (const [key, pps] of this.prePrepares) {
      const [v, h] = key.split('/').map(Number) as [number, number]
      if (h !== height || v >= below) continue
      const primary = validators.primary(v).index
      for (const [hash, pp] of pps) {
        if (out.some((c) => c.view === v && toHex(c.blockHash) === hash)) continue
        const votes = [...(this.prepares.get(`${v}/${h}/${hash}`) ?? new Map<number, Uint8Array>())]
          .filter(([sender]) => sender !== primary)
          .sort((a, b) => a[0] - b[0])
          .slice(0, validators.quorum - 1)
        if (votes.length < validators.quorum - 1) continue
        out.push({
          view: v,
          height: h,
          blockHash: blockHash(pp.block.header),
          prePrepareSignature: pp.signature,
          prepares: votes.map(([validator, signature]) => ({ validator, signature })),
          block: pp.block,
        })
      }
    }
    return out
  }

  /** Real blocks known at `height` other than `hash`. */
  private otherBlocksAt(height: number, hash: string): string[] {
    const out: string[] = []
    for (const [h, b] of this.blocks) if (b.header.height === height && h !== hash) out.push(h)
    return out
  }

  // ---------- sending ----------

  private sendTo(from: number, targets: Iterable<number>, msg: ConsensusMessage): void {
    this.observe(msg)
    for (const to of targets) if (to !== from) this.host.send(from, to, msg)
  }

  private othersOf(from: number): number[] {
    return [...this.host.colluders, ...this.host.honest].filter((i) => i !== from)
  }

  /** Two halves of the honest replicas (side B nonempty when there are two or more). */
  private split(): { a: number[]; b: Set<number> } {
    const r = this.host.rng
    const honest = [...this.host.honest]
    const b = new Set<number>()
    for (const i of honest) if (r.chance(0.5)) b.add(i)
    if (b.size === 0 && honest.length > 1) b.add(honest[r.int(0, honest.length - 1)] as number)
    if (b.size === honest.length && honest.length > 1) b.delete(honest[0] as number)
    return { a: honest.filter((i) => !b.has(i)), b }
  }

  /** Some of the honest replicas (at least one) and every colluder. */
  private selective(from: number): number[] {
    const r = this.host.rng
    const honest = this.host.honest.filter(() => r.chance(0.6))
    if (honest.length === 0 && this.host.honest.length > 0) honest.push(r.pick([...this.host.honest]))
    return [...this.host.colluders.filter((i) => i !== from), ...honest]
  }

  /** A colluder's engine broadcasts `msg`: the colluders decide what actually goes out. */
  broadcast(from: number, msg: ConsensusMessage): void {
    this.observe(msg)
    const r = this.host.rng
    switch (msg.kind) {
      case 'preprepare':
        if (msg.sender === from && msg.block.header.view === msg.view && r.chance(0.5)) {
          this.equivocatePrePrepare(from, msg)
          return
        }
        break
      case 'prepare':
      case 'commit':
        if (msg.sender === from && this.vote(from, msg)) return
        break
      case 'viewchange':
        if (msg.sender === from && r.chance(0.7) && this.viewChange(from, msg)) return
        break
      case 'newview':
        if (msg.sender === from && this.newView(from, msg)) return
        break
      default:
        break
    }
    if (r.chance(0.3)) {
      this.host.act('selective-delivery')
      this.sendTo(from, this.selective(from), msg)
    } else {
      this.sendTo(from, this.othersOf(from), msg)
    }
  }

  // ---------- proposals and votes ----------

  private equivocatePrePrepare(from: number, pp: PrePrepareMsg): void {
    const alt: Block = {
      ...pp.block,
      header: { ...pp.block.header, timestamp: pp.block.header.timestamp + 1 + this.host.rng.int(0, 50) },
    }
    const pp2 = this.signPrePrepare(from, pp.view, pp.height, alt)
    const { a, b } = this.split()
    const ha = toHex(blockHash(pp.block.header))
    const hb = toHex(blockHash(alt.header))
    this.splits.set(`${pp.view}/${pp.height}`, { a: ha, b: hb, sideB: b })
    this.host.act('equivocating-preprepare')
    this.host.trace(`colluder ${from} equivocates at view ${pp.view} height ${pp.height} (side B: ${[...b]})`)
    const mates = this.host.colluders.filter((i) => i !== from)
    this.sendTo(from, [...mates, ...a], pp)
    this.sendTo(from, [...mates, ...b], pp2)
  }

  /** PREPARE/COMMIT: one vote per half for an equivocated slot, or a vote for another real block. */
  private vote(from: number, msg: PrepareMsg | CommitMsg): boolean {
    const r = this.host.rng
    const hash = toHex(msg.blockHash)
    const split = this.splits.get(`${msg.view}/${msg.height}`)
    const mates = this.host.colluders.filter((i) => i !== from)
    if (split !== undefined && (hash === split.a || hash === split.b)) {
      const voteA = hash === split.a ? msg : this.signVote(from, msg, split.a)
      const voteB = hash === split.b ? msg : this.signVote(from, msg, split.b)
      this.host.act('double-vote')
      this.sendTo(from, [...mates, ...this.host.honest.filter((i) => !split.sideB.has(i))], voteA)
      this.sendTo(from, [...mates, ...split.sideB], voteB)
      return true
    }
    const others = this.otherBlocksAt(msg.height, hash)
    if (others.length > 0 && r.chance(0.3)) {
      const other = this.signVote(from, msg, r.pick(others))
      const { a, b } = this.split()
      this.host.act('vote-other-real-block')
      this.sendTo(from, [...mates, ...a], msg)
      this.sendTo(from, b, other)
      return true
    }
    return false
  }

  // ---------- view changes ----------

  /**
   * A VIEW-CHANGE with a chosen subset of the real prepared certificates known: per height above the
   * checkpoint, one of lower view than the honest choice, or none from some height on.
   */
  private viewChange(from: number, vc: ViewChangeMsg): boolean {
    const r = this.host.rng
    const prepared: PreparedCert[] = []
    let parent = vc.checkpoint?.blockHash ?? null
    const stopAt = r.int(0, MAX_PIPELINE_DEPTH)
    for (let h = vc.checkpointHeight + 1; h <= vc.checkpointHeight + MAX_PIPELINE_DEPTH; h++) {
      if (prepared.length >= stopAt) break
      const known = this.certsAt(h, vc.newView).filter(
        (c) =>
          c.block !== null &&
          (h !== vc.checkpointHeight + 1 || parent === null || eq(c.block.header.parentHash, parent)),
      )
      if (known.length === 0) break
      // Lowest view first: the adversary hides the newest certificate where it can.
      known.sort((a, b) => a.view - b.view)
      const c = r.chance(0.7) ? (known[0] as PreparedCert) : r.pick(known)
      prepared.push(c)
      parent = c.blockHash
    }
    const body = { ...vc, prepared }
    const signature = this.host.signer(from).sign(viewChangeSignBytes(this.host.chainId, body))
    const chosen: ViewChangeMsg = { ...body, signature }
    if (eq(signature, vc.signature)) return false // the same choice as the honest engine
    if (!verifyConsensusMessage(chosen, this.host.chainId, this.host.validators)) {
      this.host.fail(`sim: collude built an invalid VIEW-CHANGE for view ${vc.newView}`)
      return false
    }
    this.host.act('viewchange-chosen-certificates')
    this.addViewChange(chosen)
    const mates = this.host.colluders.filter((i) => i !== from)
    if (r.chance(0.5)) {
      this.host.act('equivocating-viewchange')
      const { a, b } = this.split()
      this.sendTo(from, [...mates, ...a], vc)
      this.sendTo(from, b, chosen)
    } else {
      this.sendTo(from, [...mates, ...this.host.honest], chosen)
    }
    this.host.trace(
      `colluder ${from} sends a VIEW-CHANGE for view ${vc.newView} with ${prepared.length}/${vc.prepared.length} certificates`,
    )
    return true
  }

  /** As primary of a view: a second NEW-VIEW from another quorum, and a stop-header truncation attempt. */
  private newView(from: number, nv: NewViewMsg): boolean {
    const r = this.host.rng
    const { validators } = this.host
    const known = this.viewChanges.get(nv.view) ?? new Map<number, ViewChangeMsg[]>()
    // One VIEW-CHANGE per sender: a colluder's chosen one (the last) where there is one.
    const pool = [...known].map(([, list]) => list.at(-1) as ViewChangeMsg)
    const mine = pool.filter((vc) => this.isColluder(vc.sender))
    const theirs = pool.filter((vc) => !this.isColluder(vc.sender))
    for (let i = theirs.length - 1; i > 0; i--) {
      const j = r.int(0, i)
      ;[theirs[i], theirs[j]] = [theirs[j] as ViewChangeMsg, theirs[i] as ViewChangeMsg]
    }
    // Fewest certificates first: the quorum that hides the most.
    theirs.sort((a, b) => a.prepared.length - b.prepared.length)
    const quorum = [...mine, ...theirs].slice(0, validators.quorum).sort((a, b) => a.sender - b.sender)
    let second: NewViewMsg | null = null
    if (quorum.length >= validators.quorum) second = this.buildNewView(from, nv.view, quorum)
    const mates = this.host.colluders.filter((i) => i !== from)
    const { a, b } = this.split()
    let sent = false
    if (second !== null && !eq(second.signature, nv.signature)) {
      if (!verifyConsensusMessage(second, this.host.chainId, validators)) {
        this.host.fail(`sim: collude built an invalid NEW-VIEW for view ${nv.view}`)
        return false
      }
      this.host.act('equivocating-newview')
      this.host.trace(
        `colluder ${from} equivocates NEW-VIEW ${nv.view}: O of ${nv.prePrepares.length} and ${second.prePrepares.length}`,
      )
      this.sendTo(from, [...mates, ...a], nv)
      this.sendTo(from, b, second)
      sent = true
    }
    const truncated = this.truncatedNewView(second ?? nv)
    if (truncated !== null) {
      if (verifyConsensusMessage(truncated, this.host.chainId, validators)) {
        this.host.fail(`sim: a NEW-VIEW for view ${nv.view} with O cut short passed verification`)
        return false
      }
      this.host.act('stop-header-truncation')
      // Some honest replicas get the truncated one first; the real one follows (or went out above).
      const targets = this.selective(from)
      this.sendTo(from, targets, truncated)
      if (!sent) this.sendTo(from, this.othersOf(from), nv)
      return true
    }
    return sent
  }

  /** The NEW-VIEW the engine's maybeSendNewView would build from `vcs` (with their blocks). */
  private buildNewView(from: number, view: number, vcs: ViewChangeMsg[]): NewViewMsg | null {
    const proposal = computeNewViewProposal(vcs)
    const n = linkedPrefix(proposal)
    const prePrepares: PrePrepareMsg[] = []
    for (const [i, c] of proposal.candidates.slice(0, n).entries()) {
      if (c.block === null) return null
      prePrepares.push(this.signPrePrepare(from, view, proposal.height + i, c.block))
    }
    const left = proposal.candidates[n]
    let stopHeader: BlockHeader | null = null
    if (left !== undefined) {
      if (left.block === null) return null
      stopHeader = left.block.header
    }
    return this.signNewView({
      view,
      sender: from,
      viewChanges: vcs.map(stripViewChange),
      prePrepares,
      stopHeader,
    })
  }

  /** O cut short at some height, with another real header of that height as the "proof". */
  private truncatedNewView(nv: NewViewMsg): NewViewMsg | null {
    const r = this.host.rng
    if (nv.prePrepares.length === 0) return null
    const cut = r.int(0, nv.prePrepares.length - 1)
    const dropped = nv.prePrepares[cut] as PrePrepareMsg
    const others = this.otherBlocksAt(dropped.height, toHex(blockHash(dropped.block.header)))
    const stopHeader =
      others.length > 0 ? (this.blocks.get(r.pick(others)) as Block).header : dropped.block.header
    return this.signNewView({ ...nv, prePrepares: nv.prePrepares.slice(0, cut), stopHeader })
  }

  // ---------- signing with a colluder's own key ----------

  private signPrePrepare(from: number, view: number, height: number, block: Block): PrePrepareMsg {
    const bytes = prePrepareSignBytes(this.host.chainId, view, height, from, blockHash(block.header))
    return {
      kind: 'preprepare',
      view,
      height,
      sender: from,
      block,
      signature: this.host.signer(from).sign(bytes),
    }
  }

  private signVote<M extends PrepareMsg | CommitMsg>(from: number, msg: M, hashHex: string): M {
    const hash = fromHex(hashHex)
    const bytes =
      msg.kind === 'prepare'
        ? prepareSignBytes(this.host.chainId, msg.view, msg.height, from, hash)
        : commitVoteSignBytes(this.host.chainId, msg.view, msg.height, hash)
    return { ...msg, blockHash: hash, signature: this.host.signer(from).sign(bytes) }
  }

  private signNewView(body: Omit<NewViewMsg, 'kind' | 'signature'>): NewViewMsg {
    const signature = this.host.signer(body.sender).sign(newViewSignBytes(this.host.chainId, body))
    return { kind: 'newview', ...body, signature }
  }
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function fromHex(hex: string): Uint8Array {
  const s = hex.startsWith('0x') ? hex.slice(2) : hex
  return new Uint8Array(Buffer.from(s, 'hex'))
}
