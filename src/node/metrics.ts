import { createServer, type Server } from 'node:http'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { MempoolErrorCode } from '../mempool/errors.js'
import { parseHostPort } from './config.js'

/** Seconds buckets for consensus phases and block intervals: a loopback phase takes milliseconds. */
const PHASE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** Why the view moved (docs/MONITORING.md): the kind of event whose step moved it. */
export type ViewChangeCause = 'timeout' | 'view_change_votes' | 'new_view' | 'certificate' | 'other'

/** The phases timed per height and view (docs/MONITORING.md "Chain and consensus"). */
export type ConsensusPhase = 'pre_prepare_to_prepared' | 'prepared_to_committed'

export interface NodeMetricsInit {
  /** every series carries it as the `chain_id` label */
  readonly chainId: string
  /** genesis validators: pbft_validator_missed_certificates_total has one series per index below it */
  readonly validatorCount?: number
  /**
   * metrics.enabled: also collect the process/event-loop metrics (prom-client's defaults) and
   * libp2p's (@libp2p/prometheus-metrics) — both cost something, so only when someone scrapes
   */
  readonly collect?: boolean
}

/**
 * Prometheus metrics of one node, in a registry of its own (several nodes in one process never
 * share a series), each carrying `chain_id`. Names carry their unit; docs/MONITORING.md lists every
 * one and a test keeps the two in step.
 */
export class NodeMetrics {
  readonly registry = new Registry()
  readonly collecting: boolean
  readonly validatorCount: number
  readonly height: Gauge
  readonly view: Gauge
  readonly viewChanges: Counter<'cause'>
  readonly evidence: Counter<'kind'>
  readonly evidenceRefused: Counter<'reason'>
  readonly evidenceStored: Gauge
  readonly validatorsProvenFaulty: Gauge
  readonly consensusQueue: Gauge
  readonly consensusShed: Counter
  readonly commitLatency: Histogram
  readonly blockTxs: Histogram
  readonly blockInterval: Histogram
  readonly phaseDuration: Histogram<'phase'>
  readonly certificateMissing: Gauge
  readonly validatorMissed: Counter<'validator'>
  readonly mempoolTxs: Gauge
  readonly mempoolBytes: Gauge
  readonly mempoolRejections: Counter<'reason'>
  readonly peers: Gauge
  readonly gossipMessages: Counter<'topic' | 'result' | 'reason'>
  readonly compactProposals: Counter<'outcome'>
  readonly txFetchBytes: Counter
  readonly syncedBlocks: Counter
  readonly syncTarget: Gauge
  readonly catchingUp: Gauge
  readonly rpcRequests: Counter<'method' | 'outcome'>
  readonly rpcDuration: Histogram<'method' | 'outcome'>
  readonly gossipReceived: Counter<'topic' | 'stage'>
  readonly gossipReceivedBytes: Counter<'topic' | 'stage'>

  private server: Server | undefined
  /** read when the registry is scraped (watchProvenFaulty) */
  private provenFaultyCount: () => number = () => 0
  /** read when the registry is scraped (watchConsensusQueue) */
  private consensusQueueCount: () => number = () => 0

