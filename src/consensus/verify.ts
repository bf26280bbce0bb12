import { verifyCertificate } from '../chain/certificate.js'
import type { ValidatorSet } from '../chain/validators.js'
import { blockHash } from '../codec/chain.js'
import {
  type ConsensusMessage,
  type NewViewMsg,
  type PrePrepareMsg,
  type PreparedCert,
  prePrepareSignBytes,
  prepareSignBytes,
  signBytesOf,
  type ViewChangeMsg,
} from '../codec/consensus.js'
import { MAX_PIPELINE_DEPTH } from '../codec/limits.js'
import { bytesEqual } from '../crypto/hash.js'
import { computeNewViewProposal } from './new-view.js'

/**
 * Stateless validity of a consensus message: signature, sender is a validator, and the structural
 * rules a message must satisfy whatever the receiver's state (PBFT §4.2–§4.4). The network layer runs
 * it before gossiping; the engine runs it again (a driver might not). Returns false, never throws.
 *
 * Cheapest first: the structure (no signature), then the sender's own signature over the message,
 * and only then the signatures embedded in it (a VIEW-CHANGE's certificates, a NEW-VIEW's 2f+1
 * VIEW-CHANGEs and re-proposals). A forged message costs one verification, not the ~5n² a NEW-VIEW
 * embeds (docs/CONSENSUS.md "Consensus rules").
 */
export function verifyConsensusMessage(
  msg: ConsensusMessage,
  chainId: string,
  validators: ValidatorSet,
): boolean {
  try {
    if (!isIndex(msg.sender, validators)) return false
    if (!shapeValid(msg, chainId, validators)) return false
    if (!validators.verify(msg.sender, signBytesOf(chainId, msg), msg.signature)) return false
    return embeddedSignaturesValid(msg, chainId, validators)
  } catch {
    return false
  }
}

function isIndex(i: number, validators: ValidatorSet): boolean {
  return Number.isInteger(i) && i >= 0 && i < validators.n
}

/** The rules that need no signature check. */
function shapeValid(msg: ConsensusMessage, chainId: string, validators: ValidatorSet): boolean {
  switch (msg.kind) {
    case 'preprepare':
      return prePrepareShapeValid(msg, chainId, validators)
    case 'prepare':
    case 'commit':
    case 'reject':
      return msg.height >= 1
    case 'viewchange':
      return viewChangeShapeValid(msg, chainId, validators, true)
    case 'newview':
      return newViewShapeValid(msg, chainId, validators)
  }
}

/** The signatures a message carries besides its sender's (checked once that one verified). */
function embeddedSignaturesValid(msg: ConsensusMessage, chainId: string, validators: ValidatorSet): boolean {
  switch (msg.kind) {
    case 'viewchange':
      return viewChangeCertificatesValid(msg, chainId, validators)
    case 'newview':
      return newViewEmbeddedValid(msg, chainId, validators)
    default:
      return true
  }
}

/**
 * §4.2: a PRE-PREPARE comes from the primary of its view. The block's header names the same height
 * and chain; its own view may be lower only for a block re-proposed by a NEW-VIEW (§4.4), and its
 * proposer is the primary of the view the block was built in.
 */
function prePrepareShapeValid(msg: PrePrepareMsg, chainId: string, validators: ValidatorSet): boolean {
  const h = msg.block.header
  if (msg.height < 1 || msg.sender !== validators.primary(msg.view).index) return false
  if (h.chainId !== chainId || h.height !== msg.height || h.view > msg.view) return false
  return bytesEqual(h.proposer, validators.primary(h.view).publicKey)
}

/**
 * §4.4: a prepared certificate is a PRE-PREPARE plus quorum-1 (2f) PREPAREs from distinct other
 * validators; its block, when carried, is the one certified. The structure here, the signatures in
 * preparedSignaturesValid.
 */
function preparedShapeValid(p: PreparedCert, validators: ValidatorSet): boolean {
  const primary = validators.primary(p.view).index
  if (p.prepares.length < validators.quorum - 1) return false
  let previous = -1
  for (const v of p.prepares) {
    if (!isIndex(v.validator, validators) || v.validator <= previous || v.validator === primary) return false
    previous = v.validator
  }
  return p.block === null || bytesEqual(blockHash(p.block.header), p.blockHash)
}

function preparedSignaturesValid(p: PreparedCert, chainId: string, validators: ValidatorSet): boolean {
  const primary = validators.primary(p.view).index
  if (
    !validators.verify(
      primary,
      prePrepareSignBytes(chainId, p.view, p.height, primary, p.blockHash),
      p.prePrepareSignature,
    )
  ) {
    return false
  }
  for (const v of p.prepares) {
    if (
      !validators.verify(
        v.validator,
        prepareSignBytes(chainId, p.view, p.height, v.validator, p.blockHash),
        v.signature,
      )
    ) {
      return false
    }
  }
  return true
}

