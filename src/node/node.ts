import { EventEmitter } from 'node:events'
import { KvApp } from '../app/kv-app.js'
import { verifyCertificate } from '../chain/certificate.js'
import { type Genesis, genesisValidatorSet } from '../chain/genesis.js'
import { makeGenesisBlock } from '../chain/genesis-block.js'
import { ChainStore } from '../chain/store.js'
import type { ValidatorSet } from '../chain/validators.js'
import { blockHash, encodeBlock, encodeCertificate, txHash } from '../codec/chain.js'
import {
  CONSENSUS_KINDS,
  type ConsensusKind,
  decodeConsensusMessage,
  decodeWalRecord,
  encodeConsensusMessage,
  encodeWalRecord,
  type WalRecord,
} from '../codec/consensus.js'
import { encodeTxBatch, MAX_TXS_PER_BATCH } from '../codec/tx-sign.js'
import type { Block, CommitCertificate } from '../codec/types.js'
import { PbftEngine } from '../consensus/engine.js'
import type { EngineAction, EngineEvent, Evidence } from '../consensus/types.js'
import { fromHex, sha256, toHex } from '../crypto/hash.js'
import type { NodeKey } from '../crypto/node-key.js'
import { MempoolJournal } from '../mempool/journal.js'
import { Mempool } from '../mempool/mempool.js'
import { createNetwork, type Network } from '../network/network.js'
import { createGossipValidators } from '../network/validation/index.js'
import type { RpcEventMap } from '../rpc/backend.js'
import { blockToResult } from '../rpc/convert.js'
import { createRpcServer, type RpcServer } from '../rpc/server.js'
import { buildProposal } from './block-builder.js'
import { applyFlags, type NodeConfig, type NodeFlags, parseHostPort } from './config.js'
import { loadHome } from './home.js'
import type { Logger } from './logger.js'
import { NodeMetrics } from './metrics.js'
import { NodeRpcBackend } from './rpc-backend.js'
import { MAX_CLOCK_DRIFT_MS, SpeculativeExecutions } from './speculative.js'
import { TxGossipBatcher } from './tx-gossip.js'

/** How often the node asks its peers for their tips when nothing else made it sync. */
const SYNC_POLL_MS = 2_000
const MEMPOOL_EVICT_MS = 5_000
/** How many dropped txs the node remembers for the `tx` RPC (and keeps in the mempool journal). */
const MAX_DROPPED_TXS = 10_000
/**
 * How often the oldest waiting txs are gossiped again. Tx gossip is fire-and-forget: a batch sent
 * while partitioned, or on a connection that then died, never reaches the nodes on the other side,
 * and if one of them is (or becomes) the primary, that tx and every later nonce of its sender wait
 * until the TTL. Like CometBFT's mempool reactor, which sends its mempool to every (re)connected
 * peer, we re-send what still waits; peers that already hold a tx ignore it.
 */
const MEMPOOL_REGOSSIP_MS = 3_000

const CONSENSUS_TOPICS = CONSENSUS_KINDS

export class NodeStartError extends Error {
  override name = 'NodeStartError'
}

export interface NodeOptions {
  readonly home: string
  readonly flags?: NodeFlags
  readonly logger: Logger
}

/**
 * A node: wires store, app, mempool, engine, network and RPC, and drives the engine. Every engine
 * event runs to completion (its actions executed in order, persists awaited) before the next one,
 * so the engine sees one consistent state and a vote is on disk before it is sent (SPEC §8).
 */
