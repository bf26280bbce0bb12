/** The chain's data model (docs/CONSENSUS.md "Transactions and blocks"). All hashes are 32-byte SHA-256; keys are raw Ed25519. */

interface SetOp {
  readonly type: 'set'
  readonly key: string
  readonly value: string
}

interface DelOp {
  readonly type: 'del'
  readonly key: string
}

export type TxOp = SetOp | DelOp

export interface TxBody {
  readonly chainId: string
  /** the sender's 32-byte Ed25519 public key (its address) */
  readonly from: Uint8Array
  readonly nonce: number
  readonly op: TxOp
}

export interface SignedTx extends TxBody {
  /** Ed25519 signature by `from` over encodeTxBody(body) */
  readonly signature: Uint8Array
}

export interface BlockHeader {
  readonly chainId: string
  readonly height: number
  readonly view: number
  /** milliseconds since the Unix epoch, chosen by the proposer */
  readonly timestamp: number
  /** the proposing validator's 32-byte public key (all zero for genesis) */
  readonly proposer: Uint8Array
  readonly parentHash: Uint8Array
  /** Merkle root of the block's tx hashes (see chain/merkle) */
  readonly txRoot: Uint8Array
  /** app state root after the parent block */
  readonly appHash: Uint8Array
}

export interface Block {
  readonly header: BlockHeader
  /** encoded signed transactions, in execution order */
  readonly txs: readonly Uint8Array[]
}

export interface CommitVote {
  /** index of the validator in the genesis validator list */
  readonly validator: number
  readonly signature: Uint8Array
}

/** 2f+1 COMMIT signatures over (chain_id, height, view, block hash): proof a block is final. */
export interface CommitCertificate {
  readonly height: number
  readonly view: number
  readonly blockHash: Uint8Array
  /** sorted by validator index, no duplicates */
  readonly votes: readonly CommitVote[]
}
