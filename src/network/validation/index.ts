import type { GossipValidators } from '../gossip-validation.js'
import { defaultValidatorBudgets } from '../options.js'
import { ValidatorBudget } from './budget.js'
import { type ConsensusGossipComponents, createHeightMessageValidator } from './consensus.js'
import { createNewViewValidator } from './newview.js'
import { createPrePrepareValidator } from './preprepare.js'
import { onceWithinTtl, RecentMessages } from './recent.js'
import { createTxValidator, type TxGossipComponents } from './tx.js'
import { createViewChangeValidator } from './viewchange.js'

export * from './budget.js'
export * from './consensus.js'
export * from './newview.js'
export * from './preprepare.js'
export * from './proven-faulty.js'
export * from './recent.js'
export * from './tx.js'
export * from './viewchange.js'

/**
 * Everything the topic validators read (js-libp2p style components): narrow interfaces, so the
 * network layer needs nothing from the node and tests pass in-memory fakes.
 */
export type GossipValidationComponents = TxGossipComponents & ConsensusGossipComponents

/**
 * The validator of every topic (docs/PROTOCOL.md §2.3, §3.3, §3.7). The GossipValidators type makes
 * leaving a topic out a compile error. The consensus topics share one set of per-validator budgets
 * (§2.5): a validator's votes spend one bucket whatever topic they come on.
 */
export function createGossipValidators(components: GossipValidationComponents): GossipValidators {
  const budget = new ValidatorBudget(
    components.budgets ?? defaultValidatorBudgets,
    components.now ?? (() => performance.now()),
  )
  // Votes and proposals accepted lately, shared by their topics (the payloads differ by kind anyway).
  // VIEW-CHANGE and NEW-VIEW are left out: a replica re-sends them on purpose, and a relay that
  // already holds one must pass the re-send on to a peer it cannot reach otherwise (recent.ts).
  const recent = new RecentMessages(components.now ?? (() => performance.now()))
  return {
    tx: createTxValidator(components),
    preprepare: onceWithinTtl(recent, createPrePrepareValidator(components, budget)),
    prepare: onceWithinTtl(recent, createHeightMessageValidator('prepare', components, budget)),
    commit: onceWithinTtl(recent, createHeightMessageValidator('commit', components, budget)),
    reject: onceWithinTtl(recent, createHeightMessageValidator('reject', components, budget)),
    viewchange: createViewChangeValidator(components, budget),
    newview: createNewViewValidator(components, budget),
  }
}
