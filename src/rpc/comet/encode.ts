/**
 * CometBFT's JSON encodings (docs/RPC.md "CometBFT dialect"), as CometBFT 0.38 writes them: int64s
 * as decimal strings, byte strings as base64, hashes and addresses as uppercase hex without 0x,
 * times as RFC 3339 with the fraction's trailing zeros dropped. Pure functions of the native JSON
 * shapes (../types.ts): what has no PBFT equivalent is filled as the docs say, never invented.
 */
import { merkleLeafHash, merkleRoot } from '../../chain/merkle.js'
import { encodeBlock, txHash } from '../../codec/chain.js'
import { fromHex, sha256 } from '../../crypto/hash.js'
import { headerFromJson } from '../convert.js'
import type { BlockResult, CommitCertificateJson, HeaderJson, Hex, ValidatorInfo } from '../types.js'

/** CometBFT's BlockIDFlagCommit: the validator signed this block. */
export const BLOCK_ID_FLAG_COMMIT = 2
/** CometBFT's BlockIDFlagAbsent: no signature of this validator in the commit. */
export const BLOCK_ID_FLAG_ABSENT = 1

/** Go's zero time.Time, which CometBFT writes for an absent vote's timestamp. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z'

/** Amino JSON name of an Ed25519 public key. */
const ED25519_TYPE = 'tendermint/PubKeyEd25519'

/** Bytes as CometBFT's HexBytes: uppercase, no prefix. */
export function upperHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex').toUpperCase()
}

/** Native 0x-hex (any case) as CometBFT's HexBytes. */
export function hexToUpper(hex: Hex): string {
  return (hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex).toUpperCase()
}

export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

/** Native 0x-hex as base64 (a tx, an app hash where CometBFT has []byte). */
export function hexToBase64(hex: Hex): string {
  return base64(fromHex(hex))
}

/** An int64 as CometBFT writes it: a decimal string. */
export function int(n: number): string {
  return String(n)
}

/**
 * Milliseconds since the epoch as Go's time.RFC3339Nano in UTC: `2024-05-01T12:00:00.12Z` — the
 * fraction without trailing zeros, none at all on a whole second.
 */
export function rfc3339(ms: number): string {
  const iso = new Date(ms).toISOString()
  const [whole, fraction = ''] = iso.slice(0, -1).split('.')
  const trimmed = fraction.replace(/0+$/, '')
  return trimmed === '' ? `${whole}Z` : `${whole}.${trimmed}Z`
}

/** CometBFT's address of an Ed25519 key: the first 20 bytes of its SHA-256, in uppercase hex. */
export function addressOf(publicKey: Uint8Array): string {
  return upperHex(sha256(publicKey).subarray(0, 20))
}

/** A validator key as CometBFT's amino JSON `{type, value}`. */
export function pubKeyJson(publicKey: Uint8Array): { type: string; value: string } {
  return { type: ED25519_TYPE, value: base64(publicKey) }
}

export interface CometBlockId {
  hash: string
  parts: { total: number; hash: string }
}

/** The empty BlockID CometBFT writes where there is none (e.g. the last commit of block 1). */
export const EMPTY_BLOCK_ID: CometBlockId = { hash: '', parts: { total: 0, hash: '' } }

/**
 * A block's BlockID and encoded size. The block travels as one part, its whole encoding (docs/PROTOCOL.md), so the
 * part set hash is the Merkle root of one leaf: SHA-256(0x00 ‖ encoded block), as CometBFT
 * computes it for a one-part set.
 */
export function blockIdOf(block: BlockResult): { blockId: CometBlockId; size: number } {
  const encoded = encodeBlock({
    header: headerFromJson(block.header),
    txs: block.txs.map((tx) => fromHex(tx)),
  })
  return {
    blockId: { hash: hexToUpper(block.hash), parts: { total: 1, hash: upperHex(merkleLeafHash(encoded)) } },
    size: encoded.length,
  }
}

/**
 * A header in CometBFT's shape. The PBFT header has chain_id, height, time, parent, tx root, app
 * hash and proposer; CometBFT's other hashes (last commit, validators, consensus params, results,
 * evidence) have no counterpart and are the empty string, as CometBFT writes an absent hash.
 */
