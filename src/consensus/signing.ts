import { blockHash, commitVoteSignBytes } from '../codec/chain.js'
import {
  type CommitMsg,
  type PrePrepareMsg,
  type PrepareMsg,
  prePrepareSignBytes,
  prepareSignBytes,
} from '../codec/consensus.js'
import type { Block } from '../codec/types.js'
import type { EngineConfig } from './types.js'

type SigningConfig = Pick<EngineConfig, 'chainId' | 'selfIndex' | 'signer'>

function identity(config: SigningConfig) {
  const { signer, selfIndex } = config
  if (signer === null || selfIndex === null) throw new Error('an observer never signs')
  return { signer, selfIndex }
}

/** §4.2: the primary's PRE-PREPARE(v, n, d) with the block itself. */
export function signPrePrepare(
  config: SigningConfig,
  view: number,
  height: number,
  block: Block,
): PrePrepareMsg {
  const { signer, selfIndex } = identity(config)
  const bytes = prePrepareSignBytes(config.chainId, view, height, selfIndex, blockHash(block.header))
  return { kind: 'preprepare', view, height, sender: selfIndex, block, signature: signer.sign(bytes) }
}

/** §4.2: a backup's PREPARE(v, n, d, i) for the block it accepted. */
export function signPrepare(config: SigningConfig, view: number, height: number, block: Block): PrepareMsg {
  const { signer, selfIndex } = identity(config)
  const hash = blockHash(block.header)
  const signature = signer.sign(prepareSignBytes(config.chainId, view, height, selfIndex, hash))
  return { kind: 'prepare', view, height, blockHash: hash, sender: selfIndex, signature }
}

/** §4.2: COMMIT(v, n, d, i); 2f+1 of these signatures are the block's commit certificate. */
export function signCommit(config: SigningConfig, view: number, height: number, hash: Uint8Array): CommitMsg {
  const { signer, selfIndex } = identity(config)
  const signature = signer.sign(commitVoteSignBytes(config.chainId, view, height, hash))
  return { kind: 'commit', view, height, blockHash: hash, sender: selfIndex, signature }
}
