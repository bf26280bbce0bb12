import { blockHash, encodeHeader, type HashedTx, hashTx } from '../codec/chain.js'
import { MAX_BLOCK_BYTES, MAX_TX_BYTES, MAX_TXS_PER_BLOCK } from '../codec/limits.js'
import type { Block, BlockHeader } from '../codec/types.js'
import { bytesEqual } from '../crypto/hash.js'
import { merkleRoot } from './merkle.js'
import type { ValidatorSet } from './validators.js'

/** What the app's execute() returns for a block with an invalid tx. */
interface ExecutionRejection {
  readonly ok: false
  readonly index: number
  readonly reason: string
}

export interface ValidationContext<X extends { readonly ok: true }> {
  readonly chainId: string
  /** the header of the block this one must extend, and its hash */
  readonly parent: BlockHeader
  readonly parentHash: Uint8Array
  readonly validators: ValidatorSet
  /** when given, the view the block is proposed in: header.view must equal it */
  readonly view?: number
  /** the key that must have proposed it; defaults to validators.primary(header.view) (PBFT §4.1) */
  readonly expectedProposer?: Uint8Array
  /** the caller's clock in ms (chain/ reads no clock); Infinity skips the future-drift check */
  readonly now: number
  readonly maxClockDriftMs: number
  /** the app state root after the parent block */
  readonly appHash: Uint8Array
  /** the app's speculative execution of the block's txs, each with the hash computed here */
  execute(txs: readonly HashedTx[]): X | ExecutionRejection
}

export type BlockValidation<X> =
  | { readonly ok: true; readonly execution: X; readonly hash: Uint8Array; readonly txHashes: Uint8Array[] }
  | { readonly ok: false; readonly reason: string }

/** Stable reason strings; a replica puts them in its signed rejection (docs/CONSENSUS.md "Consensus rules"). */
type BlockRejectReason =
  | 'wrong_chain'
  | 'bad_height'
  | 'wrong_parent'
  | 'bad_view'
  | 'bad_proposer'
  | 'bad_timestamp'
  | 'bad_app_hash'
  | 'too_large'
  | 'duplicate_tx'
  | 'bad_tx_root'
  | `invalid_tx:${number}:${string}`

function reject<X>(reason: BlockRejectReason): BlockValidation<X> {
  return { ok: false, reason }
}

/**
 * Full validation of a proposed or synced block against its parent, the validator set and the app
 * state (what every replica does before voting, docs/CONSENSUS.md "Consensus rules"). Cheap header checks come first, then sizes
 * and tx_root, and the txs' execution (signatures, nonces) last. Pure: no I/O, no clock.
 */
export function validateBlock<X extends { readonly ok: true }>(
  block: Block,
  ctx: ValidationContext<X>,
): BlockValidation<X> {
  const h = block.header
  if (h.chainId !== ctx.chainId) return reject('wrong_chain')
  if (h.height !== ctx.parent.height + 1) return reject('bad_height')
  if (!bytesEqual(h.parentHash, ctx.parentHash)) return reject('wrong_parent')
  if (ctx.view !== undefined && h.view !== ctx.view) return reject('bad_view')
  const proposer = ctx.expectedProposer ?? ctx.validators.primary(h.view).publicKey
  if (!bytesEqual(h.proposer, proposer)) return reject('bad_proposer')
  if (h.timestamp <= ctx.parent.timestamp || h.timestamp > ctx.now + ctx.maxClockDriftMs) {
    return reject('bad_timestamp')
  }
  if (!bytesEqual(h.appHash, ctx.appHash)) return reject('bad_app_hash')

  if (block.txs.length > MAX_TXS_PER_BLOCK) return reject('too_large')
  // encodeBlock's exact size: tag + header + count + (length prefix + bytes) per tx
  let size = 1 + encodeHeader(h).length + 4
  for (const tx of block.txs) {
    if (tx.length > MAX_TX_BYTES) return reject('too_large')
    size += 4 + tx.length
  }
  if (size > MAX_BLOCK_BYTES) return reject('too_large')

  // Each tx hashed once: for the tx root here and, carried along, for its execution.
  const hashed = block.txs.map(hashTx)
  const txHashes = hashed.map((t) => t.hash)
  const seen = new Set<string>()
  for (const th of txHashes) {
    const id = Buffer.from(th.buffer, th.byteOffset, th.byteLength).toString('latin1')
    if (seen.has(id)) return reject('duplicate_tx')
    seen.add(id)
  }
  if (!bytesEqual(h.txRoot, merkleRoot(txHashes))) return reject('bad_tx_root')

  const execution = ctx.execute(hashed)
  if (!execution.ok) return reject(`invalid_tx:${execution.index}:${execution.reason}`)
  return { ok: true, execution, hash: blockHash(h), txHashes }
}