export function headerJson(header: HeaderJson, lastBlockId: CometBlockId) {
  return {
    version: { block: '0', app: '0' },
    chain_id: header.chain_id,
    height: int(header.height),
    time: rfc3339(header.timestamp),
    last_block_id: lastBlockId,
    last_commit_hash: '',
    data_hash: hexToUpper(header.tx_root),
    validators_hash: '',
    next_validators_hash: '',
    consensus_hash: '',
    app_hash: hexToUpper(header.app_hash),
    last_results_hash: '',
    evidence_hash: '',
    proposer_address: addressOf(fromHex(header.proposer)),
  }
}

export interface CometCommit {
  height: string
  round: number
  block_id: CometBlockId
  signatures: {
    block_id_flag: number
    validator_address: string
    timestamp: string
    signature: string | null
  }[]
}

/** What CometBFT writes for a commit that does not exist (the last commit of block 1). */
export function emptyCommit(height: number): CometCommit {
  return { height: int(height), round: 0, block_id: EMPTY_BLOCK_ID, signatures: [] }
}

/**
 * A commit certificate as CometBFT's Commit: one entry per validator in set order, flag 2 with its
 * signature for those in the certificate, flag 1 (absent) for the others. `round` is the PBFT view.
 * PBFT votes carry no time of their own: each signature's timestamp is the block's time. The
 * signatures are over PBFT's commit sign bytes, not CometBFT's canonical vote.
 */
export function commitJson(
  certificate: CommitCertificateJson,
  blockId: CometBlockId,
  validators: readonly ValidatorInfo[],
  blockTimeMs: number,
): CometCommit {
  const signed = new Map(certificate.votes.map((v) => [v.validator, v.signature]))
  const time = rfc3339(blockTimeMs)
  return {
    height: int(certificate.height),
    round: certificate.view,
    block_id: blockId,
    signatures: validators.map((v) => {
      const signature = signed.get(v.index)
      return signature === undefined
        ? {
            block_id_flag: BLOCK_ID_FLAG_ABSENT,
            validator_address: '',
            timestamp: GO_ZERO_TIME,
            signature: null,
          }
        : {
            block_id_flag: BLOCK_ID_FLAG_COMMIT,
            validator_address: addressOf(fromHex(v.public_key)),
            timestamp: time,
            signature: hexToBase64(signature),
          }
    }),
  }
}

/** A validator as CometBFT's `validators` and `status.validator_info` list it: every one has power 1. */
export function validatorJson(publicKey: Uint8Array, power = 1) {
  return {
    address: addressOf(publicKey),
    pub_key: pubKeyJson(publicKey),
    voting_power: int(power),
    proposer_priority: '0',
  }
}

/** A successful tx's ExecTxResult / CheckTx result: the KV app has no data, gas or events. */
export function okTxResult() {
  return { code: 0, data: null, log: '', info: '', gas_wanted: '0', gas_used: '0', events: [], codespace: '' }
}

/** The codespace of every non-zero CheckTx code of this node (docs/RPC.md). */
export const CODESPACE = 'pbft'

/** A refused tx as a CheckTx result: a code of docs/RPC.md's table and the reason in `log`. */
export function refusedTxResult(code: number, log: string) {
  return { ...okTxResult(), code, log, codespace: CODESPACE }
}

/** The largest power of two below n (n ≥ 2): where RFC 6962 and CometBFT split a Merkle tree. */
function splitPoint(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** The sibling hashes from `index`'s leaf up to the root, lowest first (CometBFT's `aunts`). */
export function merkleAunts(items: readonly Uint8Array[], index: number): Uint8Array[] {
  if (items.length <= 1) return []
  const k = splitPoint(items.length)
  return index < k
    ? [...merkleAunts(items.slice(0, k), index), merkleRoot(items.slice(k))]
    : [...merkleAunts(items.slice(k), index - k), merkleRoot(items.slice(0, k))]
}

/**
 * CometBFT's TxProof of the tx at `index` of a block: `tx_root` is the Merkle root of the txs'
 * SHA-256 hashes (docs/PROTOCOL.md), which is how CometBFT computes `data_hash`, so the proof is
 * one CometBFT's own verification accepts.
 */
export function txProofJson(txs: readonly Uint8Array[], index: number) {
  const hashes = txs.map((tx) => txHash(tx))
  const tx = txs[index]
  const hash = hashes[index]
  if (tx === undefined || hash === undefined)
    throw new RangeError(`no tx ${index} in a block of ${txs.length}`)
  return {
    root_hash: upperHex(merkleRoot(hashes)),
    data: base64(tx),
    proof: {
      total: int(txs.length),
      index: int(index),
      leaf_hash: base64(merkleLeafHash(hash)),
      aunts: merkleAunts(hashes, index).map(base64),
    },
  }
}
