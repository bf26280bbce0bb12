/**
 * The CometBFT dialect (docs/RPC.md "CometBFT dialect"): CometBFT 0.38's method names, params and
 * result shapes, served under `/comet` by translating the node's own backend and methods. Reads go
 * to the backend; broadcasts run through the native methods (their admission and event-driven
 * waits), their outcomes recast as CheckTx / ExecTxResult codes. Errors take CometBFT's form in
 * ./dialect.ts.
 */
import type { Logger } from 'pino'
import { txHash } from '../../codec/chain.js'
import { fromHex, toHex } from '../../crypto/hash.js'
import { publicKeyOfPeerId } from '../../crypto/node-key.js'
import type { RpcBackend } from '../backend.js'
import { RpcError, RpcErrorCode } from '../errors.js'
import type { CallContext, MethodHandler, RpcMethod, SubscriptionSession } from '../methods.js'
import type { BlockResult, Hex, TxEvent, TxReceipt, ValidatorInfo } from '../types.js'
import type { EventFormat } from '../ws-session.js'
import {
  addressOf,
  base64,
  blockIdOf,
  type CometBlockId,
  commitJson,
  EMPTY_BLOCK_ID,
  emptyCommit,
  GO_ZERO_TIME,
  headerJson,
  hexToBase64,
  hexToUpper,
  int,
  okTxResult,
  refusedTxResult,
  rfc3339,
  txProofJson,
  upperHex,
  validatorJson,
} from './encode.js'
import { checkParams, type ParamSpec, type ParamsOf } from './params.js'
import { subscriptionOf, txSearchOf } from './query.js'

/** The version `status` reports: CometBFT clients pick their protocol by it (cosmjs: 0.38 → Comet38Client). */
export const COMET_VERSION = '0.38.0'

/** Blocks one `blockchain` call returns, as CometBFT. */
const BLOCKCHAIN_LIMIT = 20
/** Paging of `validators`, `tx_search` and `unconfirmed_txs`, as CometBFT. */
const PER_PAGE = { default: 30, max: 100 } as const
/** Final blocks are immutable: the translations of recent ones are kept. */
const BLOCK_CACHE_SIZE = 64

/**
 * The CheckTx code of each native refusal of a tx (docs/RPC.md): code n stands for the native
 * error -32000-n, and a tx that does not decode is 11 (TX_INVALID). Any other native error (the
 * node is shutting down, its disk is full) stays a JSON-RPC error: it is not the tx's fault.
 */
const CHECK_TX_CODES: ReadonlyMap<number, number> = new Map([
  [RpcErrorCode.TX_INVALID_SIGNATURE, 1],
  [RpcErrorCode.TX_NONCE_USED, 2],
  [RpcErrorCode.TX_NONCE_UNAVAILABLE, 3],
  [RpcErrorCode.TX_WRONG_CHAIN, 4],
  [RpcErrorCode.MEMPOOL_FULL, 5],
  [RpcErrorCode.TX_TOO_LARGE, 6],
  [RpcErrorCode.TX_DROPPED, 9],
  [RpcErrorCode.TX_INVALID, 11],
  [RpcErrorCode.INVALID_PARAMS, 11],
])

/** CometBFT's message when broadcast_tx_commit's wait ends. */
const COMMIT_TIMEOUT_MESSAGE = 'timed out waiting for tx to be included in a block'

export interface CometDeps {
  backend: RpcBackend
  /** the native method table (../methods.ts): the broadcasts run through it */
  native: ReadonlyMap<string, RpcMethod>
  logger: Logger
}

function internal(message: string): RpcError {
  return new RpcError(RpcErrorCode.INTERNAL_ERROR, message)
}

function invalidParams(message: string): RpcError {
  return new RpcError(RpcErrorCode.INVALID_PARAMS, `invalid params: ${message}`)
}

/** CometBFT's `page` / `per_page` rule: page 1.., and an error beyond the last page. */
function paginate<T>(items: readonly T[], page: number | undefined, perPage: number | undefined): T[] {
  const size = Math.min(Math.max(perPage ?? PER_PAGE.default, 1), PER_PAGE.max)
  const pages = Math.max(1, Math.ceil(items.length / size))
  const p = page ?? 1
  if (p < 1 || p > pages) throw invalidParams(`page should be within [1, ${pages}] range, given ${p}`)
  return items.slice((p - 1) * size, p * size)
}

