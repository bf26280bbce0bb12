import type { Startable } from '@libp2p/interface'
import type { NetworkLogger } from './logger.js'
import type { ReconnectOptions } from './options.js'

/** A peer to keep connected: by its configured addresses (bootstrap) or via the peer store. */
export interface ReconnectTarget {
  peerId: string
  /** full /p2p/ multiaddrs; empty ⇒ dial by peer id using the addresses libp2p has learned */
  addrs: string[]
}

interface ReconnectorComponents {
  isConnected(peerId: string): boolean
  dial(target: ReconnectTarget, signal: AbortSignal): Promise<void>
  logger: NetworkLogger
  /** injectable for deterministic tests */
  random?: () => number
  now?: () => number
}

interface TargetState {
  target: ReconnectTarget
  /** consecutive failed dials since the last success */
  failures: number
  dueAt: number
  dialing: boolean
}

/**
 * Keeps bootstrap peers and validators connected: while some target is not connected it looks every
 * `tickMs` and dials each one that is down and whose backoff has expired. The delay after the k-th
 * consecutive failure is min(maxDelay, initialDelay·factor^(k-1)) ± jitter; a success or a fresh
 * disconnect resets it. (@libp2p/bootstrap dials once and never retries, and libp2p's own reconnect
 * queue gives up after a few attempts — a validator that was down for an hour must still be
 * re-dialed.) Once every target is connected the loop stops: an idle node spends nothing here,
 * whatever the number of targets. A disconnect (or a new target) starts it again.
 */
export class Reconnector implements Startable {
  private readonly states = new Map<string, TargetState>()
  private timer: ReturnType<typeof setTimeout> | undefined
  /** when the pending timer fires (now() clock) */
  private timerAt = 0
  private abort = new AbortController()
  private readonly inflight = new Set<Promise<void>>()
  private running = false
  private readonly random: () => number
  private readonly now: () => number

  constructor(
    private readonly components: ReconnectorComponents,
    private readonly opts: ReconnectOptions,
  ) {
    this.random = components.random ?? Math.random
    this.now = components.now ?? Date.now
  }

  /** Adds a target, or merges addresses into an existing one (a validator that is also bootstrap). */
  addTarget(target: ReconnectTarget): void {
    const existing = this.states.get(target.peerId)
    if (existing !== undefined) {
      const addrs = new Set([...existing.target.addrs, ...target.addrs])
      existing.target = { peerId: target.peerId, addrs: [...addrs] }
      return
    }
    this.states.set(target.peerId, { target, failures: 0, dueAt: this.now(), dialing: false })
    this.wakeAt(this.now())
  }

  targets(): ReconnectTarget[] {
    return [...this.states.values()].map((s) => s.target)
  }

  async start(): Promise<void> {
    this.running = true
    this.abort = new AbortController()
    this.wakeAt(this.now())
  }

  /** Whether the loop is scheduled: false once every target is connected (nothing to do). */
  get looking(): boolean {
    return this.timer !== undefined
  }

  async stop(): Promise<void> {
    this.running = false
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.abort.abort()
    await Promise.allSettled([...this.inflight])
  }

  /** A target that just dropped is retried soon, with its backoff reset. */
  onPeerDisconnected(peerId: string): void {
    const s = this.states.get(peerId)
    if (s === undefined) return
    s.failures = 0
    s.dueAt = this.now() + this.opts.initialDelayMs
    this.wakeAt(s.dueAt)
  }

  onPeerConnected(peerId: string): void {
    const s = this.states.get(peerId)
    if (s !== undefined) s.failures = 0
  }

  /** The delay before the next attempt after `failures` consecutive failures. */
  backoffMs(failures: number): number {
    const base = Math.min(this.opts.maxDelayMs, this.opts.initialDelayMs * this.opts.factor ** (failures - 1))
    const jitter = 1 + this.opts.jitter * (2 * this.random() - 1)
    return Math.max(0, Math.round(base * jitter))
  }

  /** Makes the loop look no later than `at` (the loop's own cadence is `tickMs` while it runs). */
  private wakeAt(at: number): void {
    if (!this.running) return
    const delay = Math.max(0, at - this.now())
    if (this.timer !== undefined && this.timerAt <= at) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timerAt = this.now() + delay
    this.timer = setTimeout(() => this.tick(), delay)
  }

  private tick(): void {
    this.timer = undefined
    if (!this.running) return
    const now = this.now()
    let down = false
    for (const s of this.states.values()) {
      if (s.dialing) {
        down = true
        continue
      }
      if (this.components.isConnected(s.target.peerId)) continue
      down = true
      if (now >= s.dueAt) this.dial(s)
    }
    // a target that is down (or being dialed) keeps the loop going; none ⇒ sleep until an event
    if (down) this.wakeAt(now + this.opts.tickMs)
  }

  private dial(s: TargetState): void {
    s.dialing = true
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.opts.dialTimeoutMs)])
    const p = this.components
      .dial(s.target, signal)
      .then(
        () => {
          s.failures = 0
          this.components.logger.debug({ peer: s.target.peerId }, 'reconnected')
        },
        (err: unknown) => {
          s.failures++
          const delay = this.backoffMs(s.failures)
          s.dueAt = this.now() + delay
          if (this.running) {
            this.components.logger.debug(
              { peer: s.target.peerId, failures: s.failures, retryInMs: delay, err },
              'dial failed',
            )
          }
        },
      )
      .finally(() => {
        s.dialing = false
        this.inflight.delete(p)
      })
    this.inflight.add(p)
  }
}
