/** One gossipsub topic per message kind (docs/PROTOCOL.md). */
export const TOPIC_KINDS = [
  'tx',
  'preprepare',
  'prepare',
  'commit',
  'viewchange',
  'newview',
  'reject',
] as const

export type TopicKind = (typeof TOPIC_KINDS)[number]

/** `/pbft/<chain_id>/<kind>/1` — the chain id keeps two devnets on one LAN from mixing. */
export function topicName(chainId: string, kind: TopicKind): string {
  return `/pbft/${chainId}/${kind}/1`
}

/** The block sync stream protocol id. */
export function syncProtocol(chainId: string): string {
  return `/pbft/${chainId}/sync/1`
}

/** The tx fetch stream protocol id: txs by hash, for compact PRE-PREPAREs (docs/PROTOCOL.md "Tx fetch"). */
export function txFetchProtocol(chainId: string): string {
  return `/pbft/${chainId}/txs/1`
}