function cometMethod<S extends ParamSpec>(
  spec: S,
  run: (params: ParamsOf<S>, ctx: CallContext) => unknown,
  wsOnly = false,
): RpcMethod {
  const handler: MethodHandler = async (raw, ctx) => {
    if (wsOnly && ctx.session === undefined) {
      throw new RpcError(RpcErrorCode.METHOD_NOT_FOUND, 'only available over WebSocket at /comet/websocket')
    }
    return await run(checkParams(spec, raw, ctx.fromUri === true), ctx)
  }
  return { handler, params: Object.keys(spec), wsOnly }
}

function sessionOf(ctx: CallContext): SubscriptionSession {
  if (ctx.session === undefined) throw new Error('subscription method called without a WebSocket session')
  return ctx.session
}

/** The translation of one final block, with what its child needs of it. */
interface BlockEntry {
  block: BlockResult
  blockId: CometBlockId
  /** bytes of the encoded block */
  size: number
}

/** What CometBFT's clients see of the node: every method, and the events of /comet/websocket. */
export class CometApi {
  readonly methods: ReadonlyMap<string, RpcMethod>
  readonly events: EventFormat
  private readonly backend: RpcBackend
  private readonly native: ReadonlyMap<string, RpcMethod>
  private readonly logger: Logger
  private readonly blocks = new Map<number, Promise<BlockEntry>>()
  private validatorList: readonly ValidatorInfo[] | undefined
  /** each event translated once, whichever subscriptions want it */
  private readonly newBlockText = new WeakMap<BlockResult, Promise<{ data: string; events: string }>>()
  private readonly txText = new WeakMap<TxEvent, Promise<{ data: string; events: string } | undefined>>()

  constructor(deps: CometDeps) {
    this.backend = deps.backend
    this.native = deps.native
    this.logger = deps.logger
    this.methods = this.table()
    this.events = {
      writer: (sub) => {
        const prefix = `{"jsonrpc":"2.0","id":${JSON.stringify(sub.requestId)},"result":{"query":${JSON.stringify(sub.query)},"data":`
        return (data, _json) => {
          const text =
            sub.event === 'NewBlock' ? this.newBlockEvent(data as BlockResult) : this.txEvent(data as TxEvent)
          return text.then((t) => (t === undefined ? undefined : `${prefix}${t.data},"events":${t.events}}}`))
        }
      },
    }
  }

  private table(): ReadonlyMap<string, RpcMethod> {
    const height = { height: 'int' } as const
    const tx = { tx: 'bytes' } as const
    const table: Record<string, RpcMethod> = {
      health: cometMethod({}, () => ({})),
      status: cometMethod({}, () => this.status()),
      net_info: cometMethod({}, () => this.netInfo()),
      abci_info: cometMethod({}, () => this.abciInfo()),
      abci_query: cometMethod({ path: 'string', data: 'hex', height: 'int', prove: 'bool' }, (p) =>
        this.abciQuery(p.path, p.data, p.height, p.prove),
      ),
      block: cometMethod(height, async (p) =>
        this.blockResponse(await this.entry(await this.heightOf(p.height))),
      ),
      block_by_hash: cometMethod({ hash: 'bytes' }, (p) => this.blockByHash(p.hash)),
      blockchain: cometMethod({ minHeight: 'int', maxHeight: 'int' }, (p) =>
        this.blockchain(p.minHeight, p.maxHeight),
      ),
      block_results: cometMethod(height, async (p) => this.blockResults(await this.heightOf(p.height))),
      commit: cometMethod(height, async (p) => this.commit(await this.heightOf(p.height))),
      validators: cometMethod({ height: 'int', page: 'int', per_page: 'int' }, (p) =>
        this.validators(p.height, p.page, p.per_page),
      ),
      tx: cometMethod({ hash: 'bytes', prove: 'bool' }, (p) => this.tx(p.hash, p.prove)),
      tx_search: cometMethod(
        { query: 'string', prove: 'bool', page: 'int', per_page: 'int', order_by: 'string' },
        (p) => this.txSearch(p.query, p.prove, p.page, p.per_page, p.order_by),
      ),
      unconfirmed_txs: cometMethod({ limit: 'int' }, (p) => this.unconfirmedTxs(p.limit)),
      num_unconfirmed_txs: cometMethod({}, () => this.numUnconfirmedTxs()),
      broadcast_tx_async: cometMethod(tx, (p, ctx) => this.broadcast('broadcast_tx_async', p.tx, ctx)),
      broadcast_tx_sync: cometMethod(tx, (p, ctx) => this.broadcast('broadcast_tx_sync', p.tx, ctx)),
      broadcast_tx_commit: cometMethod(tx, (p, ctx) => this.broadcastCommit(p.tx, ctx)),
      subscribe: cometMethod({ query: 'string' }, (p, ctx) => this.subscribe(p.query, ctx), true),
      unsubscribe: cometMethod({ query: 'string' }, (p, ctx) => this.unsubscribe(p.query, ctx), true),
      unsubscribe_all: cometMethod(
        {},
        (_p, ctx) => {
          if (sessionOf(ctx).unsubscribeAll().unsubscribed === 0) throw internal('subscription not found')
          return {}
        },
        true,
      ),
    }
    return new Map(Object.entries(table))
  }

