import type { GossipValidators } from '../gossip-validation.js'
import { createHeightMessageValidator, type ViewGossipComponents } from './consensus.js'
import { createNewViewValidator } from './newview.js'
import { createTxValidator, type TxGossipComponents } from './tx.js'
import { createViewChangeValidator } from './viewchange.js'

export * from './consensus.js'
export * from './newview.js'
export * from './tx.js'
export * from './viewchange.js'

/**
 * Everything the topic validators read (js-libp2p style components): narrow interfaces, so the
 * network layer needs nothing from the node and tests pass in-memory fakes.
 */
export type GossipValidationComponents = TxGossipComponents & ViewGossipComponents

/**
 * The validator of every topic (docs/PROTOCOL.md §2.3, §3.3, §3.7). The GossipValidators type makes
 * leaving a topic out a compile error.
 */
export function createGossipValidators(components: GossipValidationComponents): GossipValidators {
  return {
    tx: createTxValidator(components),
    preprepare: createHeightMessageValidator('preprepare', components),
    prepare: createHeightMessageValidator('prepare', components),
    commit: createHeightMessageValidator('commit', components),
    reject: createHeightMessageValidator('reject', components),
    viewchange: createViewChangeValidator(components),
    newview: createNewViewValidator(components),
  }
}
