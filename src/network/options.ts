import type { ComponentLogger, Metrics, PrivateKey } from '@libp2p/interface'
import type { BlockSource } from './block-source.js'
import type { GossipResultHook, GossipValidators } from './gossip-validation.js'
import type { NetworkLogger } from './logger.js'
import type { GossipReceiveHook } from './receive-stats.js'
import { defaultRelayTimings } from './relays.js'
import type { TopicKind } from './topics.js'
import type { TxSource } from './tx-source.js'

/** Mesh and publish settings; defaults fit 2–50 nodes (see docs/PROTOCOL.md "Gossip"). */
export interface GossipOptions {
  /** desired mesh degree: peers each received message is relayed to (gossipsub's default is 6) */
  D: number
  Dlo: number
  Dhi: number
  /** outbound peers kept in the mesh; must be < Dlo and <= D/2 */
  Dout: number
  Dscore: number
  Dlazy: number
  heartbeatIntervalMs: number
  /**
   * How long a message id stays in the seen cache. Re-publishing identical bytes within it is a
   * silent no-op, so it bounds how soon a retransmission can go out again (see publish()).
   */
  seenTtlMs: number
  /** self-published messages go to every topic peer, not only the mesh: one hop for consensus */
  floodPublish: boolean
  /**
   * IDONTWANT (gossipsub 1.2) is sent to mesh peers for first-seen messages of at least this many
   * bytes; 0 sends none. @chainsafe/libp2p-gossipsub 14 records the IDONTWANTs it receives but never
   * consults them when forwarding, so here they cost frames and save nothing (docs/PROTOCOL.md §2.2).
   */
  idontwantMinBytes: number
  /** the largest `data` we publish or accept on any topic */
  maxMessageBytes: number
  /**
   * 'on_demand': keep no mesh of one's own while every validator is connected, graft D peers when one
   * is not (src/network/relays.ts); 'always': gossipsub's mesh as configured, all the time.
   */
  relays: 'on_demand' | 'always'
  /** on demand: a validator unreachable this long makes the node graft relays */
  relayJoinAfterMs: number
  /** on demand: every validator reachable this long makes the node let its relays go */
  relayLeaveAfterMs: number
  /** … the first time after start (it starts relayed while peers learn its subscriptions) */
  relayStartupLeaveAfterMs: number
  /** score penalty weight per invalid (Rejected) message; P4 is squared by gossipsub */
  invalidMessageWeight: number
  /** per-second decay of the invalid-message counter */
  invalidMessageDecay: number
}

export interface ReconnectOptions {
  /** first retry delay after a failed dial or a disconnect */
  initialDelayMs: number
  maxDelayMs: number
  factor: number
  /** ±fraction of random jitter so that restarted nodes do not dial in lockstep */
  jitter: number
  /** how often the loop looks for targets that are due */
  tickMs: number
  dialTimeoutMs: number
}

/**
 * libp2p's connection monitor: it pings every connection (a new /ipfs/ping stream each time) and
 * aborts one whose ping fails or times out, so a connection whose peer vanished without closing it
 * (frozen process, dropped NAT mapping) is closed and the reconnector dials again.
 */
export interface LivenessOptions {
  /** how often each connection is pinged */
  pingIntervalMs: number
  /** the shortest ping timeout (libp2p adapts it to the measured round trips above this) */
  pingTimeoutMinMs: number
}

export interface SyncOptions {
  /** blocks served per `blocks` request at most */
  maxBlocksPerRequest: number
  /** the whole request, from opening the stream to the last frame */
  requestTimeoutMs: number
  /** how long the server waits for the request frame */
  serverReadTimeoutMs: number
  /** concurrent inbound sync streams per connection */
  maxInboundStreams: number
  /** status requests of fetchRange when picking peers */
  statusTimeoutMs: number
}