  // ---- shared reads ----

  /** The validator set (fixed at genesis, so read once). */
  private async validatorSet(): Promise<readonly ValidatorInfo[]> {
    this.validatorList ??= (await this.backend.validators()).validators
    return this.validatorList
  }

  private async tip(): Promise<number> {
    return (await this.backend.status()).sync_info.latest_block_height
  }

  /** A requested height, CometBFT's way: absent is the latest; 0 and above the tip are errors. */
  private async heightOf(requested: number | undefined): Promise<number> {
    const tip = await this.tip()
    if (requested === undefined) {
      if (tip === 0) throw internal('no blocks yet: the chain is at its genesis (height 0)')
      return tip
    }
    if (requested === 0) throw internal('height must be greater than 0, but got 0')
    if (requested > tip) {
      throw internal(`height ${requested} must be less than or equal to the current blockchain height ${tip}`)
    }
    return requested
  }

  /**
   * A final block (height 0 is genesis) and its BlockID, from the cache or the backend; concurrent
   * asks for one height share one read.
   */
  private entry(height: number): Promise<BlockEntry> {
    const cached = this.blocks.get(height)
    if (cached !== undefined) return cached
    const read = Promise.resolve(this.backend.block({ by: 'height', height })).then((block) => {
      if (block === null) throw internal(`height ${height} is not available`)
      return { block, ...blockIdOf(block) }
    })
    this.cache(height, read)
    return read
  }

  /** Caches a final block's translation from the block itself (final blocks never change). */
  private remember(block: BlockResult): Promise<BlockEntry> {
    const height = block.header.height
    const cached = this.blocks.get(height)
    if (cached !== undefined) return cached
    const entry = Promise.resolve({ block, ...blockIdOf(block) })
    this.cache(height, entry)
    return entry
  }

  private cache(height: number, entry: Promise<BlockEntry>): void {
    this.blocks.set(height, entry)
    // a failed read is not kept: the next ask tries again
    entry.catch(() => {
      if (this.blocks.get(height) === entry) this.blocks.delete(height)
    })
    if (this.blocks.size > BLOCK_CACHE_SIZE) {
      const oldest = this.blocks.keys().next().value
      if (oldest !== undefined) this.blocks.delete(oldest)
    }
  }

  /** The certificate of `entry` as CometBFT's Commit (empty for genesis, which has none). */
  private async commitOf(entry: BlockEntry) {
    const { block, blockId } = entry
    if (block.commit === null) return emptyCommit(block.header.height)
    return commitJson(block.commit, blockId, await this.validatorSet(), block.header.timestamp)
  }

  /**
   * The header, with last_block_id the parent's BlockID (for block 1, the genesis block's: it
   * is its parent, though CometBFT has none), and the block with last_commit the parent's
   * certificate (empty for block 1).
   */
  private async headerOf(entry: BlockEntry) {
    const height = entry.block.header.height
    const parent = height === 0 ? undefined : await this.entry(height - 1)
    return { parent, header: headerJson(entry.block.header, parent?.blockId ?? EMPTY_BLOCK_ID) }
  }