  constructor(init: NodeMetricsInit) {
    const registers = [this.registry]
    this.registry.setDefaultLabels({ chain_id: init.chainId })
    this.collecting = init.collect ?? false
    this.validatorCount = init.validatorCount ?? 0
    if (this.collecting) collectDefaultMetrics({ register: this.registry })
    this.height = new Gauge({ name: 'pbft_height', help: 'Latest final block height', registers })
    this.view = new Gauge({ name: 'pbft_view', help: 'Current consensus view', registers })
    this.viewChanges = new Counter({
      name: 'pbft_view_changes_total',
      help: 'Views entered after the first, by what moved the view',
      labelNames: ['cause'],
      registers,
    })
    this.evidence = new Counter({
      name: 'pbft_evidence_total',
      help: 'New equivocation evidence kept (verified, not a duplicate): a validator signed two conflicting messages',
      labelNames: ['kind'],
      registers,
    })
    this.evidenceRefused = new Counter({
      name: 'pbft_evidence_refused_total',
      help: 'Equivocation evidence the evidence pool refused, by reason',
      labelNames: ['reason'],
      registers,
    })
    this.evidenceStored = new Gauge({
      name: 'pbft_evidence_stored',
      help: 'Evidence records in the evidence pool',
      registers,
    })
    const count = () => this.provenFaultyCount()
    this.validatorsProvenFaulty = new Gauge({
      name: 'pbft_validators_proven_faulty',
      help: 'Validators this node ignores and disconnects, proven faulty by its evidence (cool-down running)',
      registers,
      collect() {
        this.set(count())
      },
    })
    const queued = () => this.consensusQueueCount()
    this.consensusQueue = new Gauge({
      name: 'pbft_consensus_queue_messages',
      help: 'Peer consensus messages waiting for their engine step',
      registers,
      collect() {
        this.set(queued())
      },
    })
    this.consensusShed = new Counter({
      name: 'pbft_consensus_messages_shed_total',
      help: 'Peer consensus messages let go unprocessed because consensus.max_queued_messages were waiting (the oldest goes)',
      registers,
    })
    this.commitLatency = new Histogram({
      name: 'pbft_commit_latency_seconds',
      help: 'Time from a tx entering this mempool to its block being final here',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    })
    this.blockTxs = new Histogram({
      name: 'pbft_block_txs',
      help: 'Transactions per final block',
      buckets: [0, 1, 10, 50, 100, 500, 1000, 5000],
      registers,
    })
    this.blockInterval = new Histogram({
      name: 'pbft_block_interval_seconds',
      help: "Seconds between a final block's timestamp and its parent's",
      buckets: PHASE_BUCKETS,
      registers,
    })
    this.phaseDuration = new Histogram({
      name: 'pbft_consensus_phase_duration_seconds',
      help: 'Seconds a height spent in a consensus phase on this validator, within one view',
      labelNames: ['phase'],
      buckets: PHASE_BUCKETS,
      registers,
    })
    this.certificateMissing = new Gauge({
      name: 'pbft_certificate_missing_validators',
      help: "Validators whose COMMIT is not in the last final block's certificate",
      registers,
    })
    this.validatorMissed = new Counter({
      name: 'pbft_validator_missed_certificates_total',
      help: 'Final blocks whose certificate lacks this validator (its genesis index)',
      labelNames: ['validator'],
      registers,
    })
    this.mempoolTxs = new Gauge({ name: 'pbft_mempool_txs', help: 'Txs in the mempool', registers })
    this.mempoolBytes = new Gauge({
      name: 'pbft_mempool_bytes',
      help: 'Bytes of txs in the mempool',
      registers,
    })
    this.mempoolRejections = new Counter({
      name: 'pbft_mempool_rejections_total',
      help: 'Txs the mempool refused (RPC, gossip, journal), by reason',
      labelNames: ['reason'],
      registers,
    })
    this.peers = new Gauge({ name: 'pbft_peers', help: 'Connected libp2p peers', registers })
    this.gossipMessages = new Counter({
      name: 'pbft_gossip_messages_total',
      help: 'Gossip messages validated, by topic kind and result',
      labelNames: ['topic', 'result', 'reason'],
      registers,
    })
    this.compactProposals = new Counter({
      name: 'pbft_compact_proposals_total',
      help: 'Compact PRE-PREPAREs received and accepted, by how their block was rebuilt: local (every tx in the mempool), fetched (some fetched from peers), failed (never handed to consensus)',
      labelNames: ['outcome'],
      registers,
    })
    this.txFetchBytes = new Counter({
      name: 'pbft_tx_fetch_received_bytes_total',
      help: 'Bytes of txs fetched from peers to rebuild compact PRE-PREPAREs',
      registers,
    })
    for (const outcome of ['local', 'fetched', 'failed']) this.compactProposals.inc({ outcome }, 0)
    this.gossipReceived = new Counter({
      name: 'pbft_gossip_received_total',
      help: 'Gossip message copies received, by topic kind; stage "received" counts every copy, "validated" the first copy of each message (duplicates = received - validated)',
      labelNames: ['topic', 'stage'],
      registers,
    })
    this.gossipReceivedBytes = new Counter({
      name: 'pbft_gossip_received_bytes_total',
      help: 'Payload bytes of the gossip copies counted by pbft_gossip_received_total',
      labelNames: ['topic', 'stage'],
      registers,
    })
    this.syncedBlocks = new Counter({
      name: 'pbft_sync_blocks_total',
      help: 'Blocks fetched by block sync and applied',
      registers,
    })
    this.syncTarget = new Gauge({
      name: 'pbft_sync_target_height',
      help: 'Highest final height block sync knows of (peers tips, consensus messages)',
      registers,
    })
    this.catchingUp = new Gauge({
      name: 'pbft_catching_up',
      help: '1 while the node syncs blocks',
      registers,
    })
    this.rpcRequests = new Counter({
      name: 'pbft_rpc_requests_total',
      help: 'JSON-RPC calls (POST, GET routes, WebSocket), by method and outcome',
      labelNames: ['method', 'outcome'],
      registers,
    })
    this.rpcDuration = new Histogram({
      name: 'pbft_rpc_request_duration_seconds',
      help: 'Seconds to answer a JSON-RPC call, by method and outcome',
      labelNames: ['method', 'outcome'],
      buckets: RPC_BUCKETS,
      registers,
    })
    // Series that exist from the start, so a dashboard shows 0 rather than "no data".
    for (const cause of ['timeout', 'view_change_votes', 'new_view', 'certificate'] as const)
      this.viewChanges.inc({ cause }, 0)
    for (let i = 0; i < this.validatorCount; i++) this.validatorMissed.inc({ validator: String(i) }, 0)
  }

