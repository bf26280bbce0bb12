import { EventEmitter } from 'node:events'
import { KvApp } from '../app/kv-app.js'
import { type Genesis, genesisValidatorSet } from '../chain/genesis.js'
import { makeGenesisBlock } from '../chain/genesis-block.js'
import { ChainStore } from '../chain/store.js'
import type { ValidatorSet } from '../chain/validators.js'
import type { NodeKey } from '../crypto/node-key.js'
import { SignatureMemo } from '../crypto/verify-memo.js'
import { MempoolJournal } from '../mempool/journal.js'
import { Mempool } from '../mempool/mempool.js'
import type { Network } from '../network/network.js'
import { ProvenFaulty } from '../network/validation/index.js'
import type { RpcEventMap } from '../rpc/backend.js'
import { createRpcServer, type RpcServer } from '../rpc/server.js'
import type { BlockSync } from './block-sync.js'
import { BlockCommitter } from './committer.js'
import { applyFlags, type NodeConfig, type NodeFlags, parseHostPort } from './config.js'
import { openConsensus } from './consensus.js'
import type { ConsensusDriver } from './driver.js'
import { EvidencePool } from './evidence-pool.js'
import { loadHome } from './home.js'
import { type Logger, nodeName } from './logger.js'
import { NodeMetrics } from './metrics.js'
import { type NodeNetwork, openNodeNetwork } from './node-network.js'
import { openBlockSync } from './node-sync.js'
import { BlockProposer } from './proposer.js'
import { NodeRpcBackend } from './rpc-backend.js'
import { SignaturePool } from './signature-pool.js'
import { MAX_CLOCK_DRIFT_MS, SpeculativeExecutions } from './speculative.js'
import { TxService } from './tx-service.js'

export class NodeStartError extends Error {
  override name = 'NodeStartError'
}

export interface NodeOptions {
  readonly home: string
  readonly flags?: NodeFlags
  readonly logger: Logger
}

/** What start() creates: the parts that need the network or the WAL. */
interface Running {
  readonly network: Network
  readonly net: NodeNetwork
  readonly driver: ConsensusDriver
  readonly sync: BlockSync
  readonly rpc: RpcServer
}

/**
 * A node: the composition root. It opens the home, wires store, app, mempool, engine driver,
 * network and RPC together, and starts and stops them in order. The work is done by the parts:
 * ConsensusDriver (engine actions), TxService (tx life), BlockCommitter, BlockProposer, BlockSync,
 * the gossip validators and NodeRpcBackend.
 */
export class PbftNode {
  private readonly events = new EventEmitter<RpcEventMap>()
  private readonly metrics: NodeMetrics
  private readonly selfIndex: number | null
  private readonly speculative: SpeculativeExecutions
  /** checks the tx signatures of blocks fetched ahead during catch-up, on other threads */
  private readonly signaturePool = new SignaturePool()
  private readonly journal: MempoolJournal
  private readonly mempool: Mempool
  private readonly txs: TxService
  private readonly committer: BlockCommitter
  private readonly proposer: BlockProposer
  private readonly evidence: EvidencePool
  /** validators the evidence proves faulty, ignored for p2p.faulty_validator_cooldown_ms (§2.5) */
  private readonly provenFaulty: ProvenFaulty
  private readonly log: Logger
  private running: Running | undefined
  private stopping = false

  private constructor(
    private readonly config: NodeConfig,
    private readonly genesis: Genesis,
    private readonly nodeKey: NodeKey,
    private readonly validators: ValidatorSet,
    private readonly store: ChainStore,
    private readonly app: KvApp,
    private readonly base: Logger,
  ) {
    this.log = this.moduleLog('node')
    const chainId = genesis.chainId
    this.metrics = new NodeMetrics({ chainId, validatorCount: validators.n, collect: config.metrics.enabled })
    this.selfIndex = validators.byPeerId(nodeKey.peerId)?.index ?? null
    this.speculative = new SpeculativeExecutions(app, {
      chainId,
      validators,
      maxClockDriftMs: MAX_CLOCK_DRIFT_MS,
    })
    this.mempool = new Mempool({
      chainId,
      state: app,
      now: Date.now,
      options: config.mempool,
      onDrop: (hash, reason, encoded) => this.txs.onDropped(hash, reason, encoded),
      onReject: (code) => this.metrics.mempoolRejected(code),
      onForgetDropped: (hash) => this.journal.forget(hash),
      // Verify each tx once per node: block validation (app.execute) hits this cache.
      signatureCache: app.signatures,
    })
    const mempoolLog = this.moduleLog('mempool')
    const maxDropped = this.mempool.options.maxDroppedHistory
    this.journal = new MempoolJournal(store, { maxDropped, log: mempoolLog })
    this.provenFaulty = new ProvenFaulty(config.p2p.faultyValidatorCooldownMs)
    this.metrics.watchProvenFaulty(() => this.provenFaulty.list().length)
    this.evidence = new EvidencePool({
      store,
      chainId,
      validators,
      metrics: this.metrics,
      log: this.moduleLog('evidence'),
      onProof: (validator, receivedAt) => this.provenFaulty.prove(validator, receivedAt),
    })
    this.txs = new TxService({
      mempool: this.mempool,
      journal: this.journal,
      publishTxs: (payload) => this.network().publish('tx', payload),
      onTxsAvailable: () => this.running?.driver.submit({ type: 'txs_available' }),
      isCommitted: async (hash) => (await store.getTxLocation(hash)) !== undefined,
      events: this.events,
      metrics: this.metrics,
      log: mempoolLog,
    })
    this.committer = new BlockCommitter({
      store,
      app,
      speculative: this.speculative,
      txs: this.txs,
      events: this.events,
      metrics: this.metrics,
      log: this.moduleLog('chain'),
    })
    this.proposer = new BlockProposer({
      chainId,
      store,
      app,
      mempool: this.mempool,
      speculative: this.speculative,
      signer: this.selfIndex === null ? null : nodeKey.signer,
      limits: config.consensus,
      answer: (view, height, block) => this.running?.driver.submit({ type: 'proposal', view, height, block }),
    })
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
    const store = await ChainStore.open(home.paths.data)
    try {
      const genesisApp = KvApp.fromGenesis(genesis.chainId, genesis.appState.kv)
      await store.init(
        makeGenesisBlock(genesis.chainId, genesis.genesisTimeMs, genesisApp.appHash()),
        genesisApp.stateEntries(),
      )
      const app = await KvApp.load(store, genesis.chainId)
      const log = opts.logger.child({ chain_id: genesis.chainId, node: nodeName(opts.home) })
      // One memo for the gossip validators, the engine, sync and the evidence pool: each consensus
      // signature is verified once per node (src/crypto/verify-memo.ts).
      const validators = genesisValidatorSet(genesis).withSignatureCheck(new SignatureMemo().check)
      return new PbftNode(config, genesis, home.nodeKey, validators, store, app, log)
    } catch (err) {
      await store.close()
      throw err
    }
  }

