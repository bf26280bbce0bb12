/**
 * Relays on demand (docs/PROTOCOL.md §2.2 "Relays on demand"). Validators are fully connected and
 * flood-publish their own messages, so a gossipsub mesh only adds duplicate copies — until a link
 * between two validators is down; then each of the two needs peers that relay the other's messages.
 * A node therefore keeps no mesh of its own while it is connected to every validator, and grafts one
 * (the configured D / Dlo / Dout) when a validator has been unreachable for `joinAfterMs`. Its peers
 * keep accepting GRAFTs (Dhi), so they relay everything to it until it leaves again: once every
 * validator has been reachable for `leaveAfterMs`, it prunes the peers it grafted.
 *
 * The policy here is pure (time and connectivity in, a decision out); RelayController applies it to
 * gossipsub, whose heartbeat reads D, Dlo, Dhi and Dout from its options every time.
 */

/** The mesh options the controller changes (the rest stay as configured). */
export interface MeshKnobs {
  D: number
  Dlo: number
  Dhi: number
  Dout: number
}

export interface RelayTimings {
  /** a validator unreachable this long makes this node graft relays */
  joinAfterMs: number
  /** every validator reachable this long makes this node let its relays go */
  leaveAfterMs: number
  /** … the first time, after start (RelayPolicy) */
  startupLeaveAfterMs: number
}

export const defaultRelayTimings: RelayTimings = {
  joinAfterMs: 2_000,
  leaveAfterMs: 30_000,
  startupLeaveAfterMs: 5_000,
}

/** how long a validator whose vote came relayed counts as not reached directly (Reachability) */
export const INDIRECT_MS = 10_000

/** message ids Reachability remembers (a few seconds of votes at full load, minutes of VIEW-CHANGEs) */
export const REACH_IDS_KEPT = 8_192

export type RelayMode = 'direct' | 'relayed'

/**
 * Kinds only their signer ever publishes, so that a first copy of one from anybody else shows the
 * signer's link to this node failing (Reachability): the votes, and VIEW-CHANGE (a replica re-sends
 * only its own, on a timeout). Not txs (any node gossips them) nor NEW-VIEW (replicas in the new view
 * re-send the primary's to one that missed it).
 */
export function signsOwnCopies(kind: string): boolean {
  return kind !== 'tx' && kind !== 'newview'
}

/** Validators this node does not reach directly, by why (Reachability). */
export interface Unreached {
  /** no libp2p connection */
  readonly disconnected: number
  /** connected, but their votes came relayed of late: the link died silently */
  readonly indirect: number
}

/**
 * Starts relayed: for a moment after start, peers are connected but do not all know yet which topics
 * this node subscribed to, and only the ones that do send it their own messages; relays from those
 * fill the gap. Leaves once every validator has been reachable for `startupLeaveAfterMs`, later for
 * `leaveAfterMs`. Joins at once on a validator whose votes come relayed (the evidence is that its
 * link has been failing for a while already), and on one without a connection once that has lasted
 * `joinAfterMs` (a reconnect may be quick).
 */
export class RelayPolicy {
  private modeNow: RelayMode = 'relayed'
  private left = false
  private missingSince: number | null = null
  private allSince: number | null = null

  constructor(private readonly timings: RelayTimings) {}

  get mode(): RelayMode {
    return this.modeNow
  }

  /** One look at the links. */
  tick(now: number, unreached: Unreached): 'join' | 'leave' | null {
    if (unreached.disconnected + unreached.indirect > 0) {
      this.allSince = null
      this.missingSince ??= now
      const due = unreached.indirect > 0 || now - this.missingSince >= this.timings.joinAfterMs
      if (this.modeNow !== 'relayed' && due) {
        this.modeNow = 'relayed'
        return 'join'
      }
      return null
    }
    this.missingSince = null
    this.allSince ??= now
    const settle = this.left ? this.timings.leaveAfterMs : this.timings.startupLeaveAfterMs
    if (this.modeNow !== 'direct' && now - this.allSince >= settle) {
      this.modeNow = 'direct'
      this.left = true
      return 'leave'
    }
    return null
  }
}

/**
 * Which validators this node does not reach directly. Not connected is one way; the other is a link
 * that died silently (packets dropped, no TCP reset): its connection stays until libp2p's ping fails,
 * up to a minute later. Validators flood-publish their own messages to every peer, so while the
 * direct link works the first copy of a validator's vote comes from the validator itself; a first
 * copy relayed by someone else (IHAVE/IWANT, or a mesh peer) marks the author as not reached
 * directly for `indirectMs`.
 */
export class Reachability {
  private readonly indirectUntil = new Map<string, number>()
  /** ids of the messages looked at, oldest first (at most REACH_IDS_KEPT) */
  private readonly looked = new Set<string>()

  constructor(private readonly indirectMs: number) {}

