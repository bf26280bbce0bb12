import type { ValidatorSet } from '../../chain/validators.js'
import { type ConsensusKind, type ConsensusMessage, decodeConsensusMessage } from '../../codec/consensus.js'
import { CodecError } from '../../codec/errors.js'
import { verifyConsensusMessage } from '../../consensus/verify.js'
import { GossipErrorCode, GossipValidationError, type GossipValidator } from '../gossip-validation.js'

export interface ConsensusGossipComponents {
  readonly chainId: string
  readonly validators: ValidatorSet
  /** height of this node's last final block */
  readonly tipHeight: () => number
}

/** For the kinds whose staleness is by view (VIEW-CHANGE, NEW-VIEW). */
export interface ViewGossipComponents extends ConsensusGossipComponents {
  /** the view this node's engine is in */
  readonly currentView: () => number
}

/** The message type of one consensus kind, e.g. MessageOf<'viewchange'> = ViewChangeMsg. */
export type MessageOf<K extends ConsensusKind> = Extract<ConsensusMessage, { kind: K }>

/**
 * A kind's own state-dependent rule, run on a message whose signature verified: the code to Ignore
 * it with, or null to accept it. Never Reject here: what is stale depends on this node's state.
 */
export type StalenessRule<K extends ConsensusKind> = (msg: MessageOf<K>) => GossipErrorCode | null

/** The consensus kinds that carry a height (staleHeight reads it, so the compiler checks this list). */
export type HeightKind = 'preprepare' | 'prepare' | 'commit' | 'reject'

/**
 * The validator every consensus topic shares (docs/PROTOCOL.md §3.7): decode as this topic's kind
 * → stateless validity (verify.ts: sender index and structure first, signatures last) → the kind's
 * staleness rule. The staleness rule runs after the signature on purpose: a forged message is then
 * Rejected (its source penalised) whatever this node's height or view, while a genuine old one is
 * only Ignored.
 */
export function createConsensusValidator<K extends ConsensusKind>(
  kind: K,
  components: ConsensusGossipComponents,
  stale: StalenessRule<K>,
): GossipValidator {
  const { chainId, validators } = components
  return (data) => {
    let msg: ConsensusMessage
    try {
      msg = decodeConsensusMessage(kind, data)
    } catch (err) {
      throw new GossipValidationError(
        'reject',
        err instanceof CodecError ? GossipErrorCode.malformed : GossipErrorCode.decode_failed,
      )
    }
    // decodeConsensusMessage reads this kind's layout, so this holds; the guard narrows the type
    // for the rule, and anything else on this topic would be "not this topic's kind": malformed.
    if (!isKind(msg, kind)) throw new GossipValidationError('reject', GossipErrorCode.malformed)
    if (!verifyConsensusMessage(msg, chainId, validators)) {
      throw new GossipValidationError('reject', GossipErrorCode.bad_signature_or_sender)
    }
    const code = stale(msg)
    if (code !== null) throw new GossipValidationError('ignore', code)
    return 'accept'
  }
}

/**
 * Messages that can no longer change anything are not relayed: a height below this node's last
 * final one. Messages at the last final height itself still pass, as peers one block behind need them.
 */
export function staleHeight(
  components: Pick<ConsensusGossipComponents, 'tipHeight'>,
): StalenessRule<HeightKind> {
  return (msg) => (msg.height <= components.tipHeight() - 1 ? GossipErrorCode.stale : null)
}

/** The validator of PRE-PREPARE, PREPARE, COMMIT or REJECT: the shared checks plus staleHeight. */
export function createHeightMessageValidator(
  kind: HeightKind,
  components: ConsensusGossipComponents,
): GossipValidator {
  return createConsensusValidator(kind, components, staleHeight(components))
}

function isKind<K extends ConsensusKind>(msg: ConsensusMessage, kind: K): msg is MessageOf<K> {
  return msg.kind === kind
}
