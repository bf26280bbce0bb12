import { merkleRoot } from '../../chain/merkle.js'
import type { ValidatorSet } from '../../chain/validators.js'
import { txHash } from '../../codec/chain.js'
import { type ConsensusKind, type ConsensusMessage, decodeConsensusMessage } from '../../codec/consensus.js'
import { CodecError } from '../../codec/errors.js'
import type { Block } from '../../codec/types.js'
import { verifyConsensusMessage } from '../../consensus/verify.js'
import { bytesEqual } from '../../crypto/hash.js'
import { GossipErrorCode, GossipValidationError, type GossipValidator } from '../gossip-validation.js'
import type { ValidatorBudgets } from '../options.js'
import { BUDGET_GROUP, type ValidatorBudget } from './budget.js'
import { dropProvenFaulty, type ProvenFaulty } from './proven-faulty.js'

/**
 * PRE-PREPARE / PREPARE / COMMIT / REJECT more than this many views above this node's are not
 * relayed. It mirrors VIEWS_KEPT_AHEAD of src/consensus/engine.ts, which drops them on delivery
 * anyway (a unit test keeps the two equal): a vote the engine cannot use is not worth relaying.
 */
export const VOTE_VIEWS_AHEAD = 8

/**
 * VIEW-CHANGE / NEW-VIEW more than this many views above this node's are not relayed. Generous on
 * purpose: a replica cut off while the others keep failing view changes lags legitimately, and must
 * still see f+1 VIEW-CHANGEs of the others' view to join it (docs/CONSENSUS.md "Consensus rules").
 * A view is given up when its timer expires (capped at consensus.view_change_timeout_max_ms, 30 s by
 * default) or at once when its primary is proven faulty, which at most f of any n consecutive
 * primaries can be: with n = 4, 100,000 views take ≥ 75,000 timeouts, ~26 days at the default cap.
 * What bounds the cost of a validator's VIEW-CHANGEs is its budget; this only drops absurd views
 * (up to 2^53 − 1) without a signature check. It mirrors VIEW_CHANGES_KEPT_AHEAD of
 * src/consensus/engine.ts, which drops them on delivery too (a unit test keeps the two equal).
 */
export const VIEW_CHANGE_VIEWS_AHEAD = 100_000

export interface ConsensusGossipComponents {
  readonly chainId: string
  readonly validators: ValidatorSet
  /** height of this node's last final block */
  readonly tipHeight: () => number
  /** the view this node's engine is in */
  readonly currentView: () => number
  /** per-validator message budgets (docs/PROTOCOL.md §2.5); defaultValidatorBudgets when absent */
  readonly budgets?: ValidatorBudgets
  /** the budgets' clock in ms, monotonic (performance.now when absent; tests inject a fake) */
  readonly now?: () => number
  /** validators proven faulty by this node's evidence: their messages are dropped first (§2.5) */
  readonly provenFaulty?: ProvenFaulty
}

/** The message type of one consensus kind, e.g. MessageOf<'viewchange'> = ViewChangeMsg. */
export type MessageOf<K extends ConsensusKind> = Extract<ConsensusMessage, { kind: K }>

/**
 * A kind's rules on this node's state (height, view): the code to Ignore a message with, or null
 * to go on. Never Reject here: another honest node in another state may judge otherwise.
 */
export type LocalStateRule<K extends ConsensusKind> = (msg: MessageOf<K>) => GossipErrorCode | null

/** The consensus kinds that carry a height (heightRule reads it, so the compiler checks this list). */
export type HeightKind = 'preprepare' | 'prepare' | 'commit' | 'reject'

/**
 * The validator every consensus topic shares (docs/PROTOCOL.md §3.7), cheapest checks first:
 * decode as this topic's kind → the kind's local-state rule (stale, too far ahead) → the signer's
 * budget → stateless validity (verify.ts: sender index and structure first, signatures last) →
 * charge the budget.
 *
 * The local-state rule runs before the signature so that a message that cannot matter here costs
 * no verification: genuine old messages can be replayed without end by anyone, and each would
 * otherwise cost every node a signature check (or, charged to its signer, drain an honest
 * validator's budget). The price is that a forgery for a stale or far view or height is Ignored,
 * not Rejected; a forgery that could matter still reaches the signature check and is Rejected.
 */
