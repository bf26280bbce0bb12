/**
 * An in-memory RpcBackend for the RPC unit tests: a chain of blocks made on demand (`commit()`),
 * a mempool with the real admission checks that map to stable error codes (signature, chain id,
 * nonce), and the NewBlock / Tx events the server waits on.
 */
import { EventEmitter } from 'node:events'
import { blockHash, decodeTx, encodeTx, encodeTxBody, txHash } from '../../../src/codec/chain.js'
import type { Block, BlockHeader, CommitCertificate } from '../../../src/codec/types.js'
import { type Ed25519Signer, verifySignature } from '../../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../../src/crypto/hash.js'
import type { BlockRef, EvidenceQuery, RpcBackend, RpcEventMap } from '../../../src/rpc/backend.js'
import { blockToResult } from '../../../src/rpc/convert.js'
import { RpcError, RpcErrorCode } from '../../../src/rpc/errors.js'
import type {
  AccountResult,
  BlockchainResult,
  BlockResult,
  BroadcastResult,
  EvidenceJson,
  EvidenceResult,
  Hex,
  NetInfoResult,
  NumUnconfirmedTxsResult,
  QueryResult,
  StatusResult,
  TxResult,
  UnconfirmedTxsResult,
  ValidatorsResult,
} from '../../../src/rpc/types.js'

export const CHAIN_ID = 'rpc-test-chain'

export function makeTx(
  signer: Ed25519Signer,
  nonce: number,
  key = `k${nonce}`,
  value = 'v',
  chainId = CHAIN_ID,
) {
  const body = { chainId, from: signer.publicKey, nonce, op: { type: 'set' as const, key, value } }
  const bytes = encodeTx({ ...body, signature: signer.sign(encodeTxBody(body)) })
  return { bytes, hex: toHex(bytes), hash: toHex(txHash(bytes)) }
}

interface KnownTx {
  bytes: Uint8Array
  status: 'pending' | 'final' | 'dropped'
  height: number | null
  index: number | null
  blockHash: Hex | null
  reason?: string
}

export class FakeBackend implements RpcBackend {
  readonly events = new EventEmitter<RpcEventMap>()
  readonly blocks: BlockResult[] = []
  readonly known = new Map<Hex, KnownTx>()
  readonly mempool: Hex[] = []
  readonly nonces = new Map<Hex, number>()
  readonly kv = new Map<string, string>()
  broadcastCalls = 0
  /** stored evidence, oldest first (the method answers newest first) */
  readonly evidenceRecords: EvidenceJson[] = []
  /** the last query the server passed to evidence() */
  lastEvidenceQuery: EvidenceQuery | undefined
  catchingUp = false
  /** the next backend call throws this (once) */
  failNext: Error | undefined

  constructor() {
    this.blocks.push(this.makeBlock([], null))
  }

  private maybeFail(): void {
    const err = this.failNext
    if (err !== undefined) {
      this.failNext = undefined
      throw err
    }
  }

  private makeBlock(txs: Uint8Array[], parent: BlockResult | null): BlockResult {
    const height = parent === null ? 0 : parent.header.height + 1
    const header: BlockHeader = {
      chainId: CHAIN_ID,
      height,
      view: 0,
      timestamp: 1_700_000_000_000 + height,
      proposer: new Uint8Array(32).fill(height === 0 ? 0 : 1),
      parentHash: parent === null ? new Uint8Array(32) : Buffer.from(parent.hash.slice(2), 'hex'),
      txRoot: sha256(...txs),
      appHash: sha256(new TextEncoder().encode(`app${height}`)),
    }
    const block: Block = { header, txs }
    const certificate: CommitCertificate | null =
      height === 0
        ? null
        : {
            height,
            view: 0,
            blockHash: blockHash(header),
            votes: [{ validator: 0, signature: new Uint8Array(64) }],
          }
    return blockToResult(block, certificate)
  }

  private tip(): BlockResult {
    return this.blocks[this.blocks.length - 1] as BlockResult
  }

  private pendingNonce(address: Hex): number {
    let nonce = this.nonces.get(address) ?? 0
    for (const hash of this.mempool) {
      const tx = decodeTx((this.known.get(hash) as KnownTx).bytes)
      if (toHex(tx.from) === address) nonce = Math.max(nonce, tx.nonce + 1)
    }
    return nonce
  }

  async broadcastTx(bytes: Uint8Array): Promise<BroadcastResult> {
    this.broadcastCalls++
    this.maybeFail()
    const hash = toHex(txHash(bytes))
    const known = this.known.get(hash)
    if (known !== undefined) return { hash, status: known.status }
    const tx = decodeTx(bytes)
    if (tx.chainId !== CHAIN_ID)
      throw new RpcError(RpcErrorCode.TX_WRONG_CHAIN, `wrong chain id ${tx.chainId}`)
    if (!verifySignature(tx.from, encodeTxBody(tx), tx.signature)) {
      throw new RpcError(RpcErrorCode.TX_INVALID_SIGNATURE, 'tx signature does not verify')
    }
    const from = toHex(tx.from)
    if (tx.nonce < (this.nonces.get(from) ?? 0)) {
      throw new RpcError(RpcErrorCode.TX_NONCE_USED, `nonce ${tx.nonce} already used`)
    }
    this.known.set(hash, { bytes, status: 'pending', height: null, index: null, blockHash: null })
    this.mempool.push(hash)
    return { hash, status: 'pending' }
  }

