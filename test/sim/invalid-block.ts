import { merkleRoot } from '../../src/chain/merkle.js'
import { txHash } from '../../src/codec/chain.js'
import { signTx } from '../../src/codec/tx-sign.js'
import type { Block, TxOp } from '../../src/codec/types.js'
import type { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { sha256 } from '../../src/crypto/hash.js'
import { MAX_CLOCK_DRIFT_MS, SIM_CHAIN_ID } from './app.js'

/** How an "invalid" Byzantine primary breaks its block: each one a rule of src/chain/validation.ts. */
export const INVALID_BLOCK_KINDS = [
  'bad_signature',
  'malformed_tx',
  'replayed_tx',
  'wrong_chain_tx',
  'duplicate_tx',
  'bad_tx_root',
  'wrong_parent',
  'bad_app_hash',
  'bad_proposer',
  'future_timestamp',
  'stale_timestamp',
  'wrong_chain',
  'bad_height',
] as const
export type InvalidBlockKind = (typeof INVALID_BLOCK_KINDS)[number]

export interface InvalidBlockInput {
  /** a valid proposal (at least one tx) from the honest builder */
  readonly block: Block
  /** the Byzantine proposer's key: it signs the txs it makes up */
  readonly signer: Ed25519Signer
  /** the last final block, if any: its txs are replays now */
  readonly lastFinal: Block | undefined
  /** the parent's timestamp */
  readonly parentTimestamp: number
  /** some validator key other than the view's primary */
  readonly otherProposer: Uint8Array
  /** the proposer's clock */
  readonly now: number
}

/**
 * Breaks exactly one validity rule of a valid proposal, keeping the rest valid (tx_root recomputed
 * when the txs change) so that rule is the one validateBlock trips on. Returns the block and the
 * rejection reason the real validateBlock must give.
 */
export function makeInvalidBlock(
  kind: InvalidBlockKind,
  input: InvalidBlockInput,
): { block: Block; expect: RegExp } {
  const { block } = input
  const hd = block.header
  const withTxs = (txs: Uint8Array[]): Block => ({
    txs,
    header: { ...hd, txRoot: merkleRoot(txs.map((t) => txHash(t))) },
  })
  const t0 = block.txs[0]
  if (t0 === undefined) throw new RangeError('makeInvalidBlock needs a block with a tx')
  const op: TxOp = { type: 'set', key: 'k0', value: 'stolen' }
  switch (kind) {
    case 'bad_signature': {
      const raw = t0.slice()
      raw[raw.length - 1] ^= 0x01 // the last byte is in the signature
      return { block: withTxs([raw, ...block.txs.slice(1)]), expect: /^invalid_tx:0:bad_signature$/ }
    }
    case 'malformed_tx':
      return {
        block: withTxs([new Uint8Array([...t0, 0]), ...block.txs.slice(1)]),
        expect: /^invalid_tx:0:malformed$/,
      }
    case 'replayed_tx': {
      // a tx already final (its nonce is used up), else a made-up one with a nonce gap
      const tx = input.lastFinal?.txs[0] ?? signTx(input.signer, { chainId: SIM_CHAIN_ID, nonce: 7, op })
      return { block: withTxs([tx, ...block.txs]), expect: /^invalid_tx:0:bad_nonce$/ }
    }
    case 'wrong_chain_tx': {
      const tx = signTx(input.signer, { chainId: 'other-chain', nonce: 0, op })
      return { block: withTxs([...block.txs, tx]), expect: /^invalid_tx:\d+:wrong_chain$/ }
    }
    case 'duplicate_tx':
      return { block: withTxs([t0, ...block.txs]), expect: /^duplicate_tx$/ }
    case 'bad_tx_root':
      return { block: { ...block, header: { ...hd, txRoot: sha256(hd.txRoot) } }, expect: /^bad_tx_root$/ }
    case 'wrong_parent':
      return {
        block: { ...block, header: { ...hd, parentHash: sha256(hd.parentHash) } },
        expect: /^wrong_parent$/,
      }
    case 'bad_app_hash':
      return { block: { ...block, header: { ...hd, appHash: sha256(hd.appHash) } }, expect: /^bad_app_hash$/ }
    case 'bad_proposer':
      return {
        block: { ...block, header: { ...hd, proposer: input.otherProposer } },
        expect: /^bad_proposer$/,
      }
    case 'future_timestamp': {
      const timestamp = input.now + MAX_CLOCK_DRIFT_MS + 30_000
      return { block: { ...block, header: { ...hd, timestamp } }, expect: /^bad_timestamp$/ }
    }
    case 'stale_timestamp':
      return {
        block: { ...block, header: { ...hd, timestamp: input.parentTimestamp } },
        expect: /^bad_timestamp$/,
      }
    case 'wrong_chain':
      return { block: { ...block, header: { ...hd, chainId: 'other-chain' } }, expect: /^wrong_chain$/ }
    case 'bad_height':
      return { block: { ...block, header: { ...hd, height: hd.height + 1 } }, expect: /^bad_height$/ }
  }
}
