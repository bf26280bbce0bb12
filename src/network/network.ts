import type { GossipsubMessage } from '@chainsafe/libp2p-gossipsub'
import type { PeerId, PeerInfo, Startable } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { sha256 } from '../crypto/hash.js'
import { GossipPublishError, NetworkNotStartedError } from './errors.js'
import { adaptValidator, GossipStats, type GossipTopicStats } from './gossip-validation.js'
import { createLibp2pNode, type PbftLibp2p } from './libp2p-node.js'
import { type NetworkLogger, silentNetworkLogger } from './logger.js'
import {
  defaultGossipOptions,
  defaultLivenessOptions,
  defaultReconnectOptions,
  defaultSyncOptions,
  defaultTxFetchOptions,
  type GossipOptions,
  type NetworkInit,
  type SyncOptions,
  type TxFetchOptions,
} from './options.js'
import { GossipReceiveStats, type GossipReceiveTopicStats } from './receive-stats.js'
import { Reconnector, type ReconnectTarget } from './reconnector.js'
import { INDIRECT_MS, type MeshKnobs, Reachability, RelayController, signsOwnCopies } from './relays.js'
import { type PeerStatus, SyncClient, type SyncedBlock, type SyncRequestOptions } from './sync-client.js'
import { createSyncHandler } from './sync-server.js'
import { type PeerTip, Syncer, type VerifySyncedBlock } from './syncer.js'
import { syncProtocol, TOPIC_KINDS, type TopicKind, topicName, txFetchProtocol } from './topics.js'
import { createTxFetchHandler, TxFetchClient, type TxFetchRequestOptions } from './tx-fetch.js'

/**
 * The two gossipsub methods relays on demand need beyond its public API (@chainsafe/libp2p-gossipsub
 * 14: leave() and the heartbeat use them the same way), in one place so an upgrade shows what to check.
 */
interface GossipsubInternals {
  readonly mesh: Map<string, Set<string>>
  sendPrune(id: string, topic: string): Promise<void>
  doAddBackoff(id: string, topic: string, ms: number): void
}

/** gossipsub's `gossipsub:graft` / `gossipsub:prune` event detail */
interface MeshChange {
  readonly peerId: string
  readonly topic: string
  readonly direction: 'inbound' | 'outbound'
}

type GossipHandler = (data: Uint8Array, from: string) => void

interface ConnectedPeer {
  peerId: string
  addrs: string[]
  direction: 'inbound' | 'outbound'
}

interface PublishOutcome {
  /** peers the message was sent to; 0 when no peer subscribes to the topic yet */
  recipients: number
}

export interface PublishOptions {
  /**
   * A publish that went to nobody although peers subscribe — gossipsub's seen cache still holds these
   * bytes (we published or received them less than seenTtlMs ago) — is made once more when that
   * entry has expired, instead of being lost. For retransmissions that must leave the node: an
   * engine re-sending a NEW-VIEW to a replica that missed it (docs/PROTOCOL.md "Gossip").
   */
  readonly retryWhenSeen?: boolean
}

/** Retransmissions waiting for the seen cache to forget their bytes, at most (each holds its bytes). */
const MAX_PENDING_RETRIES = 16

class InvalidNetworkConfigError extends Error {
  override name = 'InvalidNetworkConfigError'
}