export class PbftNode {
  readonly events = new EventEmitter<RpcEventMap>()
  readonly metrics = new NodeMetrics()
  readonly evidence: Evidence[] = []
  catchingUp = false
  network!: Network
  private engine!: PbftEngine
  private rpc: RpcServer | undefined
  private readonly queue: { event: EngineEvent; done?: () => void }[] = []
  private draining = false
  private stopping = false
  private timer: NodeJS.Timeout | undefined
  private proposeTimer: NodeJS.Timeout | undefined
  private txsAvailableScheduled = false
  private readonly speculative: SpeculativeExecutions
  private readonly txFirstSeen = new Map<string, number>()
  private readonly droppedTxs = new Map<string, { reason: string; encoded: Uint8Array }>()
  private lastView = -1
  private lastPhase = ''
  private syncWake: (() => void) | undefined
  private syncTarget = 0
  private syncLoopDone: Promise<void> | undefined
  private evictTimer: NodeJS.Timeout | undefined
  private regossipTimer: NodeJS.Timeout | undefined
  readonly txGossip: TxGossipBatcher
  /** durable record of the txs this node acknowledged (SPEC §8, docs/PROTOCOL.md §3.8) */
  readonly journal: MempoolJournal
  readonly selfIndex: number | null

  private constructor(
    readonly config: NodeConfig,
    readonly genesis: Genesis,
    readonly nodeKey: NodeKey,
    readonly validators: ValidatorSet,
    readonly store: ChainStore,
    readonly app: KvApp,
    readonly mempool: Mempool,
    readonly log: Logger,
  ) {
    this.selfIndex = validators.byPeerId(nodeKey.peerId)?.index ?? null
    this.speculative = new SpeculativeExecutions(app, {
      chainId: genesis.chainId,
      validators,
      maxClockDriftMs: MAX_CLOCK_DRIFT_MS,
    })
    this.journal = new MempoolJournal(store, { maxDropped: MAX_DROPPED_TXS, log })
    this.txGossip = new TxGossipBatcher(
      (payload) => this.network.publish('tx', payload),
      (err) => this.log.warn({ err: String(err) }, 'tx gossip publish failed'),
    )
  }

  get chainId(): string {
    return this.genesis.chainId
  }

  get peerId(): string {
    return this.nodeKey.peerId
  }

  /** Loads the home (key, config, genesis), opens the store at genesis or its tip, and loads the app. */
  static async open(opts: NodeOptions): Promise<PbftNode> {
    const home = await loadHome(opts.home)
    const config = applyFlags(home.config, opts.flags ?? {})
    const genesis = home.genesis
    const validators = genesisValidatorSet(genesis)
    const store = await ChainStore.open(home.paths.data)
    try {
      const genesisApp = KvApp.fromGenesis(genesis.chainId, genesis.appState.kv)
      await store.init(
        makeGenesisBlock(genesis.chainId, genesis.genesisTimeMs, genesisApp.appHash()),
        genesisApp.stateEntries(),
      )
      const app = await KvApp.load(store, genesis.chainId)
      let node: PbftNode | undefined
      const mempool = new Mempool({
        chainId: genesis.chainId,
        state: app,
        now: Date.now,
        options: config.mempool,
        onDrop: (hash, reason, encoded) => node?.onTxDropped(hash, reason, encoded),
        // Verify each tx once per node: block validation (app.execute) hits this cache.
        signatureCache: app.signatures,
      })
      node = new PbftNode(config, genesis, home.nodeKey, validators, store, app, mempool, opts.logger)
      return node
    } catch (err) {
      await store.close()
      throw err
    }
  }