  /** One answered RPC call; `method` is a known method's name or 'unknown' (src/rpc/jsonrpc.ts). */
  rpcCall(method: string, ok: boolean, seconds: number): void {
    const labels = { method, outcome: ok ? 'ok' : 'error' }
    this.rpcRequests.inc(labels)
    this.rpcDuration.observe(labels, seconds)
  }

  mempoolRejected(reason: MempoolErrorCode): void {
    this.mempoolRejections.inc({ reason })
  }

  /** Where pbft_validators_proven_faulty reads its value at each scrape (the cool-downs end by themselves). */
  watchProvenFaulty(count: () => number): void {
    this.provenFaultyCount = count
  }

  watchConsensusQueue(count: () => number): void {
    this.consensusQueueCount = count
  }

  /**
   * libp2p's `metrics` option when collecting: its series go to this node's registry. The package
   * keeps one process-wide cache of metric objects and clears it for each new libp2p node, so a
   * node created later never receives an earlier node's objects (its own registry holds its own).
   */
  libp2pMetrics(): ReturnType<typeof prometheusMetrics> | undefined {
    if (!this.collecting) return undefined
    return prometheusMetrics({ registry: this.registry, collectDefaultMetrics: false })
  }

  /** Serves GET /metrics when metrics.enabled (docs/HOME.md "metrics"). */
  async start(config: { readonly enabled: boolean; readonly laddr: string }): Promise<void> {
    if (!config.enabled) return
    const { host, port } = parseHostPort(config.laddr)
    try {
      await this.serve(host, port)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      const why = code === 'EADDRINUSE' ? 'the address is already in use' : (err as Error).message
      throw new Error(`metrics.laddr ${config.laddr}: cannot serve metrics: ${why}`)
    }
  }

  async serve(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        this.registry
          .metrics()
          .then((text) => {
            res.writeHead(200, { 'content-type': this.registry.contentType })
            res.end(text)
          })
          .catch(() => {
            res.writeHead(500)
            res.end()
          })
        return
      }
      res.writeHead(404)
      res.end()
    })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => resolve())
    })
    const addr = server.address()
    return { host, port: typeof addr === 'object' && addr !== null ? addr.port : port }
  }

  async close(): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    // a scraper's keep-alive connection would hold close() open
    server.closeAllConnections()
    await closed
  }
}
