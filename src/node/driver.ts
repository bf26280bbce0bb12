import { type Awaitable, andThen, type ConsensusWal } from '../chain/consensus-wal.js'
import type { ConsensusMessage } from '../codec/consensus.js'
import type { Block, CommitCertificate } from '../codec/types.js'
import type { PbftEngine } from '../consensus/engine.js'
import type { EngineAction, EngineEvent, EngineStatus, Evidence } from '../consensus/types.js'

export type ProposalRequest = Extract<EngineAction, { type: 'request_proposal' }>

/** What the driver needs of the engine (PbftEngine; a scripted stand-in in unit tests). */
export type SteppableEngine = Pick<PbftEngine, 'step' | 'status'>

/** The one consensus timer: `start` replaces a running one. */
export interface TimerPort {
  start(ms: number, fire: () => void): void
  cancel(): void
}

/**
 * What the driver needs from the world, one narrow port per job. The node gives libp2p, LevelDB and
 * real timers; the simulator gives its seeded network, in-memory stores and fake clock. A port
 * that returns a promise is awaited before the next action (persist before send, commit in order).
 */
export interface DriverPorts {
  readonly wal: ConsensusWal
  readonly timer: TimerPort
  publish(msg: ConsensusMessage): void
  /** build a block for the request and answer later with a `proposal` event (block null if none) */
  requestProposal(request: ProposalRequest): void
  /** persist and apply a final block; the next action runs once it is done */
  commit(block: Block, certificate: CommitCertificate): Awaitable<void>
  /** fetch final blocks up to at least `height` and feed them back as `block_synced` events */
  requestSync(height: number): void
  evidence(evidence: Evidence): void
  /** called before each action; the simulator crashes a replica here by throwing */
  beforeAction?(action: EngineAction, index: number): void
  /** after every completed step, with the event it stepped (metrics, logs) */
  afterStep?(status: EngineStatus, event: EngineEvent): void
  /**
   * A queued peer message was let go unprocessed: the queue held `maxQueuedMessages` messages when a
   * newer one came (DriverOptions; metrics, logs).
   */
  shed?(msg: ConsensusMessage): void
  /**
   * A port failed: the driver has stopped for good. A failed WAL or block write leaves the replica
   * unable to keep what it signed, so it must stop, never guess.
   */
  fatal(err: unknown): void
}

export interface DriverOptions {
  /**
   * Most peer messages waiting for their step (node config `consensus.max_queued_messages`). When a
   * message comes while this many wait, the oldest waiting message goes (counted by `ports.shed`):
   * a node whose CPU cannot keep up with its peers holds a bounded queue, not all they send. Losing a
   * message is a fault PBFT tolerates (safety never depends on delivery; re-sends and view change
   * restore liveness), and the freshest messages are the ones most likely still useful. Other
   * events (timers, proposals, synced blocks, start) are never shed.
   */
  readonly maxQueuedMessages?: number
}

interface QueuedEvent {
  readonly event: EngineEvent
  readonly done: (() => void) | undefined
  /** a timeout: the generation of the timer that fired it (ConsensusDriver.timerGeneration) */
  readonly timerGeneration?: number
}

/**
 * Executes the engine's actions over ports (the etcd/raft `Ready` loop). Every event runs to
 * completion — its actions in order, each awaited — before the next event is stepped, so the engine
 * sees one consistent state and a vote is in the WAL before it is sent (docs/CONSENSUS.md). Used
 * unchanged by the node and the simulator: with ports that answer at once, a step runs
 * synchronously; with LevelDB it awaits.
 */
export class ConsensusDriver {
  private readonly queue: QueuedEvent[] = []
  /** peer messages in `queue` */
  private queuedMessages = 0
  /** DriverOptions.maxQueuedMessages (Infinity: unbounded, the simulator's choice) */
  readonly maxQueuedMessages: number
  private draining = false
  private stopped = false
  /**
   * Counts the engine's `start_timer` and `cancel_timer` actions. The engine has one timer, and
   * starting or cancelling it replaces the one before; but a timer that fired while a step was
   * running (awaiting the WAL) has its timeout already queued behind that step. If the step then
   * restarts the timer (a valid PRE-PREPARE accepted, a block final), that queued timeout belongs to
   * the replaced timer and is dropped unstepped: the engine would take it for the new timer (same
   * view and height) and give up a view that was making progress.
   */
  private timerGeneration = 0
  private idleWaiters: (() => void)[] = []

  constructor(
    private readonly engine: SteppableEngine,
    private readonly ports: DriverPorts,
    options: DriverOptions = {},
  ) {
    this.maxQueuedMessages = options.maxQueuedMessages ?? Number.POSITIVE_INFINITY
    if (!(this.maxQueuedMessages >= 1)) throw new RangeError('maxQueuedMessages must be at least 1')
  }