/** The node's view of the p2p network: gossip topics, peers, and block sync. */
export interface Network extends Startable {
  readonly peerId: string
  readonly chainId: string
  publish(kind: TopicKind, data: Uint8Array, opts?: PublishOptions): Promise<PublishOutcome>
  /** Handlers receive only messages their topic validator Accepted. Returns an unsubscribe. */
  subscribe(kind: TopicKind, handler: GossipHandler): () => void
  listenAddrs(): string[]
  /** Called with the peer id whenever a peer connects (its first connection). Returns an unsubscribe. */
  onPeerConnect(listener: (peerId: string) => void): () => void
  peers(): ConnectedPeer[]
  connectedPeerCount(): number
  /** peers known to subscribe to the topic (the mesh is formed when this is non-empty) */
  topicPeers(kind: TopicKind): string[]
  /** peers in this node's mesh for the topic (relayed messages go to these) */
  meshPeers(kind: TopicKind): string[]
  /** relays on demand: 'direct' or 'relayed' (docs/PROTOCOL.md §2.2); 'always' otherwise */
  relayMode(): string
  /** gossipsub's score of a peer; negative after Rejected messages */
  peerScore(peerId: string): number
  /**
   * Closes every connection to a peer. Whether it may come back is the connection gater's call
   * (NetworkInit.isProvenFaultyPeer); the reconnector keeps trying with its backoff.
   */
  hangUp(peerId: string): Promise<void>
  gossipStats(): Partial<Record<TopicKind, GossipTopicStats>>
  /** messages and bytes received per topic, first copies and duplicates apart */
  receiveStats(): Partial<Record<TopicKind, GossipReceiveTopicStats>>
  requestStatus(peerId: string, opts?: SyncRequestOptions): Promise<PeerStatus>
  requestBlocks(peerId: string, from: number, to: number, opts?: SyncRequestOptions): Promise<SyncedBlock[]>
  /**
   * The txs `peerId` has among `hashes` (docs/PROTOCOL.md "Tx fetch"): each one checked against the
   * hashes asked for, possibly fewer; throws a TxFetchError on timeout or a broken answer.
   */
  fetchTxs(peerId: string, hashes: readonly Uint8Array[], opts?: TxFetchRequestOptions): Promise<Uint8Array[]>
  /** Tips of connected peers (all, or `sample` at random), highest first. */
  peerTips(signal?: AbortSignal, opts?: { sample?: number }): Promise<PeerTip[]>
  fetchRange(
    from: number,
    to: number,
    verify: VerifySyncedBlock,
    opts?: { signal?: AbortSignal },
  ): AsyncGenerator<SyncedBlock>
}

export async function createNetwork(init: NetworkInit): Promise<Network> {
  const gossip: GossipOptions = { ...defaultGossipOptions, ...init.gossip }
  const topics = TOPIC_KINDS.map((k) => topicName(init.chainId, k))
  const kinds = new Map<string, TopicKind>(TOPIC_KINDS.map((k) => [topicName(init.chainId, k), k]))
  const received = new GossipReceiveStats(init.metrics?.onGossipReceived)
  const libp2p = await createLibp2pNode({
    privateKey: init.privateKey,
    listen: init.listen ?? ['/ip4/127.0.0.1/tcp/0'],
    announce: init.announce ?? [],
    mdns: init.mdns ?? false,
    gossip,
    liveness: { ...defaultLivenessOptions, ...init.liveness },
    topics,
    validatorPeerIds: init.validatorPeerIds ?? [],
    ...(init.isProvenFaultyPeer === undefined ? {} : { isProvenFaultyPeer: init.isProvenFaultyPeer }),
    metrics: init.metrics?.libp2p,
    onGossipCopy: (topic, bytes) => {
      const kind = kinds.get(topic)
      if (kind !== undefined) received.copy(kind, bytes)
    },
  })
  return new Libp2pNetwork(init, libp2p, gossip, received)
}

class Libp2pNetwork implements Network {
  readonly peerId: string
  readonly chainId: string
  private readonly logger: NetworkLogger
  private readonly stats: GossipStats
  private readonly handlers = new Map<TopicKind, Set<GossipHandler>>()
  private readonly connectListeners = new Set<(peerId: string) => void>()
  private readonly topicKinds = new Map<string, TopicKind>()
  private readonly reconnector: Reconnector
  private readonly syncOptions: SyncOptions
  private readonly syncClient: SyncClient
  private readonly syncer: Syncer
  private readonly txFetchOptions: TxFetchOptions
  private readonly txFetchClient: TxFetchClient
  private readonly validatorIds: Set<string>
  private readonly peerIdCache = new Map<string, PeerId>()
  /** publishes waiting for the seen cache to expire (PublishOptions.retryWhenSeen), by topic and bytes */
  private readonly retries = new Map<string, NodeJS.Timeout>()
  /** relays on demand (GossipOptions.relays); null when the mesh is always on or empty */
  private relays: RelayController | null = null
  private readonly reach = new Reachability(INDIRECT_MS)
  private started = false

