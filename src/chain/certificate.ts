import { commitVoteSignBytes } from '../codec/chain.js'
import type { CommitCertificate, CommitVote } from '../codec/types.js'
import { bytesEqual, HASH_BYTES, toHex } from '../crypto/hash.js'
import type { Validator, ValidatorSet } from './validators.js'

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

/** Expected height and block hash of a certificate (a synced block's). */
interface ExpectedBlock {
  height: number
  blockHash: Uint8Array
}

/** One signature to check: what ValidatorSet.verify would check for a vote. */
export interface CertificateSignatureCheck {
  readonly publicKey: Uint8Array
  readonly message: Uint8Array
  readonly signature: Uint8Array
}

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
  expected?: ExpectedBlock,
): void {
  checkShape(cert, validators, expected)
  if (knownGood(cert, chainId, validators)) return
  const message = commitVoteSignBytes(chainId, cert.view, cert.height, cert.blockHash)
  for (const vote of cert.votes) {
    if (!validators.verify(vote.validator, message, vote.signature)) throw badSignature(cert, vote, chainId)
  }
  verifiedSignatures.set(cert, { chainId, validators })
}

/**
 * verifyCertificate with the signatures checked by `checkSignatures` (one answer per check, in
 * order), e.g. on worker threads while the caller's thread does other work. The same rules; the
 * caller vouches for the checker doing exactly an Ed25519 verify.
 */
export async function verifyCertificateWith(
  cert: CommitCertificate,
  chainId: string,
  validators: ValidatorSet,
  expected: ExpectedBlock | undefined,
  checkSignatures: (checks: CertificateSignatureCheck[]) => Promise<readonly boolean[]>,
): Promise<void> {
  checkShape(cert, validators, expected)
  if (knownGood(cert, chainId, validators)) return
  const message = commitVoteSignBytes(chainId, cert.view, cert.height, cert.blockHash)
  const ok = await checkSignatures(
    cert.votes.map((v) => ({
      publicKey: (validators.at(v.validator) as Validator).publicKey,
      message,
      signature: v.signature,
    })),
  )
  cert.votes.forEach((vote, i) => {
    if (ok[i] !== true) throw badSignature(cert, vote, chainId)
  })
  verifiedSignatures.set(cert, { chainId, validators })
}

function knownGood(cert: CommitCertificate, chainId: string, validators: ValidatorSet): boolean {
  const memo = verifiedSignatures.get(cert)
  return memo !== undefined && memo.chainId === chainId && memo.validators === validators
}

function badSignature(cert: CommitCertificate, vote: CommitVote, chainId: string): CertificateError {
  return new CertificateError(
    `certificate vote by validator ${vote.validator} has an invalid signature ` +
      `(chain ${chainId}, height ${cert.height}, view ${cert.view})`,
  )
}

/** Everything but the signatures: height, view, hash, the expected block, quorum, vote indices. */
function checkShape(
  cert: CommitCertificate,
  validators: ValidatorSet,
  expected: ExpectedBlock | undefined,
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
  let previous = -1
  for (const vote of cert.votes) {
    if (!Number.isInteger(vote.validator) || vote.validator < 0 || vote.validator >= validators.n) {
      throw new CertificateError(`certificate vote by unknown validator index ${vote.validator}`)
    }
    if (vote.validator <= previous) {
      throw new CertificateError('certificate votes must be sorted by validator index without duplicates')
    }
    previous = vote.validator
  }
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
