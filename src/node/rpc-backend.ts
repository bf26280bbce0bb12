import type { KvApp } from '../app/kv-app.js'
import type { ChainStore } from '../chain/store.js'
import type { ValidatorSet } from '../chain/validators.js'
import { blockHash, txHash } from '../codec/chain.js'
import { fromHex, toHex } from '../crypto/hash.js'
import { MempoolError } from '../mempool/errors.js'
import type { Mempool } from '../mempool/mempool.js'
import type { Network } from '../network/network.js'
import type { BlockRef, EvidenceQuery, RpcBackend, RpcEventSource } from '../rpc/backend.js'
import { blockToResult, evidenceToJson, headerToJson } from '../rpc/convert.js'
import { RpcError, RpcErrorCode } from '../rpc/errors.js'
import { rpcErrorFromMempool } from '../rpc/mempool-errors.js'
import { rpcErrorFromStorage } from '../rpc/storage-errors.js'
import type {
  AccountResult,
  BlockchainResult,
  BlockResult,
  BroadcastResult,
  EvidenceResult,
  NetInfoResult,
  NumUnconfirmedTxsResult,
  QueryResult,
  StatusResult,
  TxResult,
  UnconfirmedTxsResult,
  ValidatorsResult,
} from '../rpc/types.js'
import type { EvidencePool } from './evidence-pool.js'
import type { TxService } from './tx-service.js'
import { packageVersion } from './version.js'

/** What the RPC reads of the node: the components themselves, narrowed to the calls it makes. */
export interface RpcBackendComponents {
  readonly chainId: string
  readonly peerId: string
  readonly isValidator: boolean
  readonly validators: ValidatorSet
  readonly store: Pick<
    ChainStore,
    'tip' | 'getBlock' | 'getCertificate' | 'getHeightByHash' | 'getHeaders' | 'getTxLocation'
  >
  readonly app: Pick<KvApp, 'nonce' | 'query' | 'height'>
  readonly mempool: Pick<Mempool, 'get' | 'size' | 'bytes' | 'list' | 'pendingNonce' | 'droppedTx'>
  readonly txs: Pick<TxService, 'submit'>
  readonly network: Pick<Network, 'listenAddrs' | 'peers' | 'connectedPeerCount' | 'receiveStats'>
  readonly events: RpcEventSource
  readonly evidence: Pick<EvidencePool, 'list'>
  /** the engine's current view */
  view(): number
  catchingUp(): boolean
}

/** The node's answers to JSON-RPC (docs/RPC.md), read from the store, app, mempool, engine and network. */
export class NodeRpcBackend implements RpcBackend {
  constructor(private readonly node: RpcBackendComponents) {}

  get events(): RpcEventSource {
    return this.node.events
  }

  async broadcastTx(tx: Uint8Array): Promise<BroadcastResult> {
    // The mempool first: a new tx (the common case) costs no store read. A final tx can never be
    // admitted again (its nonce is used), so it always reaches the store lookup below.
    try {
      const submitted = this.node.txs.submit(tx)
      // Acknowledge only once the tx is journaled: a crash after the ack must not forget it (docs/CONSENSUS.md "Consensus rules").
      await submitted.journaled
      return { hash: toHex(submitted.hash), status: 'pending' }
    } catch (err) {
      // The journal could not write the tx (disk full, I/O error): say so, not "internal error"
      // (docs/RPC.md "Error codes"). The node stops by itself once consensus cannot persist either.
      if (!(err instanceof MempoolError)) throw rpcErrorFromStorage(err) ?? err
      const hash = txHash(tx)
      const hex = toHex(hash)
      // Resubmitting a known tx returns its current status, not a failure (docs/RPC.md).
      if ((await this.node.store.getTxLocation(hash)) !== undefined) return { hash: hex, status: 'final' }
      if (this.node.mempool.droppedTx(hash) !== undefined) return { hash: hex, status: 'dropped' }
      throw rpcErrorFromMempool(err)
    }
  }

  isCatchingUp(): boolean {
    return this.node.catchingUp()
  }

  status(): StatusResult {
    const tip = this.node.store.tip()
    const view = this.node.view()
    return {
      node_info: {
        peer_id: this.node.peerId,
        chain_id: this.node.chainId,
        listen_addrs: this.node.network.listenAddrs(),
        version: packageVersion(),
      },
      sync_info: {
        latest_block_height: tip.height,
        latest_block_hash: toHex(tip.hash),
        latest_app_hash: toHex(tip.appHash),
        latest_block_time: tip.header.timestamp,
        catching_up: this.node.catchingUp(),
      },
      consensus: {
        view,
        primary: this.node.validators.primary(view).peerId,
        is_validator: this.node.isValidator,
      },
      mempool: { n_txs: this.node.mempool.size, total_bytes: this.node.mempool.bytes },
      n_peers: this.node.network.connectedPeerCount(),
    }
  }

