import { GossipErrorCode, type GossipValidator } from '../gossip-validation.js'
import { createConsensusValidator, type StalenessRule, type ViewGossipComponents } from './consensus.js'

/**
 * VIEW-CHANGE for a view below this node's: the view change it asks for is over here. Verifying one
 * costs its checkpoint certificate and every prepared certificate (a quorum of signatures each), so
 * old ones are not relayed: replaying them would make every node pay that again.
 */
export function staleViewChange(
  components: Pick<ViewGossipComponents, 'currentView'>,
): StalenessRule<'viewchange'> {
  return (msg) => (msg.newView < components.currentView() ? GossipErrorCode.stale_view : null)
}

export function createViewChangeValidator(components: ViewGossipComponents): GossipValidator {
  return createConsensusValidator('viewchange', components, staleViewChange(components))
}
