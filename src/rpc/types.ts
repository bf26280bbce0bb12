/**
 * The JSON shapes of docs/RPC.md, exactly as they travel: snake_case keys, heights and counts as JSON
 * numbers, hashes / public keys / encoded txs as lowercase 0x-hex strings, KV keys and values as
 * plain strings. The node builds these (see ./convert.ts for the header/block/certificate helpers),
 * the server sends them unchanged, the client and CLI read them.
 */

/** A lowercase 0x-prefixed hex string (a hash, a public key, an encoded tx or a signature). */
export type Hex = string

/** Block header (docs/CONSENSUS.md "Transactions and blocks") in JSON. */
export interface HeaderJson {
  chain_id: string
  height: number
  view: number
  /** milliseconds since the Unix epoch, as chosen by the proposer */
  timestamp: number
  /** the proposing validator's public key (all zero for genesis) */
  proposer: Hex
  parent_hash: Hex
  tx_root: Hex
  app_hash: Hex
}

interface CommitVoteJson {
  /** index of the validator in the genesis validator list */
  validator: number
  signature: Hex
}

/** 2f+1 COMMIT signatures over (chain_id, view, height, block hash): any client can verify it. */
export interface CommitCertificateJson {
  height: number
  view: number
  block_hash: Hex
  votes: CommitVoteJson[]
}

/** `block` result and the data of a `NewBlock` event. */
export interface BlockResult {
  hash: Hex
  header: HeaderJson
  /** encoded signed txs in execution order */
  txs: Hex[]
  /** null only for the genesis block (height 0), which has no certificate */
  commit: CommitCertificateJson | null
}

interface BlockMeta {
  hash: Hex
  header: HeaderJson
  num_txs: number
}

/** `blockchain` result: the stored headers in [min_height, max_height], ascending, at most 100. */
export interface BlockchainResult {
  /** the node's latest final height */
  last_height: number
  block_metas: BlockMeta[]
}

export interface StatusResult {
  node_info: {
    peer_id: string
    chain_id: string
    listen_addrs: string[]
    version: string
  }
  sync_info: {
    latest_block_height: number
    latest_block_hash: Hex
    latest_app_hash: Hex
    /** milliseconds since the Unix epoch (the latest header's timestamp) */
    latest_block_time: number
    catching_up: boolean
  }
  consensus: {
    view: number
    /** peer id of the current view's primary */
    primary: string
    is_validator: boolean
  }
  mempool: {
    n_txs: number
    total_bytes: number
  }
  n_peers: number
}

type TxStatus = 'pending' | 'final' | 'dropped'

/** `tx` result. height / index / block_hash are null unless final; reason is set only when dropped. */
export interface TxResult {
  hash: Hex
  status: TxStatus
  height: number | null
  index: number | null
  block_hash: Hex | null
  reason?: string
  /** the encoded signed tx */
  tx: Hex
}

/** Where a final tx is: the `broadcast_tx_commit` result. */
export interface TxReceipt {
  hash: Hex
  height: number
  index: number
  block_hash: Hex
}

/** Data of a `Tx` event: a tx became final, or was dropped from the mempool (TTL, invalid). */
export type TxEvent = ({ status: 'final' } & TxReceipt) | { hash: Hex; status: 'dropped'; reason: string }

/**
 * What the backend says after admitting (or recognising) a tx. A tx the node already knows is not
 * an error: its current status is returned ('final' if already in a block, 'dropped' if it was
 * dropped and not re-admitted). Rejections are thrown as RpcError with an application code.
 */
export interface BroadcastResult {
  hash: Hex
  status: TxStatus
}

/** `broadcast_tx_sync` result. */
export type BroadcastSyncResult = BroadcastResult

/** `broadcast_tx_async` result. */
export interface BroadcastAsyncResult {
  hash: Hex
}

export interface AccountResult {
  address: Hex
  /** the next nonce according to the latest final state */
  nonce: number
  /** the next nonce counting this node's mempool (what a client should sign next) */
  pending_nonce: number
}

export interface QueryResult {
  key: string
  value: string | null
  /** the height of the state the value was read from */
  height: number
}

export interface NumUnconfirmedTxsResult {
  /** txs in the mempool */
  n_txs: number
  /** same as n_txs (CometBFT has both) */
  total: number
  total_bytes: number
}

export interface UnconfirmedTxsResult {
  /** txs returned here (≤ limit) */
  n_txs: number
  /** txs in the mempool */
  total: number
  total_bytes: number
  /** encoded signed txs, in mempool order */
  txs: Hex[]
}

interface PeerInfo {
  peer_id: string
  addrs: string[]
  direction: 'inbound' | 'outbound'
}