  /** Queues an event; `done` runs once its step finished (or was skipped because the driver stopped). */
  submit(event: EngineEvent, done?: () => void): void {
    if (this.stopped) {
      done?.()
      return
    }
    if (event.type === 'message') {
      if (this.queuedMessages >= this.maxQueuedMessages) this.shedOldestMessage()
      this.queuedMessages++
    }
    this.queue.push({ event, done })
    if (!this.draining) this.drain()
  }

  /** A fired timer's timeout, stepped only if no start or cancel of the timer came after it. */
  private submitTimeout(event: EngineEvent, timerGeneration: number): void {
    if (this.stopped) return
    this.queue.push({ event, done: undefined, timerGeneration })
    if (!this.draining) this.drain()
  }

  /** peer messages waiting for their step */
  get queuedMessageCount(): number {
    return this.queuedMessages
  }

  private shedOldestMessage(): void {
    const i = this.queue.findIndex((item) => item.event.type === 'message')
    if (i < 0) return
    const [item] = this.queue.splice(i, 1) as [QueuedEvent]
    this.queuedMessages--
    item.done?.()
    if (item.event.type === 'message') this.ports.shed?.(item.event.msg)
  }

  /** The next queued event, keeping the count of queued messages. */
  private take(): QueuedEvent | undefined {
    const item = this.queue.shift()
    if (item?.event.type === 'message') this.queuedMessages--
    return item
  }

  /** Empties the queue unprocessed (stop, failure): each waiter is released. */
  private release(): void {
    const items = this.queue.splice(0)
    this.queuedMessages = 0
    for (const item of items) item.done?.()
  }

  submitAndWait(event: EngineEvent): Promise<void> {
    return new Promise((resolve) => this.submit(event, resolve))
  }

  status(): EngineStatus {
    return this.engine.status()
  }

  get isStopped(): boolean {
    return this.stopped
  }

  /**
   * No more steps: the running one (if any) finishes its current action, queued events are
   * released unprocessed. Resolves once nothing runs.
   */
  stop(): Promise<void> {
    this.stopped = true
    this.ports.timer.cancel()
    this.release()
    if (!this.draining) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  private drain(): void {
    this.draining = true
    while (!this.stopped) {
      const item = this.take()
      if (item === undefined) break
      if (item.timerGeneration !== undefined && item.timerGeneration !== this.timerGeneration) {
        item.done?.() // the timer that fired it was replaced or cancelled since
        continue
      }
      let pending: Awaitable<void>
      try {
        pending = this.step(item.event)
      } catch (err) {
        item.done?.()
        this.fail(err)
        return
      }
      if (pending instanceof Promise) {
        pending.then(
          () => {
            item.done?.()
            this.drain()
          },
          (err: unknown) => {
            item.done?.()
            this.fail(err)
          },
        )
        return
      }
      item.done?.()
    }
    this.settle()
  }

  private settle(): void {
    this.draining = false
    for (const wake of this.idleWaiters.splice(0)) wake()
  }

  private fail(err: unknown): void {
    this.stopped = true
    this.ports.timer.cancel()
    this.release()
    this.settle()
    this.ports.fatal(err)
  }

  private step(event: EngineEvent): Awaitable<void> {
    const actions = this.engine.step(event)
    return andThen(this.executeFrom(actions, 0), () => {
      this.ports.afterStep?.(this.engine.status(), event)
    })
  }

  private executeFrom(actions: readonly EngineAction[], from: number): Awaitable<void> {
    for (let i = from; i < actions.length; i++) {
      if (this.stopped) return
      const action = actions[i] as EngineAction
      this.ports.beforeAction?.(action, i)
      const pending = this.execute(action)
      if (pending instanceof Promise) {
        const next = i + 1
        return pending.then(() => this.executeFrom(actions, next))
      }
    }
  }

  private execute(action: EngineAction): Awaitable<void> {
    const ports = this.ports
    switch (action.type) {
      case 'persist':
        return ports.wal.append(action.record)
      case 'prune_wal':
        return ports.wal.retain(action.retain)
      case 'broadcast':
        ports.publish(action.msg)
        return
      case 'request_proposal':
        ports.requestProposal(action)
        return
      case 'commit':
        return ports.commit(action.block, action.certificate)
      case 'start_timer': {
        const { view, height } = action
        const generation = ++this.timerGeneration
        ports.timer.start(action.ms, () => this.submitTimeout({ type: 'timeout', view, height }, generation))
        return
      }
      case 'cancel_timer':
        this.timerGeneration++
        ports.timer.cancel()
        return
      case 'request_sync':
        ports.requestSync(action.height)
        return
      case 'evidence':
        ports.evidence(action.evidence)
        return
    }
  }
}

/** The node's timer port: one setTimeout at a time. */
export class TimeoutTimer implements TimerPort {
  private handle: NodeJS.Timeout | undefined

  start(ms: number, fire: () => void): void {
    this.cancel()
    this.handle = setTimeout(() => {
      this.handle = undefined
      fire()
    }, ms)
  }

  cancel(): void {
    if (this.handle !== undefined) clearTimeout(this.handle)
    this.handle = undefined
  }
}
