/**
 * What the tx fetch server reads (docs/PROTOCOL.md "Tx fetch"): the node answers from its mempool
 * and the txs of the proposals it saw lately. A tx returned for `hash` must hash to it.
 */
export interface TxSource {
  getTx(hash: Uint8Array): Uint8Array | undefined
}
