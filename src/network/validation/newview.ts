import type { GossipValidator } from '../gossip-validation.js'
import type { ValidatorBudget } from './budget.js'
import { type ConsensusGossipComponents, createConsensusValidator, viewRule } from './consensus.js'

/** NEW-VIEW: the shared checks, judged by the view it installs. */
export function createNewViewValidator(
  components: ConsensusGossipComponents,
  budget: ValidatorBudget,
): GossipValidator {
  return createConsensusValidator('newview', components, viewRule(components), budget)
}
