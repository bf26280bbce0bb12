/**
 * Conversions between the codec's binary-typed objects and their RPC JSON shapes. The node uses
 * the *ToJson direction to build results; a client (the CLI) uses the *FromJson direction to
 * re-hash a header and check a commit certificate itself instead of trusting the node.
 */
import { blockHash } from '../codec/chain.js'
import { type EvidenceRecord, type EvidenceSide, evidenceSignBytes } from '../codec/evidence.js'
import type { Block, BlockHeader, CommitCertificate } from '../codec/types.js'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../crypto/ed25519.js'
import { fromHex, HASH_BYTES, toHex } from '../crypto/hash.js'
import type {
  BlockResult,
  CommitCertificateJson,
  EvidenceJson,
  EvidenceSideJson,
  HeaderJson,
  Hex,
  ValidatorInfo,
} from './types.js'

export class RpcJsonError extends Error {
  override name = 'RpcJsonError'
}

export function headerToJson(h: BlockHeader): HeaderJson {
  return {
    chain_id: h.chainId,
    height: h.height,
    view: h.view,
    timestamp: h.timestamp,
    proposer: toHex(h.proposer),
    parent_hash: toHex(h.parentHash),
    tx_root: toHex(h.txRoot),
    app_hash: toHex(h.appHash),
  }
}

export function certificateToJson(c: CommitCertificate): CommitCertificateJson {
  return {
    height: c.height,
    view: c.view,
    block_hash: toHex(c.blockHash),
    votes: c.votes.map((v) => ({ validator: v.validator, signature: toHex(v.signature) })),
  }
}

/**
 * One record of the `evidence` result. `sign_bytes` is what each signature covers, rebuilt from the
 * digest for the vote kinds, so a client checks it with Ed25519 alone (docs/CONSENSUS.md "Evidence").
 */
export function evidenceToJson(chainId: string, r: EvidenceRecord, validator: ValidatorInfo): EvidenceJson {
  const side = (s: EvidenceSide): EvidenceSideJson => {
    const signBytes = evidenceSignBytes(chainId, r, s)
    return {
      digest: toHex(s.digest),
      signature: toHex(s.signature),
      sign_bytes: signBytes === null ? null : toHex(signBytes),
    }
  }
  return {
    validator,
    kind: r.kind,
    view: r.view,
    height: r.height,
    first: side(r.first),
    second: side(r.second),
    received_at: r.receivedAt,
  }
}

/** The `block` result / `NewBlock` event data; `certificate` is null only for genesis. */
export function blockToResult(block: Block, certificate: CommitCertificate | null): BlockResult {
  return {
    hash: toHex(blockHash(block.header)),
    header: headerToJson(block.header),
    txs: block.txs.map((tx) => toHex(tx)),
    commit: certificate === null ? null : certificateToJson(certificate),
  }
}

function bytesOf(hex: Hex, length: number, field: string): Uint8Array {
  let bytes: Uint8Array
  try {
    bytes = fromHex(hex)
  } catch {
    throw new RpcJsonError(`${field} is not hex`)
  }
  if (bytes.length !== length) throw new RpcJsonError(`${field} must be ${length} bytes, got ${bytes.length}`)
  return bytes
}

function uint(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RpcJsonError(`${field} must be a non-negative integer`)
  }
  return value
}

export function headerFromJson(h: HeaderJson): BlockHeader {
  if (typeof h.chain_id !== 'string') throw new RpcJsonError('chain_id must be a string')
  return {
    chainId: h.chain_id,
    height: uint(h.height, 'height'),
    view: uint(h.view, 'view'),
    timestamp: uint(h.timestamp, 'timestamp'),
    proposer: bytesOf(h.proposer, PUBLIC_KEY_BYTES, 'proposer'),
    parentHash: bytesOf(h.parent_hash, HASH_BYTES, 'parent_hash'),
    txRoot: bytesOf(h.tx_root, HASH_BYTES, 'tx_root'),
    appHash: bytesOf(h.app_hash, HASH_BYTES, 'app_hash'),
  }
}

export function certificateFromJson(c: CommitCertificateJson): CommitCertificate {
  if (!Array.isArray(c.votes)) throw new RpcJsonError('votes must be an array')
  return {
    height: uint(c.height, 'height'),
    view: uint(c.view, 'view'),
    blockHash: bytesOf(c.block_hash, HASH_BYTES, 'block_hash'),
    votes: c.votes.map((v, i) => ({
      validator: uint(v.validator, `votes[${i}].validator`),
      signature: bytesOf(v.signature, SIGNATURE_BYTES, `votes[${i}].signature`),
    })),
  }
}
