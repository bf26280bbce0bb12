import { merkleRoot } from '../../chain/merkle.js'
import {
  decodeCompactPrePrepare,
  expandPrePrepare,
  isCompactPrePrepare,
  peekCompactSender,
} from '../../codec/compact.js'
import { CodecError } from '../../codec/errors.js'
import { verifyConsensusMessage } from '../../consensus/verify.js'
import { bytesEqual } from '../../crypto/hash.js'
import { GossipErrorCode, GossipValidationError, type GossipValidator } from '../gossip-validation.js'
import { BUDGET_GROUP, type ValidatorBudget } from './budget.js'
import { type ConsensusGossipComponents, createHeightMessageValidator, heightRule } from './consensus.js'

/**
 * The preprepare topic carries two forms (docs/PROTOCOL.md §3.7): the full PRE-PREPARE (tag 0x10),
 * validated like every consensus message, and the compact one (tag 0x16: header and tx hashes),
 * validated here with the same rules in the same order, plus one: the hashes must give the header's
 * tx_root. That last check is what makes the compact form as authentic as the full one before any
 * tx is fetched: the primary signed the header, the header commits to the hashes, and each fetched
 * tx is checked against its hash (src/node/compact-proposals.ts). A hash list that does not match
 * is an objective fault (a relay tampered with it, or the primary built it wrong): Reject.
 */
export function createPrePrepareValidator(
  components: ConsensusGossipComponents,
  budget: ValidatorBudget,
): GossipValidator {
  const full = createHeightMessageValidator('preprepare', components, budget)
  const rule = heightRule(components)
  const group = BUDGET_GROUP.preprepare
  const { chainId, validators } = components
  return (data, from) => {
    if (!isCompactPrePrepare(data)) return full(data, from)
    const sender = peekCompactSender(data)
    if (sender !== undefined && components.provenFaulty?.has(sender) === true)
      throw new GossipValidationError('ignore', GossipErrorCode.proven_faulty)
    let compact: ReturnType<typeof decodeCompactPrePrepare>
    try {
      compact = decodeCompactPrePrepare(data)
    } catch (err) {
      throw new GossipValidationError(
        'reject',
        err instanceof CodecError ? GossipErrorCode.malformed : GossipErrorCode.decode_failed,
      )
    }
    // The stateless checks read the header only (signature over its hash, sender, header rules).
    const headerOnly = expandPrePrepare(compact, [])
    const code = rule(headerOnly)
    if (code !== null) throw new GossipValidationError('ignore', code)
    if (!budget.allows(group, compact.sender))
      throw new GossipValidationError('ignore', GossipErrorCode.rate_limited)
    if (!verifyConsensusMessage(headerOnly, chainId, validators))
      throw new GossipValidationError('reject', GossipErrorCode.bad_signature_or_sender)
    if (!bytesEqual(compact.header.txRoot, merkleRoot(compact.txHashes)))
      throw new GossipValidationError('reject', GossipErrorCode.bad_tx_root)
    budget.charge(group, compact.sender)
    return 'accept'
  }
}
