import { type HashedTx, hashTx, txSignBytes } from '../../codec/chain.js'
import { decodeTxBatch } from '../../codec/tx-sign.js'
import type { SignedTx } from '../../codec/types.js'
import { verifySignature } from '../../crypto/ed25519.js'
import { isPeerFault, MempoolError, type PeerFaultCode } from '../../mempool/errors.js'
import type { AddResult, VerifiedSignatures } from '../../mempool/mempool.js'
import { GossipErrorCode, GossipValidationError, type GossipValidator } from '../gossip-validation.js'

/** The part of the mempool tx gossip feeds: Mempool satisfies it. `add` throws MempoolError. */
export interface TxGossipPool {
  has(hash: Uint8Array): boolean
  add(tx: HashedTx): Pick<AddResult, 'status'>
}

export interface TxGossipComponents {
  readonly chainId: string
  readonly mempool: TxGossipPool
  /** shared with the mempool and the block executor, so a tx is verified once per node */
  readonly signatures: VerifiedSignatures
  /** after a batch admitted at least one new tx (e.g. to update the mempool gauge) */
  readonly onTxsAdmitted?: (count: number) => void
}

/** The gossip reason for each mempool code the sender is to blame for (docs/PROTOCOL.md §3.3). */
const PEER_FAULT_REASON: Record<PeerFaultCode, GossipErrorCode> = {
  malformed: GossipErrorCode.malformed,
  wrong_chain: GossipErrorCode.wrong_chain,
  invalid_signature: GossipErrorCode.invalid_signature,
}

/**
 * The `tx` topic: a batch of signed txs. Reject on malformed or forged txs (no honest node relays
 * those), else admit what the mempool takes: Accept when something was new, Ignore when not.
 */
export function createTxValidator(components: TxGossipComponents): GossipValidator {
  const { mempool, onTxsAdmitted } = components
  return (data) => {
    let txs: HashedTx[]
    try {
      // each tx hashed once here; the mempool takes the hash along
      txs = decodeTxBatch(data).map(hashTx)
    } catch {
      throw new GossipValidationError('reject', GossipErrorCode.malformed)
    }
    // Objective faults first, for every tx: a relayer whose mempool skipped a forged tx for a
    // state-dependent reason (nonce, capacity) must still see it as forged, or honest relayers of a
    // batch would be penalised by peers in another state (docs/PROTOCOL.md §2.3). The mempool checks
    // nonce and capacity before the signature, so its verdict alone would not be objective.
    for (const tx of txs) {
      const fault = objectiveTxFault(tx, components)
      if (fault !== null) throw new GossipValidationError('reject', PEER_FAULT_REASON[fault])
    }
    let added = 0
    try {
      for (const tx of txs) {
        try {
          if (mempool.add(tx).status === 'added') added++
        } catch (err) {
          if (!(err instanceof MempoolError)) throw err
          // One rule for both passes: the sender's fault Rejects, anything else (stale nonce, full
          // pool, local size limit) depends on this node's state and skips the tx. After the pass
          // above the mempool finds no peer fault today; this keeps it so if its checks grow.
          if (isPeerFault(err.code)) throw new GossipValidationError('reject', PEER_FAULT_REASON[err.code])
        }
      }
    } finally {
      // txs admitted before a Reject stay in the mempool, so they count too
      if (added > 0) onTxsAdmitted?.(added)
    }
    return added > 0 ? 'accept' : 'ignore'
  }
}

/**
 * What is wrong with a tx whatever the receiver's state (exactly the isPeerFault codes), or null.
 * A tx already pending or whose bytes already verified here was checked before: no second verify.
 */
export function objectiveTxFault(
  tx: HashedTx,
  components: Pick<TxGossipComponents, 'chainId' | 'mempool' | 'signatures'>,
): PeerFaultCode | null {
  const { chainId, mempool, signatures } = components
  const { hash } = tx
  if (mempool.has(hash) || signatures.has(hash)) return null
  let decoded: SignedTx
  try {
    decoded = tx.decoded()
  } catch {
    return 'malformed'
  }
  if (decoded.chainId !== chainId) return 'wrong_chain'
  if (!verifySignature(decoded.from, txSignBytes(tx.bytes), decoded.signature)) return 'invalid_signature'
  signatures.add(hash)
  return null
}
