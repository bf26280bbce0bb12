import { type Execution, KvApp } from '../../src/app/kv-app.js'
import { SignatureCache } from '../../src/app/signature-cache.js'
import { makeGenesisBlock } from '../../src/chain/genesis-block.js'
import { type BlockValidation, validateBlock } from '../../src/chain/validation.js'
import type { ValidatorSet } from '../../src/chain/validators.js'
import { blockHash, txHash } from '../../src/codec/chain.js'
import { MAX_BLOCK_BYTES } from '../../src/codec/limits.js'
import type { Block, BlockHeader } from '../../src/codec/types.js'
import { bytesEqual, toHex } from '../../src/crypto/hash.js'
import { MempoolError } from '../../src/mempool/errors.js'
import { Mempool } from '../../src/mempool/mempool.js'
import { buildProposal, type ProposalLimits } from '../../src/node/block-builder.js'
import {
  type ExecutionVerdict,
  MAX_CLOCK_DRIFT_MS,
  SpeculativeExecutions,
} from '../../src/node/speculative.js'

export const SIM_CHAIN_ID = 'sim-chain'
/** Block 0's timestamp; replica clocks read GENESIS_TIME_MS + simulated time (+ a skew offset). */
export const GENESIS_TIME_MS = 1_700_000_000_000
export { MAX_CLOCK_DRIFT_MS }
/** Small blocks so a run spans many heights (and view changes) with few txs. */
export const SIM_LIMITS: ProposalLimits = { maxBlockTxs: 40, maxBlockBytes: MAX_BLOCK_BYTES }
/** genesis.json's app_state.kv: clients overwrite and delete some of these keys. */
export const GENESIS_KV: Readonly<Record<string, string>> = {
  greeting: 'hello',
  k0: 'genesis-0',
  k1: 'genesis-1',
  'owner/alice': 'alice',
}

export interface SimGenesis {
  readonly block: Block
  readonly hash: Uint8Array
  /** the genesis state root (block 1 carries it as its app_hash) */
  readonly appHash: Uint8Array
}

let genesisMemo: SimGenesis | undefined

/** The same for every run (a constant: computed once per process). */
export function makeSimGenesis(): SimGenesis {
  if (genesisMemo === undefined) {
    const appHash = KvApp.fromGenesis(SIM_CHAIN_ID, GENESIS_KV).appHash()
    const block = makeGenesisBlock(SIM_CHAIN_ID, GENESIS_TIME_MS, appHash)
    genesisMemo = { block, hash: blockHash(block.header), appHash }
  }
  return genesisMemo
}

/** The validation context of the block after `tip`, exactly as src/node/node.ts builds it. */
export function validateAgainst(
  block: Block,
  tip: { header: BlockHeader; hash: Uint8Array; app: KvApp },
  validators: ValidatorSet,
  now: number,
): BlockValidation<Execution> {
  return validateBlock<Execution>(block, {
    chainId: SIM_CHAIN_ID,
    parent: tip.header,
    parentHash: tip.hash,
    validators,
    now,
    maxClockDriftMs: MAX_CLOCK_DRIFT_MS,
    appHash: tip.app.appHash(),
    execute: (txs) => tip.app.execute(txs),
  })
}

/**
 * One replica's application side, wired like src/node/node.ts: the real KvApp (committed state),
 * the real Mempool (sharing the app's SignatureCache, so a tx is verified once per replica), the
 * real block builder, and the real validateBlock. The chain tip is what the replica's store holds.
 */
export class Replica {
  readonly mempool: Mempool
  /** executions of blocks not final yet, as src/node/node.ts keeps them (pipelining) */
  private readonly speculative: SpeculativeExecutions
  header: BlockHeader
  hash: Uint8Array

  private constructor(
    readonly app: KvApp,
    tip: { header: BlockHeader; hash: Uint8Array },
    private readonly validators: ValidatorSet,
    clock: () => number,
  ) {
    this.header = tip.header
    this.hash = tip.hash
    this.mempool = new Mempool({
      chainId: SIM_CHAIN_ID,
      state: app,
      now: clock,
      signatureCache: app.signatures,
    })
    this.speculative = new SpeculativeExecutions(app, {
      chainId: SIM_CHAIN_ID,
      validators,
      maxClockDriftMs: MAX_CLOCK_DRIFT_MS,
    })
  }