  async start(): Promise<void> {
    await this.txs.restore()
    const driver = await openConsensus({
      chainId: this.chainId,
      validators: this.validators,
      selfIndex: this.selfIndex,
      signer: this.nodeKey.signer,
      options: this.config.consensus,
      store: this.store,
      speculative: this.speculative,
      proposer: this.proposer,
      committer: this.committer,
      evidence: this.evidence,
      publish: (msg) => this.running?.net.publishConsensus(msg),
      requestSync: (height) => this.running?.sync.request(height),
      fatal: () => {
        process.exitCode = 1
        void this.stop()
      },
      metrics: this.metrics,
      log: this.moduleLog('consensus'),
    })
    const net = await openNodeNetwork({
      chainId: this.chainId,
      nodeKey: this.nodeKey,
      p2p: this.config.p2p,
      consensus: this.config.consensus,
      validators: this.validators,
      store: this.store,
      provenFaulty: this.provenFaulty,
      mempool: this.mempool,
      signatures: this.app.signatures,
      mempoolTx: (hash) => this.mempool.get(hash),
      onTxsAdmitted: () => this.txs.admitted(),
      currentView: () => driver.status().view,
      onConsensusMessage: (msg) => driver.submit({ type: 'message', msg }),
      metrics: this.metrics,
      log: this.moduleLog('network'),
    })
    const network = net.network
    const sync = openBlockSync({
      ...{ chainId: this.chainId, validators: this.validators, store: this.store, network, driver },
      ...{ signaturePool: this.signaturePool, signatures: this.app.signatures, committer: this.committer },
      ...{ metrics: this.metrics, log: this.moduleLog('sync') },
    })
    const { laddr, ...limits } = this.config.rpc
    const { host, port } = parseHostPort(laddr)
    const backend = this.rpcBackend(network)
    const onCall = this.metrics.rpcCall.bind(this.metrics)
    const rpc = createRpcServer({ host, port, backend, logger: this.moduleLog('rpc'), limits, onCall })
    this.running = { network, net, driver, sync, rpc }
    await network.start()
    await rpc.start()
    await this.metrics.start(this.config.metrics)
    const tip = this.store.tip()
    this.metrics.height.set(tip.height)
    this.txs.start()
    sync.start()
    driver.submit({ type: 'start' })
    const started = { peer: this.peerId, height: tip.height, validator: this.selfIndex, rpc: this.rpcUrl() }
    this.log.info({ ...started, listen: network.listenAddrs() }, 'node started')
  }

  rpcUrl(): string {
    const addr = this.running?.rpc.address()
    return addr === undefined ? '' : `http://${addr.host}:${addr.port}`
  }

  /** The RPC server's view of this node (also what in-process tests call). */
  rpcBackend(network: Network = this.network()): NodeRpcBackend {
    return new NodeRpcBackend({
      chainId: this.chainId,
      peerId: this.peerId,
      isValidator: this.selfIndex !== null,
      validators: this.validators,
      store: this.store,
      app: this.app,
      mempool: this.mempool,
      txs: this.txs,
      network,
      events: this.events,
      evidence: this.evidence,
      view: () => this.running?.driver.status().view ?? 0,
      catchingUp: () => this.running?.sync.catchingUp ?? false,
    })
  }

  /** Clean shutdown: stop RPC, let the running engine step finish its writes, close libp2p and LevelDB. */
  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    this.log.info('stopping')
    this.proposer.stop()
    this.txs.stop()
    const r = this.running
    if (r !== undefined) {
      await r.rpc.stop().catch(() => undefined)
      await r.sync.stop()
      await r.driver.stop()
      r.net.stop()
      await Promise.resolve(r.network.stop()).catch(() => undefined)
    }
    await this.metrics.close()
    await Promise.all([this.journal.close(), this.evidence.close(), this.signaturePool.close()])
    await this.store.close()
    this.log.info('stopped')
  }

  /** The lines of one subsystem: base fields chain_id and node, and `module` (docs/MONITORING.md "Logs"). */
  private moduleLog(module: string): Logger {
    return this.base.child({ module })
  }

  private network(): Network {
    if (this.running === undefined) throw new NodeStartError('the node is not started')
    return this.running.network
  }
}