/** What one gossip topic cost this node to receive since it started (docs/RPC.md net_info). */
export interface GossipReceivedJson {
  /** first copies: messages that reached validation */
  messages: number
  bytes: number
  /** further copies of messages already seen */
  duplicates: number
  duplicate_bytes: number
}

export interface NetInfoResult {
  listening: boolean
  listeners: string[]
  n_peers: number
  peers: PeerInfo[]
  /** per topic kind (tx, preprepare, prepare, commit, viewchange, newview, reject) */
  gossip_received: Record<string, GossipReceivedJson>
}

export interface ValidatorInfo {
  index: number
  peer_id: string
  public_key: Hex
}

export interface ValidatorsResult {
  validators: ValidatorInfo[]
  view: number
  /** peer id of the current view's primary */
  primary: string
}

/** One of the two signed messages of an evidence record (docs/RPC.md). */
export interface EvidenceSideJson {
  /** the block hash (preprepare, prepare, commit) or the SHA-256 of the sign bytes (viewchange, newview) */
  digest: Hex
  signature: Hex
  /** the bytes the signature is over (Ed25519 by the validator's public_key); null if too large to keep */
  sign_bytes: Hex | null
}

/** Two conflicting messages one validator signed for one slot, as the node keeps them. */
export interface EvidenceJson {
  validator: ValidatorInfo
  kind: 'preprepare' | 'prepare' | 'commit' | 'viewchange' | 'newview'
  /** the slot: the message's view (a VIEW-CHANGE's new view) and height (0 for viewchange, newview) */
  view: number
  height: number
  /** ordered by digest */
  first: EvidenceSideJson
  second: EvidenceSideJson
  /** milliseconds since the Unix epoch when this node stored it */
  received_at: number
}

/** `evidence` result: newest first. */
export interface EvidenceResult {
  /** records matching the `validator` filter (all of them without it) */
  total: number
  evidence: EvidenceJson[]
}

export interface HealthResult {
  status: 'ok'
  catching_up: boolean
}

export type RpcEventName = 'NewBlock' | 'Tx'

export interface SubscribeResult {
  /** names the subscription for `unsubscribe`; each of its events carries it too */
  subscription: string
}

/** A JSON-RPC 2.0 request id; a request without one is a notification. */
export type JsonRpcId = string | number | null

/**
 * The `result` of each event a subscription pushes, in a response that carries the subscribe
 * request's own `id` (CometBFT's form, so id-matching clients such as cosmjs keep it; docs/RPC.md
 * "WebSocket subscriptions").
 */
export interface SubscriptionEvent {
  /** the subscription's filter in CometBFT's query syntax, e.g. `tm.event='NewBlock'` */
  query: string
  /** what `subscribe` returned */
  subscription: string
  data: { type: 'NewBlock'; value: BlockResult } | { type: 'Tx'; value: TxEvent }
}

export interface UnsubscribeResult {
  /** how many subscriptions were removed */
  unsubscribed: number
}

/** Every method: its named params (undefined when it takes none) and its result. For typed clients. */
export interface RpcMethodMap {
  broadcast_tx_async: { params: { tx: Hex }; result: BroadcastAsyncResult }
  broadcast_tx_sync: { params: { tx: Hex }; result: BroadcastSyncResult }
  broadcast_tx_commit: { params: { tx: Hex; timeout_ms?: number }; result: TxReceipt }
  status: { params: undefined; result: StatusResult }
  block: { params: { height?: number } | { hash: Hex } | undefined; result: BlockResult }
  blockchain: { params: { min_height?: number; max_height?: number } | undefined; result: BlockchainResult }
  tx: { params: { hash: Hex }; result: TxResult }
  account: { params: { address: Hex }; result: AccountResult }
  query: { params: { key: string }; result: QueryResult }
  unconfirmed_txs: { params: { limit?: number } | undefined; result: UnconfirmedTxsResult }
  num_unconfirmed_txs: { params: undefined; result: NumUnconfirmedTxsResult }
  net_info: { params: undefined; result: NetInfoResult }
  validators: { params: undefined; result: ValidatorsResult }
  evidence: { params: { limit?: number; validator?: number | string } | undefined; result: EvidenceResult }
  subscribe: { params: { event: RpcEventName; hash?: Hex }; result: SubscribeResult }
  unsubscribe: {
    params: { subscription: string } | { event: RpcEventName; hash?: Hex }
    result: UnsubscribeResult
  }
  unsubscribe_all: { params: undefined; result: UnsubscribeResult }
}

export type RpcMethodName = keyof RpcMethodMap