/**
 * A VIEW-CHANGE is valid when its checkpoint is proven by a commit certificate (none at genesis) and
 * its prepared certificates are for distinct heights above the checkpoint in increasing order (at most
 * MAX_PIPELINE_DEPTH of them, the codec's bound), each from an earlier view and valid, each carrying
 * its block when sent on its own; the block right above the checkpoint extends the checkpoint block.
 * The structure here, the certificates' signatures in viewChangeCertificatesValid.
 */
function viewChangeShapeValid(
  vc: ViewChangeMsg,
  chainId: string,
  validators: ValidatorSet,
  standalone: boolean,
): boolean {
  if (!isIndex(vc.sender, validators) || vc.newView < 1) return false
  if (vc.checkpointHeight === 0) {
    if (vc.checkpoint !== null) return false
  } else if (vc.checkpoint === null || vc.checkpoint.height !== vc.checkpointHeight) {
    return false
  }
  let previous = vc.checkpointHeight
  for (const p of vc.prepared) {
    if (p.height <= previous || p.height > vc.checkpointHeight + MAX_PIPELINE_DEPTH) return false
    previous = p.height
    if (p.view >= vc.newView) return false
    if (standalone && p.block === null) return false
    if (p.block !== null) {
      if (p.block.header.height !== p.height || p.block.header.chainId !== chainId) return false
      if (
        p.height === vc.checkpointHeight + 1 &&
        vc.checkpoint !== null &&
        !bytesEqual(p.block.header.parentHash, vc.checkpoint.blockHash)
      )
        return false
    }
    if (!preparedShapeValid(p, validators)) return false
  }
  return true
}

function viewChangeCertificatesValid(vc: ViewChangeMsg, chainId: string, validators: ValidatorSet): boolean {
  if (vc.checkpoint !== null) {
    try {
      verifyCertificate(vc.checkpoint, chainId, validators)
    } catch {
      return false
    }
  }
  return vc.prepared.every((p) => preparedSignaturesValid(p, chainId, validators))
}

/**
 * §4.4: a NEW-VIEW is from the new primary, holds 2f+1 valid VIEW-CHANGEs for its view from distinct
 * validators (sorted by sender), and its PRE-PREPAREs are exactly what any backup recomputes from them:
 * the highest-view prepared block for each height after the highest checkpoint (new-view.ts), as a
 * hash-linked chain, stopping either where the candidates stop or at a candidate whose header (sent
 * along as stopHeader) proves it does not extend the chain. Everything but the embedded signatures
 * here (newViewEmbeddedValid checks those, once the primary's own signature verified).
 */
function newViewShapeValid(nv: NewViewMsg, chainId: string, validators: ValidatorSet): boolean {
  if (nv.view < 1 || nv.sender !== validators.primary(nv.view).index) return false
  if (nv.viewChanges.length < validators.quorum) return false
  let previous = -1
  for (const vc of nv.viewChanges) {
    if (vc.newView !== nv.view || vc.sender <= previous) return false
    previous = vc.sender
    if (!viewChangeShapeValid(vc, chainId, validators, false)) return false
  }
  const expected = computeNewViewProposal(nv.viewChanges)
  const { candidates } = expected
  if (nv.prePrepares.length > candidates.length) return false
  let parent: Uint8Array | null = expected.checkpoint?.blockHash ?? null
  for (const [i, pp] of nv.prePrepares.entries()) {
    const c = candidates[i] as PreparedCert
    if (pp.view !== nv.view || pp.height !== expected.height + i || pp.sender !== nv.sender) return false
    if (!bytesEqual(blockHash(pp.block.header), c.blockHash)) return false
    if (parent !== null && !bytesEqual(pp.block.header.parentHash, parent)) return false
    if (!prePrepareShapeValid(pp, chainId, validators)) return false
    parent = c.blockHash
  }
  const next = candidates[nv.prePrepares.length]
  if (next === undefined) return nv.stopHeader === null
  // O left a candidate out: only allowed with proof that it does not extend O.
  const stop = nv.stopHeader
  if (stop === null || parent === null) return false
  return bytesEqual(blockHash(stop), next.blockHash) && !bytesEqual(stop.parentHash, parent)
}

/** Each VIEW-CHANGE's signature, then its certificates; then the re-proposals' signatures. */
function newViewEmbeddedValid(nv: NewViewMsg, chainId: string, validators: ValidatorSet): boolean {
  for (const vc of nv.viewChanges) {
    if (!validators.verify(vc.sender, signBytesOf(chainId, vc), vc.signature)) return false
    if (!viewChangeCertificatesValid(vc, chainId, validators)) return false
  }
  return nv.prePrepares.every((pp) => validators.verify(pp.sender, signBytesOf(chainId, pp), pp.signature))
}
