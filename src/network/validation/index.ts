import type { GossipValidators } from '../gossip-validation.js'
import { defaultValidatorBudgets } from '../options.js'
import { ValidatorBudget } from './budget.js'
import { type ConsensusGossipComponents, createHeightMessageValidator } from './consensus.js'
import { createNewViewValidator } from './newview.js'
import { createPrePrepareValidator } from './preprepare.js'
import { createTxValidator, type TxGossipComponents } from './tx.js'
import { createViewChangeValidator } from './viewchange.js'

export * from './budget.js'
export * from './consensus.js'
export * from './newview.js'
export * from './preprepare.js'
export * from './proven-faulty.js'
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
  return {
    tx: createTxValidator(components),
    preprepare: createPrePrepareValidator(components, budget),
    prepare: createHeightMessageValidator('prepare', components, budget),
    commit: createHeightMessageValidator('commit', components, budget),
    reject: createHeightMessageValidator('reject', components, budget),
    viewchange: createViewChangeValidator(components, budget),
    newview: createNewViewValidator(components, budget),
  }
}