  /**
   * The first copy of message `id`, which `author` signed, came from `source`. True when that newly
   * marks the author as not reached directly (it was not marked, or its mark had run out). A message
   * looked at before is not a first copy: IHAVE gossip brings a message again once gossipsub's seen
   * cache (1.5 s) has dropped it, and a VIEW-CHANGE so fetched is accepted again.
   */
  firstCopy(id: string, author: string, source: string, now: number): boolean {
    if (this.looked.has(id)) return false
    this.looked.add(id)
    if (this.looked.size > REACH_IDS_KEPT) this.looked.delete(this.looked.values().next().value as string)
    if (author === source) return false
    const before = this.indirectUntil.get(author)
    this.indirectUntil.set(author, now + this.indirectMs)
    return before === undefined || before <= now
  }

  /** validators (other than this node) not connected now, and connected ones whose votes came relayed of late */
  unreached(validators: Iterable<string>, connected: (id: string) => boolean, now: number): Unreached {
    let disconnected = 0
    let indirect = 0
    for (const id of validators) {
      const until = this.indirectUntil.get(id)
      if (until !== undefined && until <= now) this.indirectUntil.delete(id)
      if (!connected(id)) disconnected++
      else if (until !== undefined && until > now) indirect++
    }
    return { disconnected, indirect }
  }
}

/** A mesh change gossipsub reports: who sent the GRAFT or PRUNE ('outbound': this node). */
export interface MeshEvent {
  readonly kind: 'graft' | 'prune'
  readonly direction: 'inbound' | 'outbound'
  readonly topic: string
  readonly peer: string
}

/** What the controller needs of gossipsub and libp2p. */
export interface RelayPorts {
  /** gossipsub's live options (read at each heartbeat) */
  readonly knobs: MeshKnobs
  /** other validators not connected now */
  unreachedValidators(): Unreached
  /** calls back after each gossipsub heartbeat; returns the unsubscribe */
  onHeartbeat(listener: () => void): () => void
  /** calls back on each GRAFT and PRUNE sent or accepted; returns the unsubscribe */
  onMeshEvent(listener: (e: MeshEvent) => void): () => void
  /** takes `peer` out of this node's mesh for `topic` and sends it a PRUNE */
  prune(topic: string, peer: string): void
  now(): number
  log?(mode: 'join' | 'leave', unreached: Unreached, pruned: number): void
}

/**
 * Applies RelayPolicy at every gossipsub heartbeat. Direct: no grafting of its own (Dlo and Dout 0),
 * while GRAFTs from others are still accepted up to Dhi (kept down to D): a node that lost a link
 * picks its relays among peers that have all theirs. Relayed: the configured knobs. Leaving: the
 * peers this node grafted itself are pruned, those that grafted it stay (they may need it).
 */
export class RelayController {
  private readonly policy: RelayPolicy
  private readonly configured: MeshKnobs
  /** topic -> peers this node grafted and that are still in its mesh */
  private readonly ours = new Map<string, Set<string>>()
  private readonly unsubscribe: (() => void)[] = []

  constructor(
    private readonly ports: RelayPorts,
    timings: RelayTimings = defaultRelayTimings,
  ) {
    this.policy = new RelayPolicy(timings)
    this.configured = { ...ports.knobs }
  }

  get mode(): RelayMode {
    return this.policy.mode
  }

  /** peers this node grafted itself, per topic (for tests and logs) */
  grafted(topic: string): string[] {
    return [...(this.ours.get(topic) ?? [])]
  }

  start(): void {
    if (this.unsubscribe.length > 0) return
    this.set(this.policy.mode === 'relayed' ? this.configured : { ...this.configured, Dlo: 0, Dout: 0 })
    this.unsubscribe.push(this.ports.onMeshEvent((e) => this.onMeshEvent(e)))
    this.unsubscribe.push(this.ports.onHeartbeat(() => this.tick()))
  }

  stop(): void {
    for (const off of this.unsubscribe.splice(0)) off()
  }

  /** Runs after each heartbeat (public for tests). */
  tick(): void {
    const unreached = this.ports.unreachedValidators()
    const decision = this.policy.tick(this.ports.now(), unreached)
    if (decision === 'join') {
      this.set(this.configured)
      this.ports.log?.(decision, unreached, 0)
    } else if (decision === 'leave') {
      this.set({ ...this.configured, Dlo: 0, Dout: 0 })
      this.ports.log?.(decision, unreached, this.pruneOurs())
    } else if (this.policy.mode === 'direct' && this.ours.size > 0) {
      // gossipsub grafts D peers when a topic is joined (subscribed) whatever Dlo says
      this.pruneOurs()
    }
  }

  private pruneOurs(): number {
    let pruned = 0
    for (const [topic, peers] of this.ours) {
      for (const peer of peers) {
        this.ports.prune(topic, peer)
        pruned++
      }
    }
    this.ours.clear()
    return pruned
  }

  private onMeshEvent(e: MeshEvent): void {
    const peers = this.ours.get(e.topic)
    if (e.kind === 'prune') peers?.delete(e.peer)
    else if (e.direction === 'outbound') {
      if (peers === undefined) this.ours.set(e.topic, new Set([e.peer]))
      else peers.add(e.peer)
    }
  }

  private set(k: MeshKnobs): void {
    const knobs = this.ports.knobs
    knobs.D = k.D
    knobs.Dlo = k.Dlo
    knobs.Dhi = k.Dhi
    knobs.Dout = k.Dout
  }
}