  async block(ref: BlockRef): Promise<BlockResult | null> {
    const store = this.node.store
    let height: number | undefined
    if (ref.by === 'latest') height = store.tip().height
    else if (ref.by === 'height') height = ref.height
    else height = await store.getHeightByHash(fromHex(ref.hash))
    if (height === undefined || height > store.tip().height) return null
    const block = await store.getBlock(height)
    if (block === undefined) return null
    const certificate = height === 0 ? null : ((await store.getCertificate(height)) ?? null)
    return blockToResult(block, certificate)
  }

  async blockchain(minHeight: number, maxHeight: number): Promise<BlockchainResult> {
    const store = this.node.store
    const headers = await store.getHeaders(minHeight, Math.min(maxHeight, store.tip().height))
    const metas: BlockchainResult['block_metas'] = []
    for (const { height, hash, header } of headers) {
      const block = await store.getBlock(height)
      metas.push({ hash: toHex(hash), header: headerToJson(header), num_txs: block?.txs.length ?? 0 })
    }
    return { last_height: store.tip().height, block_metas: metas }
  }

  async tx(hash: string): Promise<TxResult | null> {
    const bytes = fromHex(hash)
    const location = await this.node.store.getTxLocation(bytes)
    if (location !== undefined) {
      const block = await this.node.store.getBlock(location.height)
      const tx = block?.txs[location.index]
      if (block !== undefined && tx !== undefined) {
        return {
          hash,
          status: 'final',
          height: location.height,
          index: location.index,
          block_hash: toHex(blockHash(block.header)),
          tx: toHex(tx),
        }
      }
    }
    const pending = this.node.mempool.get(bytes)
    if (pending !== undefined) {
      return { hash, status: 'pending', height: null, index: null, block_hash: null, tx: toHex(pending) }
    }
    const dropped = this.node.mempool.droppedTx(bytes)
    if (dropped !== undefined) {
      return {
        hash,
        status: 'dropped',
        height: null,
        index: null,
        block_hash: null,
        reason: dropped.reason,
        tx: toHex(dropped.encoded),
      }
    }
    return null
  }

  account(address: string): AccountResult {
    const key = fromHex(address)
    return {
      address,
      nonce: this.node.app.nonce(key),
      pending_nonce: this.node.mempool.pendingNonce(key),
    }
  }

  query(key: string): QueryResult {
    return { key, value: this.node.app.query(key), height: this.node.app.height }
  }

  unconfirmedTxs(limit: number): UnconfirmedTxsResult {
    const txs = this.node.mempool.list(limit)
    return {
      n_txs: txs.length,
      total: this.node.mempool.size,
      total_bytes: this.node.mempool.bytes,
      txs: txs.map(toHex),
    }
  }

  numUnconfirmedTxs(): NumUnconfirmedTxsResult {
    return {
      n_txs: this.node.mempool.size,
      total: this.node.mempool.size,
      total_bytes: this.node.mempool.bytes,
    }
  }

  netInfo(): NetInfoResult {
    const peers = this.node.network.peers()
    return {
      listening: true,
      listeners: this.node.network.listenAddrs(),
      n_peers: peers.length,
      peers: peers.map((p) => ({ peer_id: p.peerId, addrs: p.addrs, direction: p.direction })),
      gossip_received: Object.fromEntries(
        Object.entries(this.node.network.receiveStats()).map(([kind, s]) => [
          kind,
          {
            messages: s.messages,
            bytes: s.bytes,
            duplicates: s.duplicates,
            duplicate_bytes: s.duplicateBytes,
          },
        ]),
      ),
    }
  }

  validators(): ValidatorsResult {
    const view = this.node.view()
    return {
      validators: this.node.validators.validators.map((v) => ({
        index: v.index,
        peer_id: v.peerId,
        public_key: toHex(v.publicKey),
      })),
      view,
      primary: this.node.validators.primary(view).peerId,
    }
  }

  evidence(query: EvidenceQuery): EvidenceResult {
    const { validators, chainId } = this.node
    let index: number | undefined
    if (query.validator !== undefined) {
      const v =
        typeof query.validator === 'number'
          ? validators.at(query.validator)
          : validators.byPeerId(query.validator)
      if (v === undefined) {
        throw new RpcError(
          RpcErrorCode.INVALID_PARAMS,
          `invalid params: validator: no validator ${query.validator}`,
        )
      }
      index = v.index
    }
    const { total, records } = this.node.evidence.list({ limit: query.limit, validator: index })
    const evidence = records.map((r) => {
      // The pool keeps only records it verified against this validator set.
      const v = validators.at(r.sender)
      if (v === undefined) throw new Error(`evidence record names validator ${r.sender}, not in the set`)
      return evidenceToJson(chainId, r, { index: v.index, peer_id: v.peerId, public_key: toHex(v.publicKey) })
    })
    return { total, evidence }
  }
}
