import type { ConsensusKind } from '../../codec/consensus.js'
import type { MessageBudget, ValidatorBudgets } from '../options.js'

/** Which of a validator's budgets a consensus kind spends (docs/PROTOCOL.md §2.5). */
export type BudgetGroup = keyof ValidatorBudgets

export const BUDGET_GROUP: Readonly<Record<ConsensusKind, BudgetGroup>> = {
  preprepare: 'votes',
  prepare: 'votes',
  commit: 'votes',
  reject: 'votes',
  viewchange: 'viewChanges',
  newview: 'viewChanges',
}

/**
 * A token bucket: starts full (`burst` tokens), refills continuously at `ratePerSec`, never above
 * `burst`. Time is whatever clock the caller reads, in milliseconds; a clock that steps back
 * refills nothing rather than throwing.
 */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    private readonly budget: MessageBudget,
    now: number,
  ) {
    this.tokens = budget.burst
    this.last = now
  }

  /** Whether one message may be spent at `now`. */
  hasToken(now: number): boolean {
    this.refill(now)
    return this.tokens >= 1
  }

  /** Spends one message (callers check hasToken first; an empty bucket stays empty). */
  take(now: number): void {
    this.refill(now)
    this.tokens = Math.max(0, this.tokens - 1)
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(
        this.budget.burst,
        this.tokens + ((now - this.last) * this.budget.ratePerSec) / 1000,
      )
      this.last = now
    }
  }
}

/**
 * One token bucket per (signing validator, group), shared by the consensus topics' validators.
 * Only messages whose signature verified are charged, to the validator that signed them: a forgery
 * under another validator's index must not spend that validator's budget (it is Rejected instead).
 * An empty bucket makes the validators Ignore that validator's further messages before their
 * signature is checked, so a flood costs a decode per message, not a verification.
 */
export class ValidatorBudget {
  private readonly buckets = new Map<string, TokenBucket>()

  constructor(
    private readonly budgets: ValidatorBudgets,
    private readonly now: () => number,
  ) {}

  /** Whether `sender` may have one more `group` message checked now (no bucket yet: a full one). */
  allows(group: BudgetGroup, sender: number): boolean {
    return this.buckets.get(key(group, sender))?.hasToken(this.now()) ?? true
  }

  /**
   * Spends one of `sender`'s `group` messages. Called only after its signature verified, so the
   * senders are validator indices and there are at most 2n buckets.
   */
  charge(group: BudgetGroup, sender: number): void {
    const k = key(group, sender)
    let bucket = this.buckets.get(k)
    if (bucket === undefined) {
      bucket = new TokenBucket(this.budgets[group], this.now())
      this.buckets.set(k, bucket)
    }
    bucket.take(this.now())
  }
}

const key = (group: BudgetGroup, sender: number): string => `${group}/${sender}`
