import type { SignatureCache } from '../app/signature-cache.js'
import type { ChainStore } from '../chain/store.js'
import type { ValidatorSet } from '../chain/validators.js'
import type { Network } from '../network/network.js'
import { BlockSync } from './block-sync.js'
import type { BlockCommitter } from './committer.js'
import type { ConsensusDriver } from './driver.js'
import type { Logger } from './logger.js'
import type { NodeMetrics } from './metrics.js'
import { preverifyTxs, type SignaturePool } from './signature-pool.js'

interface NodeSyncParts {
  readonly chainId: string
  readonly validators: ValidatorSet
  readonly store: ChainStore
  readonly network: Network
  readonly driver: ConsensusDriver
  readonly signaturePool: SignaturePool
  readonly signatures: SignatureCache
  readonly committer: BlockCommitter
  readonly metrics: NodeMetrics
  readonly log: Logger
}

/**
 * The node's catch-up (docs/PERFORMANCE.md "Catch-up benchmark"): fetched blocks go to the driver
 * as `block_synced`; certificate and tx signatures are checked ahead on the worker pool; a round's
 * commits skip the fsync until its end (the committer's durability).
 */
export function openBlockSync(p: NodeSyncParts): BlockSync {
  const sync = new BlockSync({
    chainId: p.chainId,
    validators: p.validators,
    store: p.store,
    network: p.network,
    applySynced: (block, certificate) => p.driver.submitAndWait({ type: 'block_synced', block, certificate }),
    checkSignatures: (checks) => p.signaturePool.verify(checks),
    prepareSynced: (block) => preverifyTxs(p.signaturePool, p.signatures, block.txs),
    durability: {
      defer: () => p.committer.deferDurability(),
      restore: () => p.committer.restoreDurability(),
    },
    metrics: p.metrics,
    log: p.log,
  })
  // the poll backs off while nobody is ahead; a peer that connects may be (docs/PERFORMANCE.md "Idle cost")
  p.network.onPeerConnect(() => sync.peerConnected())
  return sync
}
