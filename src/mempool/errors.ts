/** Why add() refused a tx; stable strings that RPC and gossip map to their own codes. */
export type MempoolErrorCode =
  | 'malformed'
  | 'too_large'
  | 'wrong_chain'
  | 'invalid_signature'
  | 'bad_nonce'
  | 'nonce_too_far'
  | 'nonce_taken'
  | 'mempool_full'

export class MempoolError extends Error {
  override name = 'MempoolError'

  constructor(
    readonly code: MempoolErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** The codes isPeerFault accepts: faults in the tx bytes themselves, whatever the receiver's state. */
export type PeerFaultCode = Extract<MempoolErrorCode, 'malformed' | 'wrong_chain' | 'invalid_signature'>

/**
 * Codes only a faulty or malicious sender can cause: a gossip validator Rejects (and penalises)
 * these; the others can happen to honest peers and are Ignored — nonce races, a full pool, and
 * 'too_large', since peers may configure a different maxTxBytes below the codec's hard limit.
 */
export function isPeerFault(code: MempoolErrorCode): code is PeerFaultCode {
  return code === 'malformed' || code === 'wrong_chain' || code === 'invalid_signature'
}