  constructor(
    private readonly init: NetworkInit,
    private readonly libp2p: PbftLibp2p,
    private readonly gossip: GossipOptions,
    private readonly received: GossipReceiveStats,
  ) {
    this.peerId = peerIdFromPrivateKey(init.privateKey).toString()
    this.chainId = init.chainId
    this.logger = init.logger ?? silentNetworkLogger
    this.stats = new GossipStats(init.metrics?.onGossipResult)
    for (const kind of TOPIC_KINDS) this.topicKinds.set(topicName(init.chainId, kind), kind)
    this.validatorIds = new Set((init.validatorPeerIds ?? []).filter((id) => id !== this.peerId))
    for (const id of this.validatorIds) this.toPeerId(id) // fail at construction on a bad config
    this.syncOptions = { ...defaultSyncOptions, ...init.sync }
    this.syncClient = new SyncClient(
      { dialProtocol: (peer, protocol, options) => this.libp2p.dialProtocol(peer, protocol, options) },
      syncProtocol(init.chainId),
      this.syncOptions,
    )
    this.txFetchOptions = { ...defaultTxFetchOptions, ...init.txFetch }
    this.txFetchClient = new TxFetchClient(
      { dialProtocol: (peer, protocol, options) => this.libp2p.dialProtocol(peer, protocol, options) },
      txFetchProtocol(init.chainId),
      this.txFetchOptions,
    )
    this.syncer = new Syncer(
      {
        candidatePeers: () => this.syncCandidates(),
        requestStatus: (peerId, opts) => this.syncClient.requestStatus(peerId, opts),
        requestBlocks: (peerId, from, to, opts) => this.syncClient.requestBlocks(peerId, from, to, opts),
        logger: this.logger,
      },
      this.syncOptions,
    )
    this.reconnector = new Reconnector(
      {
        isConnected: (peerId) => this.isConnected(peerId),
        dial: (target, signal) => this.dialTarget(target, signal),
        logger: this.logger,
      },
      { ...defaultReconnectOptions, ...init.reconnect },
    )
    for (const target of this.reconnectTargets()) this.reconnector.addTarget(target)
  }