  private async blockResponse(entry: BlockEntry) {
    const { parent, header } = await this.headerOf(entry)
    return {
      block_id: entry.blockId,
      block: {
        header,
        data: { txs: entry.block.txs.map(hexToBase64) },
        evidence: { evidence: [] },
        last_commit: parent === undefined ? emptyCommit(0) : await this.commitOf(parent),
      },
    }
  }

  // ---- methods ----

  private async status() {
    const [st, validators] = await Promise.all([this.backend.status(), this.validatorSet()])
    const own = publicKeyOfPeerId(st.node_info.peer_id)
    if (own === undefined) throw new Error(`peer id ${st.node_info.peer_id} holds no Ed25519 key`)
    const isValidator = validators.some((v) => v.peer_id === st.node_info.peer_id)
    const tip = st.sync_info.latest_block_height
    const earliest = tip >= 1 ? await this.entry(1) : undefined
    return {
      node_info: {
        protocol_version: { p2p: '0', block: '0', app: '0' },
        id: addressOf(own).toLowerCase(),
        listen_addr: st.node_info.listen_addrs[0] ?? 'none',
        network: st.node_info.chain_id,
        version: COMET_VERSION,
        channels: '',
        moniker: st.node_info.peer_id,
        other: { tx_index: 'on', rpc_address: '', pbft_node_version: st.node_info.version },
      },
      sync_info: {
        latest_block_hash: hexToUpper(st.sync_info.latest_block_hash),
        latest_app_hash: hexToUpper(st.sync_info.latest_app_hash),
        latest_block_height: int(tip),
        latest_block_time: rfc3339(st.sync_info.latest_block_time),
        earliest_block_hash: earliest === undefined ? '' : earliest.blockId.hash,
        earliest_app_hash: earliest === undefined ? '' : hexToUpper(earliest.block.header.app_hash),
        earliest_block_height: earliest === undefined ? '0' : '1',
        earliest_block_time: earliest === undefined ? GO_ZERO_TIME : rfc3339(earliest.block.header.timestamp),
        catching_up: st.sync_info.catching_up,
      },
      validator_info: validatorJson(own, isValidator ? 1 : 0),
    }
  }

  private async netInfo() {
    const [info, st] = await Promise.all([this.backend.netInfo(), this.backend.status()])
    return {
      listening: info.listening,
      listeners: info.listeners,
      n_peers: int(info.n_peers),
      peers: info.peers.map((p) => {
        const key = publicKeyOfPeerId(p.peer_id)
        const ip = /^\/ip[46]\/([^/]+)/.exec(p.addrs[0] ?? '')?.[1] ?? ''
        return {
          node_info: {
            protocol_version: { p2p: '0', block: '0', app: '0' },
            id: key === undefined ? '' : addressOf(key).toLowerCase(),
            listen_addr: p.addrs[0] ?? '',
            network: st.node_info.chain_id,
            version: '',
            channels: '',
            moniker: p.peer_id,
            other: { tx_index: '', rpc_address: '' },
          },
          is_outbound: p.direction === 'outbound',
          remote_ip: ip,
        }
      }),
    }
  }

  private async abciInfo() {
    const st = await this.backend.status()
    return {
      response: {
        data: 'pbft-node kv',
        version: st.node_info.version,
        app_version: '0',
        last_block_height: int(st.sync_info.latest_block_height),
        last_block_app_hash: hexToBase64(st.sync_info.latest_app_hash),
      },
    }
  }

