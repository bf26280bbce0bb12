import type { PreparedCert, ViewChangeMsg } from '../codec/consensus.js'
import type { CommitCertificate } from '../codec/types.js'

/** What a NEW-VIEW must re-propose, computed identically by the new primary and every backup (§4.4). */
export interface NewViewProposal {
  /** the height the new view starts at: one above the highest checkpoint in V */
  readonly height: number
  /** the certificate of that checkpoint (null at genesis) */
  readonly checkpoint: CommitCertificate | null
  /** the highest-view prepared certificate for `height`, or null: the primary may propose anything */
  readonly prepared: PreparedCert | null
}

/**
 * §4.4 adapted to a chain with K = 1: min-s is the highest stable checkpoint in V (a commit
 * certificate, so everything up to it is final); for the one height above it, O re-proposes the
 * prepared certificate with the highest view (ties cannot disagree: two prepared certificates for one
 * (view, height) share an honest replica, which accepts only one digest; the lowest sender wins).
 */
export function computeNewViewProposal(viewChanges: readonly ViewChangeMsg[]): NewViewProposal {
  let top: ViewChangeMsg | undefined
  for (const vc of viewChanges) if (top === undefined || vc.checkpointHeight > top.checkpointHeight) top = vc
  const maxH = top?.checkpointHeight ?? 0
  let best: PreparedCert | null = null
  for (const vc of viewChanges) {
    const p = vc.prepared
    if (p === null || p.height !== maxH + 1) continue
    if (best === null || p.view > best.view) best = p
  }
  return { height: maxH + 1, checkpoint: top?.checkpoint ?? null, prepared: best }
}