  async start(): Promise<void> {
    await this.restoreMempoolJournal()
    const tip = this.store.tip()
    const walEntries = await this.store.walEntries()
    const wal: WalRecord[] = []
    for (const e of walEntries) {
      try {
        wal.push(decodeWalRecord(e.value))
      } catch (err) {
        // A torn or foreign record is not ours to trust; it can only make us forget a vote, and a
        // vote is written whole (one put) before it is sent, so a corrupt one was never sent.
        this.log.warn({ key: e.key, err: String(err) }, 'ignoring undecodable WAL record')
      }
    }
    const lastCertificate = tip.height > 0 ? ((await this.store.getCertificate(tip.height)) ?? null) : null
    this.engine = new PbftEngine(
      {
        chainId: this.chainId,
        validators: this.validators,
        selfIndex: this.selfIndex,
        signer: this.selfIndex === null ? null : this.nodeKey.signer,
        timeouts: {
          viewChangeBaseMs: this.config.consensus.viewChangeTimeoutMs,
          viewChangeMaxMs: this.config.consensus.viewChangeTimeoutMaxMs,
        },
        pipelineDepth: this.config.consensus.pipelineDepth,
      },
      { validateBlock: (block, ancestors) => this.validateProposal(block, ancestors) },
      { height: tip.height, lastBlockHash: tip.hash, lastHeader: tip.header, lastCertificate, view: 0, wal },
    )

    this.network = await createNetwork({
      privateKey: this.nodeKey.privateKey,
      chainId: this.chainId,
      listen: [...this.config.p2p.listen],
      announce: [...this.config.p2p.announce],
      bootstrap: [...this.config.p2p.bootstrap],
      mdns: this.config.p2p.mdns,
      validatorPeerIds: this.validators.validators.map((v) => v.peerId).filter((p) => p !== this.peerId),
      gossipValidators: createGossipValidators({
        chainId: this.chainId,
        validators: this.validators,
        tipHeight: () => this.store.tip().height,
        currentView: () => this.engine.status().view,
        mempool: this.mempool,
        signatures: this.app.signatures,
        onTxsAdmitted: () => this.metrics.mempoolTxs.set(this.mempool.size),
      }),
      blockSource: {
        tipHeight: () => this.store.tip().height,
        tipHash: () => this.store.tip().hash,
        getBlockWithCertificate: async (height) => {
          const [block, certificate] = await Promise.all([
            this.store.getBlock(height),
            this.store.getCertificate(height),
          ])
          if (block === undefined || certificate === undefined) return undefined
          return { block: encodeBlock(block), certificate: encodeCertificate(certificate) }
        },
      },
      logger: this.log.child({ module: 'network' }),
      gossip: { seenTtlMs: gossipSeenTtlMs(this.config.consensus.viewChangeTimeoutMs) },
      metrics: {
        onGossipResult: (topic, result, reason) => this.metrics.gossipMessages.inc({ topic, result, reason }),
        onPeerCount: (n) => this.metrics.peers.set(n),
      },
    })
    for (const kind of CONSENSUS_TOPICS) {
      this.network.subscribe(kind, (data) => this.onConsensusGossip(kind, data))
    }
    this.network.subscribe('tx', () => this.scheduleTxsAvailable())
    await this.network.start()

    const backend = new NodeRpcBackend(this)
    const { host, port } = parseHostPort(this.config.rpc.laddr)
    this.rpc = createRpcServer({ host, port, backend, logger: this.log.child({ module: 'rpc' }) })
    await this.rpc.start()
    if (this.config.metrics.enabled) {
      const m = parseHostPort(this.config.metrics.laddr)
      await this.metrics.serve(m.host, m.port)
    }
    this.metrics.height.set(tip.height)
    this.evictTimer = setInterval(() => this.mempool.evictExpired(), MEMPOOL_EVICT_MS)
    this.regossipTimer = setInterval(() => this.regossipWaitingTxs(), MEMPOOL_REGOSSIP_MS)
    this.syncLoopDone = this.syncLoop()
    this.enqueue({ type: 'start' })
    if (this.mempool.size > 0) this.scheduleTxsAvailable()
    this.log.info(
      {
        peerId: this.peerId,
        chainId: this.chainId,
        height: tip.height,
        validator: this.selfIndex,
        rpc: this.rpcUrl(),
        listen: this.network.listenAddrs(),
      },
      'node started',
    )
  }

  rpcUrl(): string {
    const addr = this.rpc?.address()
    return addr === undefined ? '' : `http://${addr.host}:${addr.port}`
  }

