import type { ChainStore } from '../chain/store.js'
import type { ValidatorSet } from '../chain/validators.js'
import { encodeBlock, encodeCertificate } from '../codec/chain.js'
import {
  compactPrePrepare,
  decodeCompactPrePrepare,
  encodeCompactPrePrepare,
  isCompactPrePrepare,
} from '../codec/compact.js'
import {
  CONSENSUS_KINDS,
  type ConsensusMessage,
  decodeConsensusMessage,
  encodeConsensusMessage,
  peekConsensusSender,
} from '../codec/consensus.js'
import type { NodeKey } from '../crypto/node-key.js'
import { createNetwork, type Network } from '../network/network.js'
import { defaultGossipOptions, type GossipOptions, type ValidatorBudgets } from '../network/options.js'
import {
  createGossipValidators,
  type GossipValidationComponents,
  type ProvenFaulty,
} from '../network/validation/index.js'
import { CompactProposals } from './compact-proposals.js'
import type { NodeConfig } from './config.js'
import type { Logger } from './logger.js'
import type { NodeMetrics } from './metrics.js'

export interface NodeNetworkComponents {
  readonly chainId: string
  readonly nodeKey: NodeKey
  readonly p2p: NodeConfig['p2p']
  readonly consensus: NodeConfig['consensus']
  readonly validators: ValidatorSet
  /** serves block sync from here */
  readonly store: ChainStore
  /** what the tx topic's validator admits into and checks against (docs/PROTOCOL.md §2) */
  readonly mempool: GossipValidationComponents['mempool']
  readonly signatures: GossipValidationComponents['signatures']
  onTxsAdmitted(): void
  /** the engine's view, for the consensus topics' view window */
  currentView(): number
  /** validators this node holds evidence against: their peers are graylisted (docs/PROTOCOL.md §2.5) */
  readonly provenFaulty: ProvenFaulty
  /** the mempool's tx by hash: what rebuilds compact PRE-PREPAREs first (docs/PROTOCOL.md §3.6) */
  mempoolTx(hash: Uint8Array): Uint8Array | undefined
  /** an accepted consensus message, for the engine (a compact PRE-PREPARE only once rebuilt in full) */
  onConsensusMessage(msg: ConsensusMessage): void
  readonly metrics: NodeMetrics
  readonly log: Logger
}

/** The node's libp2p side, and how the engine's messages go out on it. */
export interface NodeNetwork {
  readonly network: Network
  /**
   * Publishes an engine message. Own PRE-PREPAREs go out compact (header and tx hashes) when
   * p2p.compact_proposals is on; their txs are kept to serve the replicas' fetches.
   */
  publishConsensus(msg: ConsensusMessage): void
  /** ends compact-proposal fetches in flight (before the network stops) */
  stop(): void
}

/**
 * The node's libp2p side: the network with its topic validators, subscriptions, block source and
 * tx source, and the rebuilding of compact PRE-PREPAREs (compact-proposals.ts).
 */
