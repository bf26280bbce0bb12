import type { KvApp } from '../app/kv-app.js'
import type { ChainStore } from '../chain/store.js'
import type { Block } from '../codec/types.js'
import type { Ed25519Signer } from '../crypto/ed25519.js'
import type { Mempool } from '../mempool/mempool.js'
import { buildProposal } from './block-builder.js'
import type { NodeConfig } from './config.js'
import type { ProposalRequest } from './driver.js'
import type { SpeculativeExecutions } from './speculative.js'

export interface ProposerComponents {
  readonly chainId: string
  readonly store: ChainStore
  readonly app: KvApp
  readonly mempool: Mempool
  readonly speculative: SpeculativeExecutions
  /** null on an observer: it never proposes */
  readonly signer: Ed25519Signer | null
  readonly limits: NodeConfig['consensus']
  /** the answer to the engine: a `proposal` event */
  answer(view: number, height: number, block: Block | null): void
}

/**
 * The driver's proposal port on the primary: waits proposeDelayMs so one block batches the txs
 * arriving together, then builds a block on the chain below the requested height (pipelining: the
 * primary's own blocks not final yet, as executed here).
 */
export class BlockProposer {
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly c: ProposerComponents) {}

  request(req: ProposalRequest): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.c.answer(req.view, req.height, this.build(req))
    }, this.c.limits.proposeDelayMs)
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private build(req: ProposalRequest): Block | null {
    const { signer, speculative, limits } = this.c
    if (signer === null) return null
    const chain = speculative.resolve(this.c.store.tip(), req.ancestors)
    if (chain === null || chain.height + 1 !== req.height) return null
    const built = buildProposal({
      mempool: this.c.mempool,
      app: this.c.app,
      limits,
      chainId: this.c.chainId,
      height: req.height,
      view: req.view,
      proposer: signer.publicKey,
      parentHash: chain.hash,
      parentHeader: chain.header,
      appHash: chain.appHash,
      now: Date.now(),
      ...(chain.execution === undefined
        ? {}
        : // Pipelined (the parent is not final yet): only for a well-filled block. A small one
          // gains nothing from overlapping and costs a whole consensus round (docs/PERFORMANCE.md);
          // its txs go into the next block at the lowest height instead.
          { base: chain.execution, minTxs: Math.ceil(limits.maxBlockTxs / 2) }),
    })
    if (built === null) return null
    if (built.execution !== undefined) speculative.remember(built.block, built.execution, chain.execution)
    return built.block
  }
}