export function createConsensusValidator<K extends ConsensusKind>(
  kind: K,
  components: ConsensusGossipComponents,
  rule: LocalStateRule<K>,
  budget: ValidatorBudget,
): GossipValidator {
  const { chainId, validators } = components
  const group = BUDGET_GROUP[kind]
  return (data) => {
    // First of all: a signer proven faulty costs a read of its sender field (proven-faulty.ts).
    dropProvenFaulty(kind, data, components.provenFaulty)
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
    const code = rule(msg)
    if (code !== null) throw new GossipValidationError('ignore', code)
    // Before the signature: an exhausted signer's messages cost a decode, not a verification.
    if (!budget.allows(group, msg.sender))
      throw new GossipValidationError('ignore', GossipErrorCode.rate_limited)
    if (!verifyConsensusMessage(msg, chainId, validators)) {
      throw new GossipValidationError('reject', GossipErrorCode.bad_signature_or_sender)
    }
    if (!embeddedBlocksMatch(msg)) throw new GossipValidationError('reject', GossipErrorCode.bad_tx_root)
    // Only now is the sender known to have signed it: charge the signer, not a forger using its index.
    budget.charge(group, msg.sender)
    return 'accept'
  }
}

/** Whether a block's txs are the ones its header's tx_root commits to. */
function txsMatchHeader(block: Block): boolean {
  return bytesEqual(block.header.txRoot, merkleRoot(block.txs.map(txHash)))
}

/**
 * Whether every block a message carries has the txs its header commits to. Signatures cover block
 * hashes, i.e. headers only: without this check anyone relaying a full PRE-PREPARE, a VIEW-CHANGE's
 * prepared block or a NEW-VIEW's re-proposal could swap its txs and keep every signature valid, and
 * honest replicas would REJECT an honest primary's block for `bad_tx_root` (or a new primary would
 * re-propose the swapped block). Run after the signature check, as it hashes every tx. A mismatch is
 * objective: Reject, which penalises the peer that sent it (docs/PROTOCOL.md §3.7).
 */
export function embeddedBlocksMatch(msg: ConsensusMessage): boolean {
  switch (msg.kind) {
    case 'preprepare':
      return txsMatchHeader(msg.block)
    case 'viewchange':
      return msg.prepared.every((p) => p.block === null || txsMatchHeader(p.block))
    case 'newview':
      return (
        msg.prePrepares.every((pp) => txsMatchHeader(pp.block)) &&
        msg.viewChanges.every((vc) => embeddedBlocksMatch(vc))
      )
    default:
      return true
  }
}

/**
 * The local-state rule of the kinds with a height. Stale: a height below this node's last final
 * one can no longer change anything (the last final height itself still passes, as peers one block
 * behind need it). Far: a view more than VOTE_VIEWS_AHEAD above this node's, which the engine would
 * drop (docs/PROTOCOL.md §3.7).
 */
export function heightRule(
  components: Pick<ConsensusGossipComponents, 'tipHeight' | 'currentView'>,
): LocalStateRule<HeightKind> {
  return (msg) => {
    if (msg.height <= components.tipHeight() - 1) return GossipErrorCode.stale
    if (msg.view > components.currentView() + VOTE_VIEWS_AHEAD) return GossipErrorCode.far_view
    return null
  }
}

/**
 * The local-state rule of VIEW-CHANGE (by its new_view) and NEW-VIEW (by its view). Stale: a view
 * below this node's is over here; verifying one costs a quorum of signatures per certificate, so
 * old ones are not spread. The current view itself still passes: replicas still moving into it need
 * it. Far: more than VIEW_CHANGE_VIEWS_AHEAD views above this node's.
 */
export function viewRule(
  components: Pick<ConsensusGossipComponents, 'currentView'>,
): LocalStateRule<'viewchange' | 'newview'> {
  return (msg) => {
    const view = msg.kind === 'viewchange' ? msg.newView : msg.view
    const current = components.currentView()
    if (view < current) return GossipErrorCode.stale_view
    if (view > current + VIEW_CHANGE_VIEWS_AHEAD) return GossipErrorCode.far_view
    return null
  }
}

/** The validator of PRE-PREPARE, PREPARE, COMMIT or REJECT: the shared checks plus heightRule. */
export function createHeightMessageValidator(
  kind: HeightKind,
  components: ConsensusGossipComponents,
  budget: ValidatorBudget,
): GossipValidator {
  return createConsensusValidator(kind, components, heightRule(components), budget)
}

function isKind<K extends ConsensusKind>(msg: ConsensusMessage, kind: K): msg is MessageOf<K> {
  return msg.kind === kind
}
