import type { NewViewMsg, PrePrepareMsg, PreparedCert, ViewChangeMsg } from '../codec/consensus.js'
import { MAX_PIPELINE_DEPTH } from '../codec/limits.js'
import type { CommitCertificate } from '../codec/types.js'
import { bytesEqual } from '../crypto/hash.js'
import { hashHex } from './height-slot.js'

/** What a NEW-VIEW must re-propose, computed identically by the new primary and every backup (§4.4). */
export interface NewViewProposal {
  /** the height the new view starts at: one above the highest checkpoint in V */
  readonly height: number
  /** the certificate of that checkpoint (null at genesis) */
  readonly checkpoint: CommitCertificate | null
  /**
   * For height, height + 1, ... as long as every height has one: the prepared certificate with the
   * highest view. O is the longest prefix of these whose blocks are hash-linked (linkedPrefix).
   */
  readonly candidates: readonly PreparedCert[]
}

/**
 * §4.4 adapted to a chain with pipelining depth K: min-s is the highest stable checkpoint in V (a
 * commit certificate, so everything up to it is final). For each height above it, in order, the
 * candidate is the prepared certificate with the highest view (ties cannot disagree: two prepared
 * certificates for one (view, height) share an honest replica, which accepts only one digest; the
 * lowest sender wins). The candidates stop at the first height without a certificate: nothing above
 * a gap can have committed (a committed block's parent was prepared by f+1 honest replicas in the
 * same view — docs/CONSENSUS.md, "Pipelining").
 */
export function computeNewViewProposal(viewChanges: readonly ViewChangeMsg[]): NewViewProposal {
  let top: ViewChangeMsg | undefined
  for (const vc of viewChanges) if (top === undefined || vc.checkpointHeight > top.checkpointHeight) top = vc
  const maxH = top?.checkpointHeight ?? 0
  const candidates: PreparedCert[] = []
  for (let height = maxH + 1; ; height++) {
    let best: PreparedCert | null = null
    for (const vc of viewChanges) {
      for (const p of vc.prepared) {
        if (p.height === height && (best === null || p.view > best.view)) best = p
      }
    }
    if (best === null) break
    candidates.push(best)
  }
  return { height: maxH + 1, checkpoint: top?.checkpoint ?? null, candidates }
}

/**
 * How many candidates O re-proposes: the longest prefix whose blocks form a chain on the checkpoint
 * block (at genesis the first link is not checked: a prepared block at height 1 was validated by an
 * honest replica, so its parent is genesis). A candidate that does not extend the one below it cannot
 * have committed: if it had, f+1 honest replicas prepared its parent in its view, and that parent
 * would be the highest-view candidate below it in every later NEW-VIEW. Needs the candidates' blocks
 * (the new primary has them from the standalone VIEW-CHANGEs).
 */
export function linkedPrefix(proposal: NewViewProposal): number {
  let parent: Uint8Array | null = proposal.checkpoint?.blockHash ?? null
  let n = 0
  for (const p of proposal.candidates) {
    if (p.block === null) break
    if (parent !== null && !bytesEqual(p.block.header.parentHash, parent)) break
    parent = p.blockHash
    n++
  }
  return n
}

/** What a NEW-VIEW's constraint (§4.4) lets a replica do with a proposal in its view. */
export type NewViewRule = 'open' | 'reproposed' | 'closed'

/**
 * The constraint a NEW-VIEW puts on its view (§4.4): the re-proposals O at their heights, nothing
 * accepted below its start, and fresh proposals only from `freeFrom` on.
 */
export class NewViewConstraint {
  /** before any NEW-VIEW: view 0 starts at genesis and constrains nothing */
  static readonly NONE = new NewViewConstraint(0, 0, new Map(), 0)

  private constructor(
    readonly view: number,
    /** heights below this are closed in `view` (they are final: the NEW-VIEW's checkpoint) */
    readonly start: number,
    /** O: the re-proposed PRE-PREPARE per height (start .. freeFrom - 1 when known) */
    private readonly fixed: ReadonlyMap<number, PrePrepareMsg>,
    /** the first height where the primary of `view` may propose a fresh block */
    readonly freeFrom: number,
  ) {}

  /** The constraint of a NEW-VIEW, with its proposal as computed from its VIEW-CHANGEs. */
  static of(nv: NewViewMsg, proposal: NewViewProposal): NewViewConstraint {
    const fixed = new Map<number, PrePrepareMsg>()
    for (const pp of nv.prePrepares) fixed.set(pp.height, pp)
    return new NewViewConstraint(nv.view, proposal.height, fixed, proposal.height + nv.prePrepares.length)
  }

  /** The constraint of the view of `cert`, joined from that certificate without its NEW-VIEW. */
  static unknown(cert: CommitCertificate): NewViewConstraint {
    // Without v's NEW-VIEW we do not know O: it re-proposes at most MAX_PIPELINE_DEPTH heights above
    // its checkpoint (verify.ts bounds every VIEW-CHANGE's certificates so, whatever K others run),
    // and that checkpoint is below cert.height: heights from cert.height + MAX_PIPELINE_DEPTH are free.
    return new NewViewConstraint(cert.view, cert.height + 1, new Map(), cert.height + MAX_PIPELINE_DEPTH)
  }

  /** O: the re-proposed PRE-PREPAREs */
  reproposals(): Iterable<PrePrepareMsg> {
    return this.fixed.values()
  }

  /**
   * §4.4: in the view a NEW-VIEW started, heights below its start are closed, at the heights of O
   * only the re-proposed block may be accepted, and fresh proposals only from freeFrom on.
   */
  ruleFor(view: number, height: number, hash: string): NewViewRule {
    if (view !== this.view) return 'open'
    const fixed = this.fixed.get(height)
    if (fixed !== undefined) return hash === hashHex(fixed.block) ? 'reproposed' : 'closed'
    return height < this.freeFrom ? 'closed' : 'open'
  }

  /** May the primary of `view` propose a fresh block at `height`? (§4.4 NEW-VIEW's O) */
  freshProposalAllowed(view: number, height: number): boolean {
    if (view !== this.view) return true
    return height >= this.freeFrom
  }
}