/** `/pbft/<chain_id>/txs/1`, the tx fetch behind compact PRE-PREPAREs (docs/PROTOCOL.md "Tx fetch"). */
export interface TxFetchOptions {
  /** one request, from opening the stream to the last frame (client and server) */
  requestTimeoutMs: number
  /** how long the server waits for the request frame */
  serverReadTimeoutMs: number
  /** concurrent inbound tx fetch streams per connection: the per-peer limit */
  maxInboundStreams: number
}

/** What libp2p's `metrics` option takes: a factory of a Metrics implementation. */
export type Libp2pMetricsFactory = (components: { logger: ComponentLogger }) => Metrics

interface NetworkMetricsHooks {
  onGossipResult?: GossipResultHook
  onPeerCount?: (connectedPeers: number) => void
  /** libp2p's own metrics implementation (its `metrics` option), e.g. @libp2p/prometheus-metrics */
  libp2p?: Libp2pMetricsFactory
  onGossipReceived?: GossipReceiveHook
}

export interface NetworkInit {
  privateKey: PrivateKey
  chainId: string
  /** multiaddrs to listen on; default /ip4/127.0.0.1/tcp/0 */
  listen?: string[]
  /** multiaddrs announced to peers via identify instead of the listen addresses (NAT) */
  announce?: string[]
  /** full /p2p/ multiaddrs dialed and re-dialed with backoff */
  bootstrap?: string[]
  mdns?: boolean
  /** peer ids kept connected (re-dialed via the peer store) and preferred for sync */
  validatorPeerIds?: string[]
  /**
   * whether a peer is a validator this node holds equivocation evidence against (docs/PROTOCOL.md
   * §2.5): gossipsub then scores it far below its graylist threshold and drops its RPCs unread
   */
  isProvenFaultyPeer?: (peerId: string) => boolean
  /**
   * one validator per topic (src/network/validation/ builds the node's); required and complete, as
   * a topic without one Rejects everything it receives
   */
  gossipValidators: GossipValidators
  /**
   * The peer id of the validator that signed a consensus message (PRE-PREPARE, PREPARE, COMMIT,
   * REJECT), read without a full decode; undefined when unknown. Relays on demand use it to notice a
   * validator link that died silently (src/network/relays.ts, Reachability).
   */
  authorOf?: (kind: TopicKind, data: Uint8Array) => string | undefined
  /** serves the sync protocol; without it the node answers sync requests with an error */
  blockSource?: BlockSource
  /** serves the tx fetch protocol; without it the node answers every request with no tx */
  txSource?: TxSource
  txFetch?: Partial<TxFetchOptions>
  logger?: NetworkLogger
  metrics?: NetworkMetricsHooks
  gossip?: Partial<GossipOptions>
  reconnect?: Partial<ReconnectOptions>
  liveness?: Partial<LivenessOptions>
  sync?: Partial<SyncOptions>
}

export const defaultGossipOptions: GossipOptions = {
  // Validators are all connected and flood-publish their own messages, so every relay between them
  // is a duplicate unless a link is down; 2 relays per message cover a missing link at half the
  // duplicates of D = 4 (docs/PERFORMANCE.md "Message complexity"). Dhi must be tight too: grafts
  // are mutual, and with Dhi 6 the meshes of 16 validators grew to 4 peers, as with D = 4.
  D: 2,
  Dlo: 2,
  Dhi: 3,
  Dout: 1,
  Dscore: 2,
  Dlazy: 4,
  heartbeatIntervalMs: 700,
  seenTtlMs: 30_000,
  floodPublish: true,
  // gossipsub 14 sends IDONTWANT but ignores the ones it receives: pure cost (see GossipOptions)
  idontwantMinBytes: 0,
  // 2 MiB: a 1 MiB block plus its PRE-PREPARE envelope fits with room; gossipsub's own RPC frame
  // limit is 4 MiB (it-length-prefixed default on the sending side), which must also hold
  // piggybacked control messages, so we stay well below it.
  maxMessageBytes: 2 * 1024 * 1024,
  // 'on_demand' (the mesh above only while a validator is unreachable) is an option: while view
  // changes storm, a silently dead link is noticed late (docs/PROTOCOL.md §2.2 "Relays on demand")
  relays: 'always',
  relayJoinAfterMs: defaultRelayTimings.joinAfterMs,
  relayLeaveAfterMs: defaultRelayTimings.leaveAfterMs,
  relayStartupLeaveAfterMs: defaultRelayTimings.startupLeaveAfterMs,
  invalidMessageWeight: -10,
  invalidMessageDecay: 0.99,
}