  /** Clean shutdown: stop RPC, let the running engine step finish its writes, close libp2p and LevelDB. */
  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    this.log.info('stopping')
    if (this.timer !== undefined) clearTimeout(this.timer)
    if (this.proposeTimer !== undefined) clearTimeout(this.proposeTimer)
    if (this.evictTimer !== undefined) clearInterval(this.evictTimer)
    if (this.regossipTimer !== undefined) clearInterval(this.regossipTimer)
    this.txGossip.stop()
    await this.rpc?.stop().catch(() => undefined)
    this.syncWake?.()
    await this.syncLoopDone?.catch(() => {})
    while (this.draining) await new Promise((r) => setTimeout(r, 5))
    for (const item of this.queue.splice(0)) item.done?.()
    await Promise.resolve(this.network?.stop()).catch(() => undefined)
    await this.metrics.close()
    await this.journal.close()
    await this.store.close()
    this.log.info('stopped')
  }

  // ---------------------------------------------------------------- engine driver

  enqueue(event: EngineEvent, done?: () => void): void {
    if (this.stopping) {
      done?.()
      return
    }
    this.queue.push(done === undefined ? { event } : { event, done })
    if (!this.draining) void this.drain()
  }

  private enqueueAndWait(event: EngineEvent): Promise<void> {
    return new Promise((resolve) => this.enqueue(event, resolve))
  }

  private async drain(): Promise<void> {
    this.draining = true
    try {
      while (this.queue.length > 0 && !this.stopping) {
        const item = this.queue.shift() as { event: EngineEvent; done?: () => void }
        try {
          const actions = this.engine.step(item.event)
          await this.execute(actions)
        } finally {
          item.done?.()
        }
      }
    } catch (err) {
      // A failed WAL or block write leaves us unable to promise what we signed: stop, never guess.
      this.log.fatal({ err: String(err), stack: (err as Error).stack }, 'consensus driver failed; stopping')
      this.draining = false
      process.exitCode = 1
      void this.stop()
      return
    }
    this.draining = false
  }

  private async execute(actions: readonly EngineAction[]): Promise<void> {
    for (const action of actions) {
      switch (action.type) {
        case 'persist': {
          const bytes = encodeWalRecord(action.record)
          await this.store.walPut(walKey(bytes), bytes)
          break
        }
        case 'prune_wal': {
          // "Replace the WAL by `retain`": write what is missing first, then delete the rest, so a
          // crash in between leaves a superset (never a lost vote).
          const keep = new Map(action.retain.map((r) => [walKey(encodeWalRecord(r)), encodeWalRecord(r)]))
          const entries = await this.store.walEntries()
          const present = new Set(entries.map((e) => e.key))
          for (const [key, bytes] of keep) if (!present.has(key)) await this.store.walPut(key, bytes)
          const obsolete = entries.map((e) => e.key).filter((k) => !keep.has(k))
          if (obsolete.length > 0) await this.store.walDelete(obsolete)
          break
        }
        case 'broadcast': {
          const data = encodeConsensusMessage(action.msg)
          this.network.publish(action.msg.kind, data).catch((err: unknown) => {
            this.log.warn({ kind: action.msg.kind, err: String(err) }, 'consensus publish failed')
          })
          break
        }
        case 'request_proposal':
          this.scheduleProposal(action)
          break
        case 'commit':
          await this.commitBlock(action.block, action.certificate)
          break
        case 'start_timer': {
          if (this.timer !== undefined) clearTimeout(this.timer)
          const { view, height } = action
          this.timer = setTimeout(() => this.enqueue({ type: 'timeout', view, height }), action.ms)
          break
        }
        case 'cancel_timer':
          if (this.timer !== undefined) clearTimeout(this.timer)
          this.timer = undefined
          break
        case 'request_sync':
          this.requestSync(action.height)
          break
        case 'evidence':
          this.evidence.push(action.evidence)
          if (this.evidence.length > 256) this.evidence.shift()
          this.log.warn(
            {
              sender: action.evidence.sender,
              kind: action.evidence.kind,
              view: action.evidence.view,
              height: action.evidence.height,
            },
            'equivocation evidence: a validator signed two conflicting messages',
          )
          break
      }
    }
    const status = this.engine.status()
    this.metrics.view.set(status.view)
    // Operators (and the soak's post-mortems) need to see view changes: one line per view/phase move.
    if (status.view !== this.lastView || status.phase !== this.lastPhase) {
      this.log.info(
        { view: status.view, phase: status.phase, height: status.height, primary: status.primary },
        status.phase === 'normal' ? 'in view' : 'changing view',
      )
      this.lastView = status.view
      this.lastPhase = status.phase
    }
  }

  /** The primary waits proposeDelayMs so one block batches the txs arriving together. */
  private scheduleProposal(action: Extract<EngineAction, { type: 'request_proposal' }>): void {
    if (this.proposeTimer !== undefined) clearTimeout(this.proposeTimer)
    this.proposeTimer = setTimeout(() => {
      this.proposeTimer = undefined
      let block: Block | null = null
      // The chain below the height (pipelining: this primary's blocks not final yet) as executed here.
      const chain =
        this.selfIndex === null ? null : this.speculative.resolve(this.store.tip(), action.ancestors)
      if (chain !== null && chain.height + 1 === action.height) {
        const built = buildProposal({
          mempool: this.mempool,
          app: this.app,
          limits: this.config.consensus,
          chainId: this.chainId,
          height: action.height,
          view: action.view,
          proposer: this.nodeKey.signer.publicKey,
          parentHash: chain.hash,
          parentHeader: chain.header,
          appHash: chain.appHash,
          now: Date.now(),
          ...(chain.execution === undefined
            ? {}
            : // Pipelined (the parent is not final yet): only for a well-filled block. A small one
              // gains nothing from overlapping and costs a whole consensus round (docs/PERFORMANCE.md);
              // its txs go into the next block at the lowest height instead.
              { base: chain.execution, minTxs: Math.ceil(this.config.consensus.maxBlockTxs / 2) }),
        })
        if (built?.execution !== undefined)
          this.speculative.remember(built.block, built.execution, chain.execution)
        block = built?.block ?? null
      }
      this.enqueue({ type: 'proposal', view: action.view, height: action.height, block })
    }, this.config.consensus.proposeDelayMs)
  }

  /**
   * The engine's validateBlock: full validation (SPEC §8) on top of `ancestors` (blocks this replica
   * prepared above the committed tip, executed speculatively: pipelining).
   */
  private validateProposal(
    block: Block,
    ancestors: readonly Block[],
  ): { ok: true } | { ok: false; reason: string } {
    const v = this.speculative.validate(this.store.tip(), block, ancestors, Date.now())
    return v.ok ? { ok: true } : v
  }

  private async commitBlock(block: Block, certificate: CommitCertificate): Promise<void> {
    const hash = blockHash(block.header)
    const hex = toHex(hash)
    // The execution from this node's validation (or building) if computed on exactly the committed
    // state; else (committed from others' votes, synced, or pipelined on a parent that lost) a full
    // validation now — a certificate over an invalid block means more than f are faulty.
    const verdict = this.speculative.finalExecution(this.store.tip(), block)
    if (!verdict.ok) throw new Error(`certified block ${block.header.height} is invalid: ${verdict.reason}`)
    const { execution } = verdict
    await this.store.commitBlock(block, certificate, execution)
    this.app.apply(execution)
    this.speculative.pruneTo(block.header.height)
    const txHashes = block.txs.map(txHash)
    this.mempool.update(txHashes)
    this.journal.committed(txHashes)
    const now = Date.now()
    for (const h of txHashes) {
      const seen = this.txFirstSeen.get(toHex(h))
      if (seen !== undefined) {
        this.metrics.commitLatency.observe((now - seen) / 1000)
        this.txFirstSeen.delete(toHex(h))
      }
    }
    this.metrics.height.set(block.header.height)
    this.metrics.blockTxs.observe(block.txs.length)
    this.metrics.mempoolTxs.set(this.mempool.size)
    this.metrics.mempoolBytes.set(this.mempool.bytes)
    this.log.info(
      { height: block.header.height, view: block.header.view, txs: block.txs.length, hash: hex.slice(0, 18) },
      'finalized block',
    )
    this.events.emit('NewBlock', blockToResult(block, certificate))
    txHashes.forEach((h, index) => {
      this.events.emit('Tx', {
        status: 'final',
        hash: toHex(h),
        height: block.header.height,
        index,
        block_hash: hex,
      })
    })
    if (this.mempool.size > 0) this.scheduleTxsAvailable()
  }

  // ---------------------------------------------------------------- mempool

  /**
   * Admits a tx from a client: mempool, journal, then tx gossip. Throws MempoolError on rejection.
   * The caller acknowledges the tx once `journaled` resolves (its record is on disk, SPEC §8); a tx
   * already pending (e.g. received by gossip) is journaled too, since this node now acknowledges it.
   */
  submitTx(encoded: Uint8Array): { hash: Uint8Array; added: boolean; journaled: Promise<void> } {
    const result = this.mempool.add(encoded)
    const added = result.status === 'added'
    const admittedAt = this.mempool.admittedAt(result.hash) ?? Date.now()
    const journaled = this.journal.recordPending(result.hash, encoded, admittedAt)
    if (added) {
      this.txFirstSeen.set(toHex(result.hash), Date.now())
      this.txGossip.add(encoded)
      this.scheduleTxsAvailable()
      this.metrics.mempoolTxs.set(this.mempool.size)
    }
    return { hash: result.hash, added, journaled }
  }

  droppedTx(hash: string): { reason: string; encoded: Uint8Array } | undefined {
    return this.droppedTxs.get(hash)
  }

  private onTxDropped(hash: Uint8Array, reason: string, encoded: Uint8Array): void {
    const hex = toHex(hash)
    this.rememberDropped(hex, reason, encoded)
    this.journal.dropped(hash, reason, encoded)
    this.txFirstSeen.delete(hex)
    this.log.debug({ hash: hex, reason }, 'tx dropped')
    this.events.emit('Tx', { status: 'dropped', hash: hex, reason })
  }

  private rememberDropped(hex: string, reason: string, encoded: Uint8Array): void {
    this.droppedTxs.set(hex, { reason, encoded })
    if (this.droppedTxs.size > MAX_DROPPED_TXS) {
      const oldest = this.droppedTxs.keys().next().value
      if (oldest !== undefined) {
        this.droppedTxs.delete(oldest)
        this.journal.forget(fromHex(oldest))
      }
    }
  }

  /**
   * Before RPC serves: re-admits the txs this node acknowledged before it stopped or crashed, with
   * their original admission times, and restores the dropped ones with their reasons (SPEC §8).
   */
  private async restoreMempoolJournal(): Promise<void> {
    const report = await this.journal.load({
      isCommitted: async (hash) => (await this.store.getTxLocation(hash)) !== undefined,
      readmit: (tx, admittedAt) => void this.mempool.add(tx, admittedAt),
      restoreDropped: (hash, reason, tx) => this.rememberDropped(toHex(hash), reason, tx),
    })
    // Those whose TTL ran out while the node was down are dropped (and journaled so) now.
    this.mempool.evictExpired()
    if (report.readmitted + report.failed + report.committed + report.dropped + report.corrupt > 0) {
      this.log.info(report, 'mempool journal reloaded')
    }
  }

  private scheduleTxsAvailable(): void {
    if (this.txsAvailableScheduled) return
    this.txsAvailableScheduled = true
    setImmediate(() => {
      this.txsAvailableScheduled = false
      if (this.mempool.size > 0) this.enqueue({ type: 'txs_available' })
    })
  }

  // ---------------------------------------------------------------- gossip

  /** Re-publishes the oldest waiting txs (arrival order), one batch; see MEMPOOL_REGOSSIP_MS. */
  private regossipWaitingTxs(): void {
    const txs: Uint8Array[] = []
    let bytes = 0
    // stay well under the gossip message cap, as TxGossipBatcher does
    for (const tx of this.mempool.list(MAX_TXS_PER_BATCH)) {
      if (bytes + tx.length + 4 > 1024 * 1024) break
      txs.push(tx)
      bytes += tx.length + 4
    }
    if (txs.length === 0) return
    this.network.publish('tx', encodeTxBatch(txs)).catch((err: unknown) => {
      this.log.warn({ err: String(err) }, 'tx re-gossip failed')
    })
  }

  private onConsensusGossip(kind: ConsensusKind, data: Uint8Array): void {
    let msg: ReturnType<typeof decodeConsensusMessage>
    try {
      msg = decodeConsensusMessage(kind, data)
    } catch {
      return // already Rejected by the topic validator; unreachable for accepted messages
    }
    this.enqueue({ type: 'message', msg })
  }

  // ---------------------------------------------------------------- block sync

  private requestSync(height: number): void {
    this.syncTarget = Math.max(this.syncTarget, height)
    this.syncWake?.()
  }

  /**
   * Catch-up (SPEC §7): whenever a peer's tip or a consensus message shows final blocks above ours,
   * fetch them with their certificates, verify each certificate, and feed them to the engine —
   * not only at startup, but every time the node falls behind.
   */
  private async syncLoop(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.syncOnce()
      } catch (err) {
        this.log.warn({ err: String(err) }, 'block sync round failed')
      }
      if (this.stopping) break
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, SYNC_POLL_MS)
        this.syncWake = () => {
          clearTimeout(t)
          resolve()
        }
      })
      this.syncWake = undefined
    }
  }

  private async syncOnce(): Promise<void> {
    const tips = await this.network.peerTips(AbortSignal.timeout(5_000))
    const best = Math.max(this.syncTarget, ...tips.map((t) => t.height))
    const from = this.store.tip().height + 1
    if (best < from) {
      this.setCatchingUp(false)
      return
    }
    this.setCatchingUp(true)
    const started = Date.now()
    let applied = 0
    const verify = (block: Block, certificate: CommitCertificate): boolean => {
      try {
        verifyCertificate(certificate, this.chainId, this.validators, {
          height: block.header.height,
          blockHash: blockHash(block.header),
        })
        return true
      } catch {
        return false
      }
    }
    for await (const { block, certificate } of this.network.fetchRange(from, best, verify)) {
      if (this.stopping) break
      if (block.header.height !== this.store.tip().height + 1) continue
      await this.enqueueAndWait({ type: 'block_synced', block, certificate })
      if (this.store.tip().height === block.header.height) {
        applied++
        this.metrics.syncedBlocks.inc()
      }
      if (applied > 0 && applied % 100 === 0) {
        const rate = (applied * 1000) / Math.max(1, Date.now() - started)
        this.log.info(
          { height: this.store.tip().height, target: best, blocksPerSecond: rate.toFixed(1) },
          'catching up',
        )
      }
    }
    if (applied > 0) {
      const rate = (applied * 1000) / Math.max(1, Date.now() - started)
      this.log.info(
        { height: this.store.tip().height, target: best, applied, blocksPerSecond: rate.toFixed(1) },
        'block sync caught up',
      )
    }
    if (this.store.tip().height >= best) this.setCatchingUp(false)
  }

  private setCatchingUp(value: boolean): void {
    this.catchingUp = value
    this.metrics.catchingUp.set(value ? 1 : 0)
  }

  engineStatus() {
    return this.engine.status()
  }
}

/**
 * gossipsub drops a re-publish of identical bytes while their id is in its seen cache. The engine
 * re-sends its (deterministically signed, so identical) VIEW-CHANGE on every view timeout, and
 * waiting txs are re-gossiped every few seconds; with the usual 30 s cache those re-sends would
 * not leave the node for 30 s, and a replica that missed the first copy (partitioned, restarting)
 * would stall the view change that long. So the cache lives shorter than the first view timeout.
 * Duplicates arriving later are cheap: the engine and the mempool dedup them.
 */
export function gossipSeenTtlMs(viewChangeTimeoutMs: number): number {
  return Math.min(30_000, Math.max(500, Math.floor(viewChangeTimeoutMs * 0.75)))
}

function walKey(encodedRecord: Uint8Array): string {
  return toHex(sha256(encodedRecord)).slice(2)
}
