import { GossipSub } from '@chainsafe/libp2p-gossipsub'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type Identify, identify } from '@libp2p/identify'
import type { Libp2p, PeerDiscovery, PrivateKey } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { gossipsubInit } from './gossipsub-config.js'
import {
  defaultLivenessOptions,
  type GossipOptions,
  type Libp2pMetricsFactory,
  type LivenessOptions,
} from './options.js'

type PbftServices = {
  identify: Identify
  ping: Ping
  /** the class, not the PubSub interface: we read mesh and scores */
  pubsub: GossipSub
}

export type PbftLibp2p = Libp2p<PbftServices>

interface Libp2pNodeInit {
  privateKey: PrivateKey
  listen: string[]
  announce: string[]
  mdns: boolean
  gossip: GossipOptions
  /** connection pings (options.ts defaultLivenessOptions when undefined) */
  liveness?: LivenessOptions
  topics: readonly string[]
  /** genesis validators' peer ids: never scored below gossip's thresholds (gossipsub-config.ts) */
  validatorPeerIds?: readonly string[]
  /** peers of validators proven faulty: scored far below gossip's graylist (gossipsub-config.ts) */
  isProvenFaultyPeer?: (peerId: string) => boolean
  /** libp2p's metrics (connections, streams, bytes per protocol); none when undefined */
  metrics?: Libp2pMetricsFactory
  /** every received gossip copy (topic, payload bytes), duplicates included */
  onGossipCopy?: (topic: string, bytes: number) => void
}

/**
 * The libp2p host: TCP + Noise + yamux, identify (gossipsub needs it), ping, gossipsub; mDNS when
 * asked. No @libp2p/bootstrap: it dials once and never retries, so our Reconnector dials the
 * bootstrap list instead. Created stopped; Network.start() starts it.
 */
export async function createLibp2pNode(init: Libp2pNodeInit): Promise<PbftLibp2p> {
  const liveness = init.liveness ?? defaultLivenessOptions
  const peerDiscovery: Array<(components: Parameters<ReturnType<typeof mdns>>[0]) => PeerDiscovery> = []
  if (init.mdns) peerDiscovery.push(mdns())
  return createLibp2p({
    start: false,
    privateKey: init.privateKey,
    addresses: { listen: init.listen, announce: init.announce },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    // A proven-faulty validator (gossipsub-config.ts) is not dialled, and its dials in are refused
    // once Noise has shown who it is, until its cool-down is over (docs/PROTOCOL.md §2.5).
    connectionGater: {
      denyDialPeer: async (peerId) => init.isProvenFaultyPeer?.(peerId.toString()) ?? false,
      denyInboundEncryptedConnection: async (peerId) => init.isProvenFaultyPeer?.(peerId.toString()) ?? false,
    },
    ...(init.metrics === undefined ? {} : { metrics: init.metrics }),
    connectionMonitor: {
      pingInterval: liveness.pingIntervalMs,
      pingTimeout: { minTimeout: liveness.pingTimeoutMinMs },
    },
    connectionManager: {
      // loopback devnets and tests open many connections from one address at once
      inboundConnectionThreshold: 100,
      maxIncomingPendingConnections: 50,
    },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: (components: ConstructorParameters<typeof GossipSub>[0]) =>
        new GossipSub(
          components,
          gossipsubInit(
            init.gossip,
            init.topics,
            init.validatorPeerIds,
            init.isProvenFaultyPeer,
            init.onGossipCopy,
          ),
        ),
    },
  })
}