  /** Makes a block of the whole mempool, then emits Tx (final) for each tx and NewBlock. */
  commit(): BlockResult {
    const hashes = this.mempool.splice(0)
    const txs = hashes.map((h) => (this.known.get(h) as KnownTx).bytes)
    const block = this.makeBlock(txs, this.tip())
    this.blocks.push(block)
    hashes.forEach((hash, index) => {
      const known = this.known.get(hash) as KnownTx
      const tx = decodeTx(known.bytes)
      this.nonces.set(toHex(tx.from), tx.nonce + 1)
      if (tx.op.type === 'set') this.kv.set(tx.op.key, tx.op.value)
      Object.assign(known, { status: 'final', height: block.header.height, index, blockHash: block.hash })
    })
    for (const [index, hash] of hashes.entries()) {
      this.events.emit('Tx', {
        hash,
        status: 'final',
        height: block.header.height,
        index,
        block_hash: block.hash,
      })
    }
    this.events.emit('NewBlock', block)
    return block
  }

  drop(hash: Hex, reason: string): void {
    const known = this.known.get(hash)
    if (known === undefined) throw new Error(`unknown tx ${hash}`)
    known.status = 'dropped'
    known.reason = reason
    this.mempool.splice(this.mempool.indexOf(hash), 1)
    this.events.emit('Tx', { hash, status: 'dropped', reason })
  }

  status(): StatusResult {
    this.maybeFail()
    const tip = this.tip()
    return {
      node_info: {
        peer_id: '12D3KooWTest',
        chain_id: CHAIN_ID,
        listen_addrs: ['/ip4/127.0.0.1/tcp/1'],
        version: '0.1.0',
      },
      sync_info: {
        latest_block_height: tip.header.height,
        latest_block_hash: tip.hash,
        latest_app_hash: tip.header.app_hash,
        latest_block_time: tip.header.timestamp,
        catching_up: this.catchingUp,
      },
      consensus: { view: 0, primary: '12D3KooWTest', is_validator: true },
      mempool: { n_txs: this.mempool.length, total_bytes: this.mempoolBytes() },
      n_peers: 3,
    }
  }

  isCatchingUp(): boolean {
    return this.catchingUp
  }

  block(ref: BlockRef): BlockResult | null {
    this.maybeFail()
    if (ref.by === 'latest') return this.tip()
    if (ref.by === 'height') return this.blocks[ref.height] ?? null
    return this.blocks.find((b) => b.hash === ref.hash) ?? null
  }

  blockchain(minHeight: number, maxHeight: number): BlockchainResult {
    if (maxHeight - minHeight >= 100)
      throw new Error(`server sent a range wider than 100: ${minHeight}..${maxHeight}`)
    return {
      last_height: this.tip().header.height,
      block_metas: this.blocks
        .filter((b) => b.header.height >= minHeight && b.header.height <= maxHeight)
        .map((b) => ({ hash: b.hash, header: b.header, num_txs: b.txs.length })),
    }
  }

  tx(hash: Hex): TxResult | null {
    const known = this.known.get(hash)
    if (known === undefined) return null
    const result: TxResult = {
      hash,
      status: known.status,
      height: known.height,
      index: known.index,
      block_hash: known.blockHash,
      tx: toHex(known.bytes),
    }
    if (known.reason !== undefined) result.reason = known.reason
    return result
  }

  account(address: Hex): AccountResult {
    return { address, nonce: this.nonces.get(address) ?? 0, pending_nonce: this.pendingNonce(address) }
  }

  query(key: string): QueryResult {
    return { key, value: this.kv.get(key) ?? null, height: this.tip().header.height }
  }

  private mempoolBytes(): number {
    return this.mempool.reduce((sum, h) => sum + (this.known.get(h) as KnownTx).bytes.length, 0)
  }

  unconfirmedTxs(limit: number): UnconfirmedTxsResult {
    const txs = this.mempool.slice(0, limit).map((h) => toHex((this.known.get(h) as KnownTx).bytes))
    return { n_txs: txs.length, total: this.mempool.length, total_bytes: this.mempoolBytes(), txs }
  }

  numUnconfirmedTxs(): NumUnconfirmedTxsResult {
    return { n_txs: this.mempool.length, total: this.mempool.length, total_bytes: this.mempoolBytes() }
  }

  netInfo(): NetInfoResult {
    return {
      listening: true,
      listeners: ['/ip4/127.0.0.1/tcp/1'],
      n_peers: 1,
      peers: [{ peer_id: '12D3KooWPeer', addrs: ['/ip4/127.0.0.1/tcp/2'], direction: 'outbound' }],
      gossip_received: { prepare: { messages: 3, bytes: 450, duplicates: 2, duplicate_bytes: 300 } },
    }
  }

  validators(): ValidatorsResult {
    return {
      validators: [{ index: 0, peer_id: '12D3KooWTest', public_key: `0x${'11'.repeat(32)}` }],
      view: 0,
      primary: '12D3KooWTest',
    }
  }

  evidence(query: EvidenceQuery): EvidenceResult {
    this.lastEvidenceQuery = query
    const set = this.validators().validators
    let index: number | undefined
    if (query.validator !== undefined) {
      const v = set.find((x) => x.index === query.validator || x.peer_id === query.validator)
      if (v === undefined)
        throw new RpcError(RpcErrorCode.INVALID_PARAMS, `invalid params: no validator ${query.validator}`)
      index = v.index
    }
    const matching = this.evidenceRecords
      .filter((e) => index === undefined || e.validator.index === index)
      .reverse()
    return { total: matching.length, evidence: matching.slice(0, query.limit) }
  }
}