  /** The KV store: `data` is the key's UTF-8 bytes, `path` empty or "/key" (docs/RPC.md). */
  private async abciQuery(
    path: string | undefined,
    data: Uint8Array | undefined,
    height?: number,
    prove?: boolean,
  ) {
    if (path !== undefined && path !== '' && path !== '/key') {
      throw invalidParams(`path: ${JSON.stringify(path.slice(0, 64))} is not served; use "/key" (or none)`)
    }
    if (prove === true) throw invalidParams('prove: the KV store gives no proofs')
    const bytes = data ?? new Uint8Array()
    let key: string
    try {
      key = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
    } catch {
      throw invalidParams(`data: the key is not valid UTF-8 (${bytes.length} bytes); KV keys are UTF-8 text`)
    }
    const latest = await this.tip()
    if (height !== undefined && height !== 0 && height !== latest) {
      throw invalidParams(`height: only the latest state (height ${latest}) is kept; give 0 or none`)
    }
    const result = await this.backend.query(key)
    return {
      response: {
        code: 0,
        log: result.value === null ? 'does not exist' : 'exists',
        info: '',
        index: '0',
        key: base64(bytes),
        value: result.value === null ? null : base64(new TextEncoder().encode(result.value)),
        proofOps: null,
        height: int(result.height),
        codespace: '',
      },
    }
  }

  private async blockByHash(hash: Uint8Array | undefined) {
    if (hash === undefined || hash.length !== 32) throw invalidParams('hash: must be 32 bytes')
    const block = await this.backend.block({ by: 'hash', hash: toHex(hash) })
    // CometBFT answers an unknown hash with a null block
    if (block === null || block.header.height === 0) return { block_id: EMPTY_BLOCK_ID, block: null }
    return this.blockResponse(await this.entry(block.header.height))
  }

  /** CometBFT's rule: the latest 20 at most up to maxHeight, from minHeight (default 1), descending. */
  private async blockchain(minHeight: number | undefined, maxHeight: number | undefined) {
    const tip = await this.tip()
    let min = minHeight === undefined || minHeight === 0 ? 1 : minHeight
    const max = Math.min(tip, maxHeight === undefined || maxHeight === 0 ? tip : maxHeight)
    min = Math.max(min, max - BLOCKCHAIN_LIMIT + 1)
    if (min > max) throw internal(`min height ${min} can't be greater than max height ${max}`)
    const metas = []
    for (let h = max; h >= min; h--) {
      const entry = await this.entry(h)
      const { header } = await this.headerOf(entry)
      metas.push({
        block_id: entry.blockId,
        block_size: int(entry.size),
        header,
        num_txs: int(entry.block.txs.length),
      })
    }
    return { last_height: int(tip), block_metas: metas }
  }

  /** The app hash after block `height`: the next header's, or the latest state's at the tip. */
  private async appHashAfter(height: number): Promise<string> {
    const st = await this.backend.status()
    if (st.sync_info.latest_block_height <= height) return hexToBase64(st.sync_info.latest_app_hash)
    return hexToBase64((await this.entry(height + 1)).block.header.app_hash)
  }

  private async finalizeResult(entry: BlockEntry) {
    return {
      events: [],
      tx_results: entry.block.txs.map(() => okTxResult()),
      validator_updates: [],
      consensus_param_updates: null,
      app_hash: await this.appHashAfter(entry.block.header.height),
    }
  }

  /** CometBFT's ResultBlockResults: the same as the NewBlock event's, under other names. */
  private async blockResults(height: number) {
    const r = await this.finalizeResult(await this.entry(height))
    return {
      height: int(height),
      txs_results: r.tx_results,
      finalize_block_events: r.events,
      validator_updates: r.validator_updates,
      consensus_param_updates: r.consensus_param_updates,
      app_hash: r.app_hash,
    }
  }

  private async commit(height: number) {
    const entry = await this.entry(height)
    const { header } = await this.headerOf(entry)
    return { signed_header: { header, commit: await this.commitOf(entry) }, canonical: true }
  }

  private async validators(
    height: number | undefined,
    page: number | undefined,
    perPage: number | undefined,
  ) {
    const at = height === undefined ? await this.tip() : await this.heightOf(height)
    const all = await this.validatorSet()
    const shown = paginate(all, page, perPage)
    return {
      block_height: int(at),
      validators: shown.map((v) => validatorJson(fromHex(v.public_key))),
      count: int(shown.length),
      total: int(all.length),
    }
  }

