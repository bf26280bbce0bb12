import type { GossipValidator } from '../gossip-validation.js'
import type { ValidatorBudget } from './budget.js'
import { type ConsensusGossipComponents, createConsensusValidator, viewRule } from './consensus.js'

/** VIEW-CHANGE: the shared checks, judged by the view it asks for (its new_view). */
export function createViewChangeValidator(
  components: ConsensusGossipComponents,
  budget: ValidatorBudget,
): GossipValidator {
  return createConsensusValidator('viewchange', components, viewRule(components), budget)
}