  private get tip() {
    return { height: this.header.height, hash: this.hash, header: this.header, appHash: this.app.appHash() }
  }

  /**
   * `signatures` may be shared by the replicas of one run: a verify is a pure function of the tx
   * bytes (the cache is keyed by the hash of body + signature), so sharing changes no verdict and
   * spares each replica re-verifying what another did (the fresh-app replay at the end verifies all).
   */
  static atGenesis(
    genesis: SimGenesis,
    validators: ValidatorSet,
    clock: () => number,
    signatures = new SignatureCache(),
  ): Replica {
    const app = KvApp.fromGenesis(SIM_CHAIN_ID, GENESIS_KV, signatures)
    return new Replica(app, { header: genesis.block.header, hash: genesis.hash }, validators, clock)
  }

  /**
   * After a crash: the state the store made durable (every entry, as KvApp.load reads it) with
   * an empty mempool (and empty caches unless a run-wide signature cache is passed). Throws when the rebuilt root differs from the recorded one.
   */
  static restarted(
    prev: Replica,
    recordedAppHash: Uint8Array,
    clock: () => number,
    signatures = new SignatureCache(),
  ): Replica {
    const app = KvApp.fromEntries(SIM_CHAIN_ID, prev.app.stateEntries(), prev.app.height, signatures)
    if (!bytesEqual(app.appHash(), recordedAppHash)) {
      throw new Error(
        `restart: rebuilt state root ${toHex(app.appHash())} != recorded ${toHex(recordedAppHash)}`,
      )
    }
    return new Replica(app, { header: prev.header, hash: prev.hash }, prev.validators, clock)
  }

  get height(): number {
    return this.header.height
  }

  /**
   * The real validateBlock on top of `ancestors` (blocks prepared above the committed tip), exactly as
   * the node runs it (src/node/speculative.ts); a valid block's execution is kept for its commit.
   */
  validate(block: Block, now: number, ancestors: readonly Block[] = []): ExecutionVerdict {
    return this.speculative.validate(this.tip, block, ancestors, now)
  }

  /**
   * A final block's execution, as src/node/node.ts commitBlock gets it: the one from this replica's
   * own validation of the block when computed on exactly the committed state, or else a full
   * validation now with no future-drift bound. An invalid final block means more than f were faulty.
   */
  finalExecution(block: Block): ExecutionVerdict {
    return this.speculative.finalExecution(this.tip, block)
  }

  /** The primary's proposal (src/node/block-builder.ts) on top of `ancestors`; null when nothing is executable. */
  build(view: number, proposer: Uint8Array, now: number, ancestors: readonly Block[] = []): Block | null {
    const chain = this.speculative.resolve(this.tip, ancestors)
    if (chain === null) return null
    const built = buildProposal({
      mempool: this.mempool,
      app: this.app,
      limits: SIM_LIMITS,
      chainId: SIM_CHAIN_ID,
      height: chain.height + 1,
      view,
      proposer,
      parentHash: chain.hash,
      parentHeader: chain.header,
      appHash: chain.appHash,
      now,
      ...(chain.execution === undefined ? {} : { base: chain.execution }),
    })
    if (built === null) return null
    if (built.execution !== undefined)
      this.speculative.remember(built.block, built.execution, chain.execution)
    return built.block
  }

  /** Applies a final block's execution (computed against the current state) and re-checks the pool. */
  commit(block: Block, execution: Execution): void {
    // KvApp.apply refuses an execution computed on an older state, so a stale cache entry would throw.
    this.app.apply(execution)
    this.speculative.pruneTo(block.header.height)
    this.header = block.header
    this.hash = blockHash(block.header)
    this.mempool.update(block.txs.map((t) => txHash(t)))
  }

  /**
   * Mempool admission; returns the MempoolError code when refused (a committed tx comes back as
   * bad_nonce, a resubmission as 'known').
   */
  submit(bytes: Uint8Array): 'added' | 'known' | MempoolError['code'] {
    try {
      return this.mempool.add(bytes).status
    } catch (e) {
      if (e instanceof MempoolError) return e.code
      throw e
    }
  }

  /** true when some pending tx is executable now (drives txs_available) */
  hasExecutable(): boolean {
    return this.mempool.hasExecutable()
  }
}