  /** A final tx as CometBFT's ResultTx, with its Merkle proof against the block's data_hash if asked. */
  private async txResponse(
    tx: { hash: Hex; height: number; index: number; tx: Hex },
    prove: boolean | undefined,
  ) {
    const proof =
      prove === true
        ? txProofJson(
            (await this.entry(tx.height)).block.txs.map((t) => fromHex(t)),
            tx.index,
          )
        : undefined
    return {
      hash: hexToUpper(tx.hash),
      height: int(tx.height),
      index: tx.index,
      tx_result: okTxResult(),
      tx: hexToBase64(tx.tx),
      ...(proof === undefined ? {} : { proof }),
    }
  }

  private async finalTx(
    hash: Hex,
    prove?: boolean,
  ): Promise<Awaited<ReturnType<CometApi['txResponse']>> | undefined> {
    const tx = await this.backend.tx(hash)
    if (tx === null || tx.status !== 'final' || tx.height === null || tx.index === null) return undefined
    return await this.txResponse({ hash: tx.hash, height: tx.height, index: tx.index, tx: tx.tx }, prove)
  }

  private async tx(hash: Uint8Array | undefined, prove: boolean | undefined) {
    if (hash === undefined || hash.length !== 32) throw invalidParams('hash: must be 32 bytes')
    const hex = toHex(hash)
    const found = await this.finalTx(hex, prove)
    if (found !== undefined) return found
    const known = await this.backend.tx(hex)
    const why =
      known === null ? '' : ` (it is ${known.status}${known.reason === undefined ? '' : `: ${known.reason}`})`
    throw internal(`tx (${upperHex(hash)}) not found${why}`)
  }

  private async txSearch(
    query: string | undefined,
    prove: boolean | undefined,
    page: number | undefined,
    perPage: number | undefined,
    orderBy: string | undefined,
  ) {
    if (orderBy !== undefined && orderBy !== '' && orderBy !== 'asc' && orderBy !== 'desc') {
      throw invalidParams('order_by: expected "asc" or "desc"')
    }
    const search = txSearchOf(query)
    let found: { hash: Hex; height: number; index: number; tx: Hex }[] = []
    if (search.by === 'hash') {
      const tx = await this.backend.tx(search.hash)
      if (tx !== null && tx.status === 'final' && tx.height !== null && tx.index !== null) {
        found = [{ hash: tx.hash, height: tx.height, index: tx.index, tx: tx.tx }]
      }
    } else if (search.height >= 1 && search.height <= (await this.tip())) {
      const { block } = await this.entry(search.height)
      found = block.txs.map((tx, index) => ({
        hash: toHex(txHash(fromHex(tx))),
        height: search.height,
        index,
        tx,
      }))
    }
    if (orderBy === 'desc') found.reverse()
    const shown = paginate(found, page, perPage)
    return {
      txs: await Promise.all(shown.map((tx) => this.txResponse(tx, prove))),
      total_count: int(found.length),
    }
  }

  private async unconfirmedTxs(limit: number | undefined) {
    const r = await this.backend.unconfirmedTxs(
      Math.min(Math.max(limit ?? PER_PAGE.default, 1), PER_PAGE.max),
    )
    return {
      n_txs: int(r.n_txs),
      total: int(r.total),
      total_bytes: int(r.total_bytes),
      txs: r.txs.map(hexToBase64),
    }
  }

  private async numUnconfirmedTxs() {
    const r = await this.backend.numUnconfirmedTxs()
    return { n_txs: int(r.n_txs), total: int(r.total), total_bytes: int(r.total_bytes), txs: null }
  }

  /** A native method's call, for the broadcasts: its result, or the CheckTx code of its refusal. */
  private async callNative(
    name: string,
    tx: Uint8Array,
    ctx: CallContext,
  ): Promise<{ ok: true; result: unknown } | { ok: false; code: number; log: string }> {
    const method = this.native.get(name)
    if (method === undefined) throw new Error(`no native method ${name}`)
    try {
      return { ok: true, result: await method.handler({ tx: toHex(tx) }, { ...ctx, fromUri: false }) }
    } catch (err) {
      const code = err instanceof RpcError ? CHECK_TX_CODES.get(err.code) : undefined
      if (code === undefined || !(err instanceof RpcError)) throw err
      return { ok: false, code, log: err.message }
    }
  }