  async start(): Promise<void> {
    if (this.started) return
    const pubsub = this.libp2p.services.pubsub
    for (const [topic, kind] of this.topicKinds) {
      const validate = adaptValidator({
        kind,
        validator: this.init.gossipValidators[kind],
        maxMessageBytes: this.gossip.maxMessageBytes,
        stats: this.stats,
        logger: this.logger,
      })
      pubsub.topicValidators.set(topic, (peer, msg) => {
        this.received.first(kind, msg.data.length)
        return validate(msg.data, peer.toString())
      })
    }
    pubsub.addEventListener('gossipsub:message', this.onMessage)
    this.libp2p.addEventListener('peer:connect', this.onConnect)
    this.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
    this.libp2p.addEventListener('peer:discovery', this.onDiscovery)
    await this.libp2p.handle(
      syncProtocol(this.chainId),
      createSyncHandler({
        blockSource: this.init.blockSource,
        options: this.syncOptions,
        logger: this.logger,
      }),
      { maxInboundStreams: this.syncOptions.maxInboundStreams },
    )
    await this.libp2p.handle(
      txFetchProtocol(this.chainId),
      createTxFetchHandler({
        txSource: this.init.txSource,
        options: this.txFetchOptions,
        logger: this.logger,
      }),
      { maxInboundStreams: this.txFetchOptions.maxInboundStreams },
    )
    await this.libp2p.start()
    for (const id of this.validatorIds) {
      // a high tag value keeps validators out of the connection pruner's reach
      await this.libp2p.peerStore.merge(this.toPeerId(id), { tags: { 'pbft-validator': { value: 100 } } })
    }
    this.startRelays()
    for (const kind of this.handlers.keys()) pubsub.subscribe(topicName(this.chainId, kind))
    await this.reconnector.start()
    this.started = true
    this.logger.info({ peer: this.peerId, addrs: this.listenAddrs() }, 'p2p network started')
  }

  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const timer of this.retries.values()) clearTimeout(timer)
    this.retries.clear()
    await this.reconnector.stop()
    this.relays?.stop()
    this.relays = null
    const pubsub = this.libp2p.services.pubsub
    pubsub.removeEventListener('gossipsub:message', this.onMessage)
    this.libp2p.removeEventListener('peer:connect', this.onConnect)
    this.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
    this.libp2p.removeEventListener('peer:discovery', this.onDiscovery)
    await this.libp2p.stop()
    this.logger.info({ peer: this.peerId }, 'p2p network stopped')
  }

  /**
   * Relays on demand (src/network/relays.ts): before the topics are joined, so that joining grafts nothing a
   * later heartbeat would keep. Nothing to switch when the configured mesh is empty.
   */
  private startRelays(): void {
    if (this.gossip.relays !== 'on_demand' || this.gossip.D === 0) return
    const pubsub = this.libp2p.services.pubsub
    this.relays = new RelayController(
      {
        knobs: pubsub.opts as MeshKnobs,
        unreachedValidators: () =>
          this.reach.unreached(this.validatorIds, (id) => this.isConnected(id), performance.now()),
        onHeartbeat: (listener) => {
          pubsub.addEventListener('gossipsub:heartbeat', listener)
          return () => pubsub.removeEventListener('gossipsub:heartbeat', listener)
        },
        onMeshEvent: (listener) => {
          const on = (kind: 'graft' | 'prune') => (e: CustomEvent<MeshChange>) =>
            listener({ kind, direction: e.detail.direction, topic: e.detail.topic, peer: e.detail.peerId })
          const graft = on('graft')
          const prune = on('prune')
          pubsub.addEventListener('gossipsub:graft', graft)
          pubsub.addEventListener('gossipsub:prune', prune)
          return () => {
            pubsub.removeEventListener('gossipsub:graft', graft)
            pubsub.removeEventListener('gossipsub:prune', prune)
          }
        },
        prune: (topic, peer) => {
          // gossipsub's own leave() does this per mesh peer: out of the mesh, then a PRUNE (whose
          // backoff is the short unsubscribe one, so the peer may graft this node again soon)
          const internal = this.gossipsubInternals()
          if (internal.mesh.get(topic)?.delete(peer) !== true) return
          internal
            .sendPrune(peer, topic)
            .catch((err: unknown) => this.logger.debug({ peer, err }, 'prune failed'))
        },
        now: () => performance.now(),
        log: (decision, unreached, pruned) =>
          this.logger.info(
            { ...unreached, pruned },
            decision === 'join'
              ? 'gossip relays on: a validator is unreachable, so peers relay its messages'
              : 'gossip relays off: every validator is reachable directly',
          ),
      },
      {
        joinAfterMs: this.gossip.relayJoinAfterMs,
        leaveAfterMs: this.gossip.relayLeaveAfterMs,
        startupLeaveAfterMs: this.gossip.relayStartupLeaveAfterMs,
      },
    )
    this.relays.start()
  }

  /**
   * A validator whose link to this node failed silently still has a connection, so gossipsub would
   * graft it as a relay as readily as a working peer — and relay nothing through it. For as long as
   * it counts as not reached directly it is out of this node's mesh and barred from grafting
   * (gossipsub's backoff), so the relays come from peers that do get through.
   */
  private avoidAsRelay(peer: string): void {
    const pubsub = this.gossipsubInternals()
    for (const topic of this.topicKinds.keys()) {
      pubsub.mesh.get(topic)?.delete(peer)
      pubsub.doAddBackoff(peer, topic, INDIRECT_MS)
    }
  }

  private gossipsubInternals(): GossipsubInternals {
    return this.libp2p.services.pubsub as unknown as GossipsubInternals
  }

  private isConnected(peerId: string): boolean {
    return this.libp2p.getConnections(this.toPeerId(peerId)).length > 0
  }

  relayMode(): string {
    return this.relays?.mode ?? 'always'
  }

  /**
   * Publishes to every topic peer (flood publish). When no peer subscribes yet the message is not
   * handed to gossipsub at all: gossipsub would record it as seen and silently drop a later,
   * byte-identical retransmission for `seenTtlMs`. A repeat within seenTtlMs is a no-op, unless
   * `opts.retryWhenSeen` asks for it to go out once that window is over.
   */
  async publish(kind: TopicKind, data: Uint8Array, opts: PublishOptions = {}): Promise<PublishOutcome> {
    if (!this.started) throw new NetworkNotStartedError('network not started')
    if (data.length > this.gossip.maxMessageBytes) {
      throw new GossipPublishError(
        `${kind} message of ${data.length} bytes exceeds ${this.gossip.maxMessageBytes}`,
      )
    }
    const topic = topicName(this.chainId, kind)
    const pubsub = this.libp2p.services.pubsub
    if (pubsub.getSubscribers(topic).length === 0) return { recipients: 0 }
    try {
      const result = await pubsub.publish(topic, data)
      if (result.recipients.length === 0 && opts.retryWhenSeen === true) this.retryAfterSeenWindow(kind, data)
      return { recipients: result.recipients.length }
    } catch (err) {
      this.logger.warn({ topic: kind, err }, 'gossip publish failed')
      return { recipients: 0 }
    }
  }

  /**
   * Publishes `data` again once gossipsub's seen cache has forgotten it: seenTtlMs from now (its
   * entry is at most that old) plus two heartbeats (expired entries are pruned at a heartbeat). Once
   * only, one pending retry per (topic, bytes), at most MAX_PENDING_RETRIES at a time.
   */
  private retryAfterSeenWindow(kind: TopicKind, data: Uint8Array): void {
    const key = `${kind}/${Buffer.from(sha256(data)).toString('hex')}`
    if (this.retries.has(key) || this.retries.size >= MAX_PENDING_RETRIES) return
    const delay = this.gossip.seenTtlMs + 2 * this.gossip.heartbeatIntervalMs
    const timer = setTimeout(() => {
      this.retries.delete(key)
      if (!this.started) return
      this.logger.debug({ topic: kind }, 'retransmitting a message the seen cache had dropped')
      this.publish(kind, data).catch((err: unknown) =>
        this.logger.warn({ topic: kind, err: String(err) }, 'gossip retransmission failed'),
      )
    }, delay)
    this.retries.set(key, timer)
  }

  subscribe(kind: TopicKind, handler: GossipHandler): () => void {
    let set = this.handlers.get(kind)
    if (set === undefined) {
      set = new Set()
      this.handlers.set(kind, set)
      if (this.started) this.libp2p.services.pubsub.subscribe(topicName(this.chainId, kind))
    }
    set.add(handler)
    return () => {
      set.delete(handler)
      if (set.size === 0) {
        this.handlers.delete(kind)
        if (this.started) this.libp2p.services.pubsub.unsubscribe(topicName(this.chainId, kind))
      }
    }
  }

  listenAddrs(): string[] {
    return this.libp2p.getMultiaddrs().map((ma) => ma.toString())
  }

  peers(): ConnectedPeer[] {
    const byPeer = new Map<string, ConnectedPeer>()
    for (const conn of this.libp2p.getConnections()) {
      const id = conn.remotePeer.toString()
      const entry = byPeer.get(id)
      if (entry === undefined) {
        byPeer.set(id, { peerId: id, addrs: [conn.remoteAddr.toString()], direction: conn.direction })
      } else if (!entry.addrs.includes(conn.remoteAddr.toString())) {
        entry.addrs.push(conn.remoteAddr.toString())
      }
    }
    return [...byPeer.values()]
  }

  connectedPeerCount(): number {
    return this.libp2p.getPeers().length
  }

  topicPeers(kind: TopicKind): string[] {
    return this.libp2p.services.pubsub.getSubscribers(topicName(this.chainId, kind)).map((p) => p.toString())
  }

  meshPeers(kind: TopicKind): string[] {
    return this.libp2p.services.pubsub.getMeshPeers(topicName(this.chainId, kind))
  }

  peerScore(peerId: string): number {
    return this.libp2p.services.pubsub.getScore(peerId)
  }

  async hangUp(peerId: string): Promise<void> {
    await this.libp2p.hangUp(this.toPeerId(peerId))
  }

  gossipStats(): Partial<Record<TopicKind, GossipTopicStats>> {
    return this.stats.snapshot()
  }

  receiveStats(): Partial<Record<TopicKind, GossipReceiveTopicStats>> {
    return this.received.snapshot()
  }

  requestStatus(peerId: string, opts?: SyncRequestOptions): Promise<PeerStatus> {
    return this.syncClient.requestStatus(peerId, opts)
  }

  requestBlocks(peerId: string, from: number, to: number, opts?: SyncRequestOptions): Promise<SyncedBlock[]> {
    return this.syncClient.requestBlocks(peerId, from, to, opts)
  }

  fetchTxs(
    peerId: string,
    hashes: readonly Uint8Array[],
    opts?: TxFetchRequestOptions,
  ): Promise<Uint8Array[]> {
    return this.txFetchClient.fetch(peerId, hashes, opts)
  }

  peerTips(signal?: AbortSignal, opts?: { sample?: number }): Promise<PeerTip[]> {
    return this.syncer.peerTips(signal, opts)
  }

  fetchRange(
    from: number,
    to: number,
    verify: VerifySyncedBlock,
    opts?: { signal?: AbortSignal },
  ): AsyncGenerator<SyncedBlock> {
    return this.syncer.fetchRange(from, to, verify, opts)
  }

  private readonly onMessage = (evt: CustomEvent<GossipsubMessage>): void => {
    const { msg, msgId, propagationSource } = evt.detail
    const kind = this.topicKinds.get(msg.topic)
    if (kind === undefined) return
    const from = propagationSource.toString()
    if (this.relays !== null && signsOwnCopies(kind)) {
      // A copy a mesh peer relayed may just have raced the author's own (on a busy machine it often
      // does): only IHAVE/IWANT from outside the mesh shows the author's link failing.
      const author = this.init.authorOf?.(kind, msg.data)
      const viaMesh = this.libp2p.services.pubsub.mesh.get(msg.topic)?.has(from) === true
      if (
        author !== undefined &&
        this.validatorIds.has(author) &&
        !viaMesh &&
        this.reach.firstCopy(msgId, author, from, performance.now())
      ) {
        this.logger.debug(
          { author, from, topic: kind },
          'a validator message came relayed first: its link is failing',
        )
        this.avoidAsRelay(author)
      }
    }
    for (const handler of this.handlers.get(kind) ?? []) {
      try {
        handler(msg.data, from)
      } catch (err) {
        this.logger.error({ err, topic: kind }, 'gossip handler threw')
      }
    }
  }

  onPeerConnect(listener: (peerId: string) => void): () => void {
    this.connectListeners.add(listener)
    return () => this.connectListeners.delete(listener)
  }

  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    this.reconnector.onPeerConnected(id)
    for (const listener of this.connectListeners) {
      try {
        listener(id)
      } catch (err) {
        this.logger.error({ err, peer: id }, 'peer-connect listener threw')
      }
    }
    this.logger.debug({ peer: id }, 'peer connected')
    this.init.metrics?.onPeerCount?.(this.connectedPeerCount())
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    this.reconnector.onPeerDisconnected(id)
    this.logger.debug({ peer: id }, 'peer disconnected')
    this.init.metrics?.onPeerCount?.(this.connectedPeerCount())
  }

  /** mDNS finds peers but libp2p 2 no longer dials them by itself. */
  private readonly onDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    const peer = evt.detail.id
    if (peer.equals(this.libp2p.peerId) || this.libp2p.getConnections(peer).length > 0) return
    this.libp2p.dial(peer).catch((err: unknown) => {
      this.logger.debug({ peer: peer.toString(), err }, 'dial of discovered peer failed')
    })
  }

  private reconnectTargets(): ReconnectTarget[] {
    const targets = new Map<string, ReconnectTarget>()
    for (const addr of this.init.bootstrap ?? []) {
      let peerId: string | null
      try {
        peerId = multiaddr(addr).getPeerId()
      } catch (err) {
        throw new InvalidNetworkConfigError(`invalid bootstrap multiaddr ${addr}: ${(err as Error).message}`)
      }
      if (peerId === null)
        throw new InvalidNetworkConfigError(`bootstrap multiaddr ${addr} has no /p2p/ peer id`)
      if (peerId === this.peerId) continue
      const t = targets.get(peerId) ?? { peerId, addrs: [] }
      t.addrs.push(addr)
      targets.set(peerId, t)
    }
    for (const id of this.validatorIds) if (!targets.has(id)) targets.set(id, { peerId: id, addrs: [] })
    return [...targets.values()]
  }

  private async dialTarget(target: ReconnectTarget, signal: AbortSignal): Promise<void> {
    if (target.addrs.length > 0)
      await this.libp2p.dial(
        target.addrs.map((a) => multiaddr(a)),
        { signal },
      )
    else await this.libp2p.dial(this.toPeerId(target.peerId), { signal })
  }

  /** Connected peers for sync, validators first (they are the source of truth). */
  private syncCandidates(): string[] {
    const ids = this.libp2p.getPeers().map((p) => p.toString())
    return [
      ...ids.filter((id) => this.validatorIds.has(id)),
      ...ids.filter((id) => !this.validatorIds.has(id)),
    ]
  }

  private toPeerId(id: string): PeerId {
    let p = this.peerIdCache.get(id)
    if (p === undefined) {
      try {
        p = peerIdFromString(id)
      } catch (err) {
        throw new InvalidNetworkConfigError(`invalid peer id ${id}: ${(err as Error).message}`)
      }
      this.peerIdCache.set(id, p)
    }
    return p
  }
}