export const defaultReconnectOptions: ReconnectOptions = {
  initialDelayMs: 250,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.2,
  tickMs: 250,
  dialTimeoutMs: 5_000,
}

/**
 * A ping stream costs both ends a few milliseconds of CPU (stream set-up, protocol negotiation, a
 * peer-store update); libp2p's 10 s default made the pings the largest idle cost, growing with the
 * number of peers (docs/PERFORMANCE.md "Idle cost"). A minute still closes a dead connection within
 * ~1 min + timeout; yamux's own keep-alive (30 s) makes a restarted peer's kernel reset it sooner.
 */
export const defaultLivenessOptions: LivenessOptions = {
  pingIntervalMs: 60_000,
  pingTimeoutMinMs: 5_000,
}

/** A token bucket's size: refills at `ratePerSec` messages per second, holds at most `burst`. */
export interface MessageBudget {
  readonly ratePerSec: number
  readonly burst: number
}

/**
 * What one validator's signed consensus messages may cost this node (docs/PROTOCOL.md §2.5): the
 * validators' +1,000,000 score keeps them connected whatever they send, so valid but useless
 * messages are bounded here instead. Two groups because their costs differ by an order of magnitude:
 * a vote is one signature check, a VIEW-CHANGE up to 1 + 5 quorums of them.
 */
export interface ValidatorBudgets {
  /** PRE-PREPARE, PREPARE, COMMIT and REJECT */
  readonly votes: MessageBudget
  /** VIEW-CHANGE and NEW-VIEW */
  readonly viewChanges: MessageBudget
}

/**
 * Generous on purpose: a budget an honest validator hits drops its votes. An honest validator signs
 * at most 2 votes per block per view (PRE-PREPARE or PREPARE, then COMMIT; a REJECT instead of a
 * PREPARE), one VIEW-CHANGE per view (re-sent at most once per view-change timeout) and, as primary,
 * one NEW-VIEW per view. A devnet on this 2-core machine makes ~15 blocks/s at most, ~30 votes/s per
 * validator; 500/s is 250 blocks/s, and the burst covers a restart's re-sends many times over. The
 * price is what a validator may cost within it (docs/PROTOCOL.md §2.5): operators who know their
 * chain's block rate can lower it.
 */
export const defaultValidatorBudgets: ValidatorBudgets = {
  votes: { ratePerSec: 500, burst: 1_000 },
  viewChanges: { ratePerSec: 5, burst: 50 },
}

/**
 * How long one verified equivocation keeps its validator excluded (docs/PROTOCOL.md §2.5), ms. Long
 * enough that a flooding validator is not let back in every few seconds to cost another burst of
 * verifications; short enough that a key that misbehaved once (a double-started validator) is heard
 * again within minutes of the fault being fixed. Each new equivocation starts it again.
 */
export const defaultProvenFaultyCooldownMs = 600_000

export const defaultSyncOptions: SyncOptions = {
  maxBlocksPerRequest: 64,
  requestTimeoutMs: 15_000,
  serverReadTimeoutMs: 5_000,
  maxInboundStreams: 8,
  statusTimeoutMs: 3_000,
}

export const defaultTxFetchOptions: TxFetchOptions = {
  requestTimeoutMs: 3_000,
  serverReadTimeoutMs: 2_000,
  maxInboundStreams: 4,
}