export async function openNodeNetwork(c: NodeNetworkComponents): Promise<NodeNetwork> {
  const { store } = c
  let network: Network | undefined
  const proposals = new CompactProposals({
    mempoolTx: c.mempoolTx,
    peers: () => {
      // validators first: they are the ones that had the txs to vote for the block
      const ids = network?.peers().map((p) => p.peerId) ?? []
      const isValidator = (id: string): boolean => c.validators.byPeerId(id) !== undefined
      return [...ids.filter(isValidator), ...ids.filter((id) => !isValidator(id))]
    },
    primaryPeer: (view) => {
      const id = c.validators.primary(view).peerId
      return id === c.nodeKey.peerId ? undefined : id
    },
    isFinal: (height) => store.tip().height >= height,
    fetchTxs: (peer, hashes, opts) => {
      if (network === undefined) return Promise.resolve([])
      return network.fetchTxs(peer, hashes, opts)
    },
    deliver: (msg) => c.onConsensusMessage(msg),
    onOutcome: (outcome, bytes) => {
      c.metrics.compactProposals.inc({ outcome })
      if (bytes > 0) c.metrics.txFetchBytes.inc(bytes)
    },
    log: c.log,
  })
  network = await createNetwork({
    privateKey: c.nodeKey.privateKey,
    chainId: c.chainId,
    listen: [...c.p2p.listen],
    announce: [...c.p2p.announce],
    bootstrap: [...c.p2p.bootstrap],
    mdns: c.p2p.mdns,
    validatorPeerIds: c.validators.validators.map((v) => v.peerId).filter((p) => p !== c.nodeKey.peerId),
    // relays on demand: whose vote it is (the u16 sender at its fixed offset; nothing else decoded)
    authorOf: (kind, data) => {
      if (kind === 'tx') return undefined
      const index = peekConsensusSender(kind, data)
      return index === undefined ? undefined : c.validators.validators[index]?.peerId
    },
    isProvenFaultyPeer: (peerId) => {
      const v = c.validators.byPeerId(peerId)
      return v !== undefined && c.provenFaulty.has(v.index)
    },
    gossipValidators: createGossipValidators({
      chainId: c.chainId,
      validators: c.validators,
      tipHeight: () => store.tip().height,
      currentView: c.currentView,
      budgets: validatorBudgets(c.p2p),
      provenFaulty: c.provenFaulty,
      mempool: c.mempool,
      signatures: c.signatures,
      onTxsAdmitted: c.onTxsAdmitted,
    }),
    blockSource: {
      tipHeight: () => store.tip().height,
      tipHash: () => store.tip().hash,
      getBlockWithCertificate: async (height) => {
        const [block, certificate] = await Promise.all([store.getBlock(height), store.getCertificate(height)])
        if (block === undefined || certificate === undefined) return undefined
        return { block: encodeBlock(block), certificate: encodeCertificate(certificate) }
      },
    },
    txSource: proposals,
    logger: c.log,
    gossip: { ...gossipOptions(c.p2p), seenTtlMs: gossipSeenTtlMs(c.consensus.viewChangeTimeoutMs) },
    metrics: {
      onGossipResult: (topic, result, reason) => c.metrics.gossipMessages.inc({ topic, result, reason }),
      onPeerCount: (n) => c.metrics.peers.set(n),
      libp2p: c.metrics.libp2pMetrics(),
      onGossipReceived: (topic, bytes, stage) => {
        c.metrics.gossipReceived.inc({ topic, stage })
        c.metrics.gossipReceivedBytes.inc({ topic, stage }, bytes)
      },
    },
  })
  for (const kind of CONSENSUS_KINDS) {
    network.subscribe(kind, (data, from) => {
      let msg: ConsensusMessage
      try {
        if (kind === 'preprepare' && isCompactPrePrepare(data)) {
          // not awaited: a rebuild that waits on fetches holds up no other message
          proposals
            .receive(decodeCompactPrePrepare(data), from)
            .catch((err: unknown) => c.log.error({ err }, 'compact proposal rebuild failed'))
          return
        }
        msg = decodeConsensusMessage(kind, data)
      } catch {
        return // its topic validator Rejected it; unreachable for accepted messages
      }
      // a full one (from a node with p2p.compact_proposals off): its txs can serve fetches too
      if (msg.kind === 'preprepare') proposals.remember(msg.block)
      c.onConsensusMessage(msg)
    })
  }
  // A validator proven faulty is hung up on at once; the connection gater keeps it out until its
  // cool-down is over (docs/PROTOCOL.md §2.5). Evidence reloaded at start is in the list already.
  c.provenFaulty.onExcluded((index) => {
    const peerId = c.validators.at(index)?.peerId
    if (peerId === undefined || peerId === c.nodeKey.peerId) return
    c.log.warn({ validator: index, peer: peerId }, 'validator proven faulty: ignored and disconnected')
    network.hangUp(peerId).catch((err: unknown) => c.log.warn({ peer: peerId, err }, 'hang-up failed'))
  })
  // Tx batches are admitted by the tx topic's validator; subscribing is what joins the topic.
  network.subscribe('tx', () => {})
  const net = network
  return {
    network: net,
    publishConsensus: (msg) => {
      let data: Uint8Array
      if (msg.kind === 'preprepare' && c.p2p.compactProposals) {
        const compact = compactPrePrepare(msg)
        proposals.remember(msg.block, compact.txHashes)
        data = encodeCompactPrePrepare(compact)
      } else data = encodeConsensusMessage(msg)
      net
        // re-sends inside gossipsub's seen window (a NEW-VIEW for a replica that missed it) retry after it
        .publish(msg.kind, data, { retryWhenSeen: true })
        .catch((err: unknown) => c.log.warn({ kind: msg.kind, err }, 'consensus publish failed'))
    },
    stop: () => proposals.stop(),
  }
}

/** config.json's p2p budget fields (docs/HOME.md "p2p") as the gossip validators take them. */
export function validatorBudgets(p2p: NodeConfig['p2p']): ValidatorBudgets {
  return {
    votes: { ratePerSec: p2p.validatorMsgRate, burst: p2p.validatorMsgBurst },
    viewChanges: { ratePerSec: p2p.validatorViewChangeRate, burst: p2p.validatorViewChangeBurst },
  }
}

/**
 * config.json's gossip fields (docs/HOME.md "p2p") as the network takes them. Dout and Dscore are
 * not options: gossipsub wants Dout < Dlo and Dout <= D/2, and Dscore <= D, so they follow the mesh
 * degrees (their defaults, lowered as far as a small mesh needs).
 */
export function gossipOptions(
  p2p: NodeConfig['p2p'],
): Pick<
  GossipOptions,
  'D' | 'Dlo' | 'Dhi' | 'Dout' | 'Dscore' | 'Dlazy' | 'floodPublish' | 'idontwantMinBytes' | 'relays'
> {
  const D = p2p.gossipMeshDegree
  const Dlo = p2p.gossipMeshDegreeLow
  return {
    D,
    Dlo,
    Dhi: p2p.gossipMeshDegreeHigh,
    Dout: Math.max(0, Math.min(defaultGossipOptions.Dout, Dlo - 1, Math.floor(D / 2))),
    Dscore: Math.min(defaultGossipOptions.Dscore, D),
    Dlazy: p2p.gossipLazyDegree,
    floodPublish: p2p.gossipFloodPublish,
    idontwantMinBytes: p2p.gossipIdontwantMinBytes,
    relays: p2p.gossipRelays,
  }
}

/**
 * gossipsub drops a re-publish of identical bytes while their id is in its seen cache. The engine
 * re-sends its (deterministically signed, so identical) VIEW-CHANGE on every view timeout, and
 * waiting txs are re-gossiped every few seconds; with the usual 30 s cache those re-sends would
 * not leave the node for 30 s, and a replica that missed the first copy (partitioned, restarting)
 * would stall the view change that long. So the cache lives shorter than the first view timeout.
 * Duplicates arriving later are cheap: the engine and the mempool dedup them. A re-send that still
 * falls inside the window (a NEW-VIEW re-sent for a replica that missed it, just after this node
 * relayed it) is published with `retryWhenSeen` and goes out once the window is over (node.ts).
 */
export function gossipSeenTtlMs(viewChangeTimeoutMs: number): number {
  return Math.min(30_000, Math.max(500, Math.floor(viewChangeTimeoutMs * 0.75)))
}