  private async broadcast(
    name: 'broadcast_tx_async' | 'broadcast_tx_sync',
    tx: Uint8Array | undefined,
    ctx: CallContext,
  ) {
    if (tx === undefined) throw invalidParams('tx: missing')
    const hash = upperHex(txHash(tx))
    const outcome = await this.callNative(name, tx, ctx)
    if (!outcome.ok) return { ...refusedTxResult(outcome.code, outcome.log), hash }
    const status = (outcome.result as { status?: string }).status
    if (status === 'dropped') {
      return { ...refusedTxResult(9, 'tx was dropped from the mempool and is not re-admitted'), hash }
    }
    return { ...okTxResult(), log: status === 'final' ? 'tx is already final' : '', hash }
  }

  private async broadcastCommit(tx: Uint8Array | undefined, ctx: CallContext) {
    if (tx === undefined) throw invalidParams('tx: missing')
    const hash = upperHex(txHash(tx))
    let outcome: Awaited<ReturnType<CometApi['callNative']>>
    try {
      outcome = await this.callNative('broadcast_tx_commit', tx, ctx)
    } catch (err) {
      if (err instanceof RpcError && err.code === RpcErrorCode.TIMEOUT) throw internal(COMMIT_TIMEOUT_MESSAGE)
      throw err
    }
    if (!outcome.ok) {
      // dropped after it was admitted: CheckTx passed, it never executed
      if (outcome.code === 9) {
        return { check_tx: okTxResult(), tx_result: refusedTxResult(9, outcome.log), hash, height: '0' }
      }
      return {
        check_tx: refusedTxResult(outcome.code, outcome.log),
        tx_result: okTxResult(),
        hash,
        height: '0',
      }
    }
    const receipt = outcome.result as TxReceipt
    return { check_tx: okTxResult(), tx_result: okTxResult(), hash, height: int(receipt.height) }
  }

  private subscribe(query: string | undefined, ctx: CallContext) {
    const session = sessionOf(ctx)
    const { event, hash } = subscriptionOf(query)
    const text = query as string
    if (session.subscribed(text)) throw internal('already subscribed')
    session.subscribe(event, hash, ctx.id ?? null, text)
    return {}
  }

  private unsubscribe(query: string | undefined, ctx: CallContext) {
    if (query === undefined) throw invalidParams('query: missing')
    if (sessionOf(ctx).unsubscribe({ query }).unsubscribed === 0) throw internal('subscription not found')
    return {}
  }

  // ---- events ----

  private newBlockEvent(block: BlockResult): Promise<{ data: string; events: string }> {
    let text = this.newBlockText.get(block)
    if (text === undefined) {
      text = (async () => {
        // the event carries the block: no read, and its parent is cached from the previous event
        const entry = await this.remember(block)
        const response = await this.blockResponse(entry)
        const value = {
          block: response.block,
          block_id: response.block_id,
          result_finalize_block: await this.finalizeResult(entry),
        }
        return {
          data: JSON.stringify({ type: 'tendermint/event/NewBlock', value }),
          events: JSON.stringify({ 'tm.event': ['NewBlock'] }),
        }
      })()
      this.newBlockText.set(block, text)
    }
    return text
  }

  /**
   * A final tx's event, its bytes from its block (one read per block, cached, however many txs it
   * has); a dropped tx has no event in CometBFT, so it is skipped (undefined).
   */
  private txEvent(event: TxEvent): Promise<{ data: string; events: string } | undefined> {
    let text = this.txText.get(event)
    if (text === undefined) {
      text = (async () => {
        if (event.status !== 'final') return undefined
        const tx = (await this.entry(event.height)).block.txs[event.index]
        if (tx === undefined || toHex(txHash(fromHex(tx))) !== event.hash) {
          this.logger.warn(
            { hash: event.hash, height: event.height },
            'rpc: a final tx is not where its event says; its comet event is skipped',
          )
          return undefined
        }
        const hash = hexToUpper(event.hash)
        const height = int(event.height)
        const value = { TxResult: { height, index: event.index, tx: hexToBase64(tx), result: okTxResult() } }
        return {
          data: JSON.stringify({ type: 'tendermint/event/Tx', value }),
          events: JSON.stringify({ 'tm.event': ['Tx'], 'tx.hash': [hash], 'tx.height': [height] }),
        }
      })()
      this.txText.set(event, text)
    }
    return text
  }
}
