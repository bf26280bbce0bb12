import { GossipErrorCode, type GossipValidator } from '../gossip-validation.js'
import { createConsensusValidator, type StalenessRule, type ViewGossipComponents } from './consensus.js'

/**
 * NEW-VIEW for a view below this node's: that view is over here. A NEW-VIEW carries a quorum of
 * VIEW-CHANGEs, each verified with its certificates, so old ones are not relayed. The current view
 * itself still passes: replicas still moving into it need it.
 */
export function staleNewView(
  components: Pick<ViewGossipComponents, 'currentView'>,
): StalenessRule<'newview'> {
  return (msg) => (msg.view < components.currentView() ? GossipErrorCode.stale_view : null)
}

export function createNewViewValidator(components: ViewGossipComponents): GossipValidator {
  return createConsensusValidator('newview', components, staleNewView(components))
}
