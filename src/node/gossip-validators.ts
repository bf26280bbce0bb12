import type { KvApp } from '../app/kv-app.js'
import type { ValidatorSet } from '../chain/validators.js'
import { decodeTx, encodeTxBody, txHash } from '../codec/chain.js'
import { CONSENSUS_KINDS, type ConsensusKind, decodeConsensusMessage } from '../codec/consensus.js'
import { CodecError } from '../codec/errors.js'
import { decodeTxBatch } from '../codec/tx-sign.js'
import type { SignedTx } from '../codec/types.js'
import { verifyConsensusMessage } from '../consensus/verify.js'
import { verifySignature } from '../crypto/ed25519.js'
import { MempoolError } from '../mempool/errors.js'
import type { Mempool } from '../mempool/mempool.js'
import { GossipValidationError, type GossipVerdict } from '../network/gossip-validation.js'

export interface GossipValidatorComponents {
  readonly chainId: string
  readonly validators: ValidatorSet
  readonly mempool: Mempool
  readonly app: KvApp
  tipHeight(): number
  view(): number
  /** txs from a gossip batch entered the mempool */
  onAdmitted(): void
}

export function createGossipValidators(c: GossipValidatorComponents) {
  const consensus =
    (kind: ConsensusKind) =>
    (data: Uint8Array): GossipVerdict => {
      let msg: ReturnType<typeof decodeConsensusMessage>
      try {
        msg = decodeConsensusMessage(kind, data)
      } catch (err) {
        throw new GossipValidationError('reject', err instanceof CodecError ? 'malformed' : 'decode_failed')
      }
      if (!verifyConsensusMessage(msg, c.chainId, c.validators)) {
        throw new GossipValidationError('reject', 'bad_signature_or_sender')
      }
      // Messages that can no longer change anything are not relayed (Ignore, never Reject: what is
      // stale depends on this node's state, so an honest relayer must not be penalised for it).
      if ('height' in msg && msg.height <= c.tipHeight() - 1) {
        throw new GossipValidationError('ignore', 'stale')
      }
      // An old VIEW-CHANGE / NEW-VIEW costs a quorum of certificate checks each; don't spread replays.
      const view = c.view()
      if ((msg.kind === 'viewchange' && msg.newView < view) || (msg.kind === 'newview' && msg.view < view)) {
        throw new GossipValidationError('ignore', 'stale_view')
      }
      return 'accept'
    }

  /** What is wrong with a tx whatever the state (malformed, foreign chain, forged), or null. */
  const objectiveTxFault = (tx: Uint8Array): string | null => {
    const hash = txHash(tx)
    if (c.mempool.has(hash) || c.app.signatures.has(hash)) return null
    let decoded: SignedTx
    try {
      decoded = decodeTx(tx)
    } catch {
      return 'malformed'
    }
    if (decoded.chainId !== c.chainId) return 'wrong_chain'
    if (!verifySignature(decoded.from, encodeTxBody(decoded), decoded.signature)) return 'invalid_signature'
    c.app.signatures.add(hash)
    return null
  }

  /** A tx batch: Reject on malformed or forged txs (the sender should not relay those), else admit. */
  const tx = (data: Uint8Array): GossipVerdict => {
    let txs: Uint8Array[]
    try {
      txs = decodeTxBatch(data)
    } catch {
      throw new GossipValidationError('reject', 'malformed')
    }
    // Objective faults first, for every tx: a relayer whose mempool skipped a forged tx for a
    // state-dependent reason (nonce, capacity) must still see it as forged, or honest relayers of a
    // batch would be penalised by peers in another state (docs/PROTOCOL.md §2.3).
    for (const t of txs) {
      const fault = objectiveTxFault(t)
      if (fault !== null) throw new GossipValidationError('reject', fault)
    }
    let added = 0
    for (const t of txs) {
      try {
        if (c.mempool.add(t).status === 'added') added++
      } catch (err) {
        // stale nonce, full mempool...: depends on this node's state, not the relayer's fault
        if (!(err instanceof MempoolError)) throw err
      }
    }
    if (added > 0) c.onAdmitted()
    return added > 0 ? 'accept' : 'ignore'
  }

  const validators: Partial<Record<ConsensusKind | 'tx', (data: Uint8Array) => GossipVerdict>> = { tx }
  for (const kind of CONSENSUS_KINDS) validators[kind] = consensus(kind)
  return validators
}
