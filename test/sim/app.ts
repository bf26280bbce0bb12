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

export const SIM_CHAIN_ID = 'sim-chain'
/** Block 0's timestamp; replica clocks read GENESIS_TIME_MS + simulated time (+ a skew offset). */
export const GENESIS_TIME_MS = 1_700_000_000_000
/** The node's future-drift bound for proposals (src/node/node.ts MAX_CLOCK_DRIFT_MS, not exported). */
export const MAX_CLOCK_DRIFT_MS = 10_000
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
  /** executions of blocks validated against the current state, by block hash (cleared at each commit) */
  private readonly executions = new Map<string, Execution>()
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

  /** The real validateBlock against the committed state; a valid block's execution is kept for its commit. */
  validate(block: Block, now: number): BlockValidation<Execution> {
    const v = validateAgainst(
      block,
      { header: this.header, hash: this.hash, app: this.app },
      this.validators,
      now,
    )
    if (v.ok) {
      if (this.executions.size > 16) this.executions.clear()
      this.executions.set(toHex(v.hash), v.execution)
    }
    return v
  }

  /**
   * A final block's execution, as src/node/node.ts commitBlock gets it: the one from this replica's
   * own validation of the block, or else (committed from others' votes, or synced) a full validation
   * now with no future-drift bound. An invalid final block means more than f replicas were faulty.
   */
  finalExecution(block: Block): { ok: true; execution: Execution } | { ok: false; reason: string } {
    const cached = this.executions.get(toHex(blockHash(block.header)))
    if (cached !== undefined) return { ok: true, execution: cached }
    return this.validate(block, Number.POSITIVE_INFINITY)
  }

  /** The primary's proposal (src/node/block-builder.ts); null when nothing is executable. */
  build(view: number, proposer: Uint8Array, now: number): Block | null {
    const built = buildProposal({
      mempool: this.mempool,
      app: this.app,
      limits: SIM_LIMITS,
      chainId: SIM_CHAIN_ID,
      height: this.height + 1,
      view,
      proposer,
      parentHash: this.hash,
      parentHeader: this.header,
      appHash: this.app.appHash(),
      now,
    })
    return built?.block ?? null
  }

  /** Applies a final block's execution (computed against the current state) and re-checks the pool. */
  commit(block: Block, execution: Execution): void {
    // KvApp.apply refuses an execution computed on an older state, so a stale cache entry would throw.
    this.app.apply(execution)
    this.executions.clear()
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
    return this.mempool.reap(1, MAX_BLOCK_BYTES).length > 0
  }
}
