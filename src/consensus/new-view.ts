import type { PreparedCert, ViewChangeMsg } from '../codec/consensus.js'
import type { CommitCertificate } from '../codec/types.js'
import { bytesEqual } from '../crypto/hash.js'

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
