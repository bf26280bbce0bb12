import { commitVoteSignBytes } from '../codec/chain.js'
import type { CommitCertificate, CommitVote } from '../codec/types.js'
import { bytesEqual, HASH_BYTES, toHex } from '../crypto/hash.js'
import type { ValidatorSet } from './validators.js'

export class CertificateError extends Error {
  override name = 'CertificateError'
}

/**
 * Certificate objects whose signatures verified, with the chain and validator set they verified
 * against. A synced block's certificate is checked by block sync (to drop a lying peer) and again by
 * the engine before it finalizes — the same object, 2f+1 Ed25519 verifies each time. Keyed by object
 * identity: certificates are decoded or built once and never written afterwards, so the second check
 * only redoes the cheap structural ones. Weak: a dropped certificate leaves no entry behind.
 */
const verifiedSignatures = new WeakMap<CommitCertificate, { chainId: string; validators: ValidatorSet }>()

/**
 * Checks that `cert` proves its block final (PBFT §4.2: 2f+1 matching COMMITs): at least a quorum of
 * votes, sorted by validator index without duplicates, every index a genesis validator, and every
 * signature valid over (chain_id, view, height, block hash). Any bad vote fails the whole
 * certificate: an honest builder only includes votes it verified, so a bad one means tampering.
 * When `expected` is given the certificate must be for exactly that height and block hash.
 * Throws CertificateError; returns nothing on success.
 */
export function verifyCertificate(
  cert: CommitCertificate,
  chainId: string,
  validators: ValidatorSet,
  expected?: { height: number; blockHash: Uint8Array },
): void {
  if (!Number.isSafeInteger(cert.height) || cert.height < 0) {
    throw new CertificateError(`certificate height ${cert.height} is not a valid height`)
  }
  if (!Number.isSafeInteger(cert.view) || cert.view < 0) {
    throw new CertificateError(`certificate view ${cert.view} is not a valid view`)
  }
  if (cert.blockHash.length !== HASH_BYTES) {
    throw new CertificateError(`certificate block hash has ${cert.blockHash.length} bytes, expected 32`)
  }
  if (expected !== undefined) {
    if (cert.height !== expected.height) {
      throw new CertificateError(`certificate is for height ${cert.height}, expected ${expected.height}`)
    }
    if (!bytesEqual(cert.blockHash, expected.blockHash)) {
      throw new CertificateError(
        `certificate is for block ${toHex(cert.blockHash)}, expected ${toHex(expected.blockHash)}`,
      )
    }
  }
  if (cert.votes.length < validators.quorum) {
    throw new CertificateError(
      `certificate has ${cert.votes.length} votes, a quorum is ${validators.quorum} of ${validators.n}`,
    )
  }
  const memo = verifiedSignatures.get(cert)
  const signaturesKnownGood = memo !== undefined && memo.chainId === chainId && memo.validators === validators
  const message = signaturesKnownGood
    ? undefined
    : commitVoteSignBytes(chainId, cert.view, cert.height, cert.blockHash)
  let previous = -1
  for (const vote of cert.votes) {
    if (!Number.isInteger(vote.validator) || vote.validator < 0 || vote.validator >= validators.n) {
      throw new CertificateError(`certificate vote by unknown validator index ${vote.validator}`)
    }
    if (vote.validator <= previous) {
      throw new CertificateError('certificate votes must be sorted by validator index without duplicates')
    }
    previous = vote.validator
    if (message !== undefined && !validators.verify(vote.validator, message, vote.signature)) {
      throw new CertificateError(
        `certificate vote by validator ${vote.validator} has an invalid signature ` +
          `(chain ${chainId}, height ${cert.height}, view ${cert.view})`,
      )
    }
  }
  if (!signaturesKnownGood) verifiedSignatures.set(cert, { chainId, validators })
}

/** A certificate from collected COMMIT votes: sorted by validator index, the first vote per index kept. */
export function buildCertificate(
  height: number,
  view: number,
  blockHash: Uint8Array,
  votes: readonly CommitVote[],
): CommitCertificate {
  const byValidator = new Map<number, CommitVote>()
  for (const v of votes) if (!byValidator.has(v.validator)) byValidator.set(v.validator, v)
  const sorted = [...byValidator.values()].sort((a, b) => a.validator - b.validator)
  return { height, view, blockHash, votes: sorted }
}
