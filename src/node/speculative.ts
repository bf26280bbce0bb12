import type { Execution, KvApp } from '../app/kv-app.js'
import { validateBlock } from '../chain/validation.js'
import type { ValidatorSet } from '../chain/validators.js'
import { blockHash } from '../codec/chain.js'
import type { Block, BlockHeader } from '../codec/types.js'
import { bytesEqual, toHex } from '../crypto/hash.js'

/** The committed tip as the store reports it. */
export interface CommittedTip {
  readonly height: number
  readonly hash: Uint8Array
  readonly header: BlockHeader
  /** the state root after the tip block */
  readonly appHash: Uint8Array
}

/** The state after a chain of blocks above the committed tip (pipelining). */
interface ChainState extends CommittedTip {
  /** the execution of the top block, or undefined when that is the committed tip itself */
  readonly execution: Execution | undefined
}

interface Entry {
  readonly height: number
  readonly execution: Execution
  /** the execution it was computed on (undefined: the committed state) */
  readonly base: Execution | undefined
}

/** How far a proposal's timestamp may be ahead of a validator's clock (docs/CONSENSUS.md "Transactions and blocks"). */
export const MAX_CLOCK_DRIFT_MS = 10_000

export type ExecutionVerdict =
  | { readonly ok: true; readonly execution: Execution }
  | { readonly ok: false; readonly reason: string }

/** Cached executions beyond this many are dropped wholesale (recomputed on demand). */
const MAX_ENTRIES = 64

/**
 * Blocks executed but not final yet, each on top of its parent's execution (pipelining: the engine
 * validates and the primary builds block h + 1 before h is final). Every block is executed once per
 * node — when validated, or built by its proposer — and the same execution is applied at its commit
 * when it was computed on exactly what got committed (KvApp.canApply); otherwise it is executed again.
 * Used by the node and, unchanged, by the simulator.
 */
export class SpeculativeExecutions {
  private readonly entries = new Map<string, Entry>()

  constructor(
    private readonly app: KvApp,
    private readonly rules: {
      readonly chainId: string
      readonly validators: ValidatorSet
      readonly maxClockDriftMs: number
    },
  ) {}

  /**
   * Full validation (docs/CONSENSUS.md "Transactions and blocks") of `block` on top of `ancestors` (those above the tip must extend it
   * in order; those at or below it are skipped). Keeps a valid block's execution.
   */
  validate(tip: CommittedTip, block: Block, ancestors: readonly Block[], now: number): ExecutionVerdict {
    const chain = this.resolve(tip, ancestors)
    if (chain === null) return { ok: false, reason: 'the parent chain is not valid here' }
    return this.validateOn(chain, block, now)
  }

  /**
   * The state after `ancestors` above the tip: each block's cached execution when it was computed
   * on the one below, else validated again (no clock bound: these were accepted already).
   * Null when they do not extend the tip or one is invalid here.
   */
  resolve(tip: CommittedTip, ancestors: readonly Block[]): ChainState | null {
    let current: ChainState = { ...tip, execution: undefined }
    for (const block of ancestors) {
      if (block.header.height <= tip.height) continue
      if (block.header.height !== current.height + 1 || !bytesEqual(block.header.parentHash, current.hash))
        return null
      const cached = this.entries.get(toHex(blockHash(block.header)))
      let execution: Execution
      if (cached !== undefined && this.usable(cached, current.execution)) execution = cached.execution
      else {
        const v = this.validateOn(current, block, Number.POSITIVE_INFINITY)
        if (!v.ok) return null
        execution = v.execution
      }
      current = {
        height: block.header.height,
        hash: blockHash(block.header),
        header: block.header,
        appHash: execution.appHash,
        execution,
      }
    }
    return current
  }

  /**
   * The execution to apply for a final block on the committed tip: the cached one if computed on
   * exactly the committed state, else a full validation now (a certified block still gets the full
   * check: a certificate over an invalid block means more than f are faulty).
   */
  finalExecution(tip: CommittedTip, block: Block): ExecutionVerdict {
    const cached = this.entries.get(toHex(blockHash(block.header)))
    if (cached !== undefined && this.app.canApply(cached.execution))
      return { ok: true, execution: cached.execution }
    return this.validateOn({ ...tip, execution: undefined }, block, Number.POSITIVE_INFINITY)
  }

  /** Keeps an execution computed on `base` (undefined: the committed state), e.g. the proposer's own. */
  remember(block: Block, execution: Execution, base: Execution | undefined): void {
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear()
    this.entries.set(toHex(blockHash(block.header)), { height: block.header.height, execution, base })
  }

  /** After a commit: executions at or below the committed height are of no further use. */
  pruneTo(height: number): void {
    for (const [key, e] of this.entries) if (e.height <= height) this.entries.delete(key)
  }

  get size(): number {
    return this.entries.size
  }

  private usable(entry: Entry, base: Execution | undefined): boolean {
    if (entry.base !== base) return false
    return base !== undefined || this.app.canApply(entry.execution)
  }

  private validateOn(chain: ChainState, block: Block, now: number): ExecutionVerdict {
    const base = chain.execution
    const result = validateBlock<Execution>(block, {
      chainId: this.rules.chainId,
      parent: chain.header,
      parentHash: chain.hash,
      validators: this.rules.validators,
      now,
      maxClockDriftMs: this.rules.maxClockDriftMs,
      appHash: chain.appHash,
      execute: (txs) => this.app.execute(txs, base),
    })
    if (result.ok) this.remember(block, result.execution, base)
    return result
  }
}
