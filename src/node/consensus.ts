import { ConsensusWal } from '../chain/consensus-wal.js'
import type { ChainStore } from '../chain/store.js'
import type { ValidatorSet } from '../chain/validators.js'
import type { ConsensusMessage } from '../codec/consensus.js'
import { MAX_PIPELINE_DEPTH } from '../codec/limits.js'
import type { CommitCertificate } from '../codec/types.js'
import { PbftEngine } from '../consensus/engine.js'
import type { EngineEvent, EngineStatus, Evidence } from '../consensus/types.js'
import type { Ed25519Signer } from '../crypto/ed25519.js'
import type { BlockCommitter } from './committer.js'
import type { NodeConfig } from './config.js'
import { ConsensusDriver, TimeoutTimer } from './driver.js'
import type { EvidencePool } from './evidence-pool.js'
import type { Logger } from './logger.js'
import type { NodeMetrics } from './metrics.js'
import { PhaseTimer, viewChangeCause } from './metrics-consensus.js'
import type { BlockProposer } from './proposer.js'
import type { SpeculativeExecutions } from './speculative.js'

export interface ConsensusComponents {
  readonly chainId: string
  readonly validators: ValidatorSet
  /** this node's validator index, or null for an observer */
  readonly selfIndex: number | null
  readonly signer: Ed25519Signer
  readonly options: NodeConfig['consensus']
  readonly store: ChainStore
  readonly speculative: SpeculativeExecutions
  readonly proposer: BlockProposer
  readonly committer: BlockCommitter
  /** where the engine's equivocation evidence goes (reloaded here, before the engine starts) */
  readonly evidence: Pick<EvidencePool, 'load' | 'add'>
  publish(msg: ConsensusMessage): void
  requestSync(height: number): void
  /** the driver stopped on a failed write: the node must stop */
  fatal(err: unknown): void
  readonly metrics: NodeMetrics
  readonly log: Logger
}

/**
 * The node's consensus: the engine restored at the store's tip with the WAL's records, behind the
 * driver with this node's ports (LevelDB WAL, real timer, gossip, proposer, committer, sync).
 */
export async function openConsensus(c: ConsensusComponents): Promise<ConsensusDriver> {
  const { store, options, log } = c
  const wal = new ConsensusWal(store)
  const loaded = await wal.load()
  for (const bad of loaded.corrupt) log.warn(bad, 'ignoring undecodable WAL record')
  const evidence = await c.evidence.load()
  if (evidence.loaded + evidence.corrupt > 0) log.info(evidence, 'evidence pool reloaded')
  const tip = store.tip()
  const lastCertificate = tip.height > 0 ? ((await store.getCertificate(tip.height)) ?? null) : null
  const recentCertificates: CommitCertificate[] = []
  for (let h = tip.height - 1; h > 0 && h >= tip.height - (MAX_PIPELINE_DEPTH - 1); h--) {
    const cert = await store.getCertificate(h)
    if (cert !== undefined) recentCertificates.push(cert)
  }
  const engine = new PbftEngine(
    {
      chainId: c.chainId,
      validators: c.validators,
      selfIndex: c.selfIndex,
      signer: c.selfIndex === null ? null : c.signer,
      timeouts: {
        viewChangeBaseMs: options.viewChangeTimeoutMs,
        viewChangeMaxMs: options.viewChangeTimeoutMaxMs,
        perTxMs: options.viewChangeTimeoutPerTxMs,
      },
      pipelineDepth: options.pipelineDepth,
    },
    {
      // Full validation on top of `ancestors` (blocks this replica prepared above its tip: pipelining).
      validateBlock: (block, ancestors) => {
        const v = c.speculative.validate(store.tip(), block, ancestors, Date.now())
        return v.ok ? { ok: true } : v
      },
    },
    {
      height: tip.height,
      lastBlockHash: tip.hash,
      lastHeader: tip.header,
      lastCertificate,
      recentCertificates,
      view: 0,
      wal: loaded.records,
    },
  )
  const status = new StatusReporter(c.metrics, c.evidence, log)
  const phases = new PhaseTimer(c.metrics)
  const shed = new ShedReporter(c.metrics, log)
  const driver = new ConsensusDriver(
    engine,
    {
      wal,
      timer: new TimeoutTimer(),
      publish: (msg) => c.publish(msg),
      requestProposal: (req) => c.proposer.request(req),
      commit: (block, certificate) => c.committer.commit(block, certificate),
      requestSync: (height) => c.requestSync(height),
      evidence: (e) => status.evidence(e),
      beforeAction: (action) => phases.action(action),
      afterStep: (s, event) => status.update(s, event),
      shed: (msg) => shed.shed(msg),
      fatal: (err) => {
        log.fatal({ err }, 'consensus driver failed; stopping')
        c.fatal(err)
      },
    },
    { maxQueuedMessages: options.maxQueuedMessages },
  )
  c.metrics.watchConsensusQueue(() => driver.queuedMessageCount)
  return driver
}

/**
 * Counts the messages the driver's bounded queue let go (pbft_consensus_messages_shed_total) and
 * says so in the log at most once per `everyMs`, with how many went since the last line.
 */
export class ShedReporter {
  private unreported = 0
  private lastLog = Number.NEGATIVE_INFINITY

  constructor(
    private readonly metrics: Pick<NodeMetrics, 'consensusShed'>,
    private readonly log: Pick<Logger, 'warn'>,
    private readonly now: () => number = Date.now,
    private readonly everyMs = 10_000,
  ) {}

  shed(msg: ConsensusMessage): void {
    this.metrics.consensusShed.inc()
    this.unreported++
    const t = this.now()
    if (t - this.lastLog < this.everyMs) return
    this.log.warn(
      { shed: this.unreported, last: { kind: msg.kind, sender: msg.sender } },
      'consensus queue full (consensus.max_queued_messages): oldest peer messages let go unprocessed; this node cannot keep up with its peers',
    )
    this.unreported = 0
    this.lastLog = t
  }
}

/** Metrics and one log line per view/phase move (operators and post-mortems need view changes). */
export class StatusReporter {
  private last: { view: number; phase: string } = { view: -1, phase: '' }

  constructor(
    private readonly metrics: NodeMetrics,
    private readonly pool: Pick<EvidencePool, 'add'>,
    private readonly log: Logger,
  ) {}

  update(status: EngineStatus, event?: EngineEvent): void {
    this.metrics.view.set(status.view)
    const last = this.last
    if (status.view === last.view && status.phase === last.phase) return
    const cause = event === undefined ? 'other' : viewChangeCause(event)
    if (last.view >= 0 && status.view > last.view)
      this.metrics.viewChanges.inc({ cause }, status.view - last.view)
    this.log.info(
      { view: status.view, phase: status.phase, height: status.height, primary: status.primary, cause },
      status.phase === 'normal' ? 'in view' : 'changing view',
    )
    this.last = { view: status.view, phase: status.phase }
  }

  /** The pool verifies, deduplicates, counts (pbft_evidence_total) and stores (docs/CONSENSUS.md "Evidence"). */
  evidence(e: Evidence): void {
    const slot = { sender: e.sender, kind: e.kind, view: e.view, height: e.height }
    const r = this.pool.add(e)
    if (r.status === 'added')
      this.log.warn(slot, 'equivocation evidence: a validator signed two conflicting messages')
    else if (r.status === 'refused')
      // The engine verified both messages before reporting them: a refusal is a bug on our side.
      this.log.error({ ...slot, reason: r.reason }, 'equivocation evidence refused by the evidence pool')
  }
}
