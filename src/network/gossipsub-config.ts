import type { GossipsubOpts } from '@chainsafe/libp2p-gossipsub'
import { createTopicScoreParams, type TopicScoreParams } from '@chainsafe/libp2p-gossipsub/score'
import { StrictNoSign } from '@libp2p/interface'
import { sha256 } from '../crypto/hash.js'
import type { GossipOptions } from './options.js'

const textEncoder = new TextEncoder()

/**
 * Content-hash message id: SHA-256(topic ‖ 0x00 ‖ data). StrictNoSign messages carry no author or
 * seqno, so identical payloads are one message (the deduplication we want; consensus messages are
 * unique by signer/view/height). The topic is included so that copying a tx's bytes onto another
 * topic, where it is rejected, cannot mark the genuine message as already seen.
 */
function gossipMessageId(topic: string, data: Uint8Array): Uint8Array {
  return sha256(textEncoder.encode(topic), new Uint8Array([0]), data)
}

/**
 * gossipsub computes the fast id on the raw RPC message and the canonical id on the decoded one;
 * with StrictNoSign both share the same `data` array, so the digest is computed once per message.
 */
const idCache = new WeakMap<Uint8Array, { topic: string; id: Uint8Array }>()

function cachedMessageId(topic: string, data: Uint8Array): Uint8Array {
  const hit = idCache.get(data)
  if (hit !== undefined && hit.topic === topic) return hit.id
  const id = gossipMessageId(topic, data)
  idCache.set(data, { topic, id })
  return id
}

/**
 * Topic score parameters: only P4 (invalid deliveries) is active, so a Rejected message lowers the
 * propagation source's score (gossipsub scores only topics listed here). Mesh-delivery quotas
 * (P3/P3b) are off: consensus topics are quiet between blocks and an idle honest peer must not
 * be penalised for it.
 */
function topicScoreParams(opts: GossipOptions): TopicScoreParams {
  return createTopicScoreParams({
    topicWeight: 1,
    timeInMeshWeight: 0,
    timeInMeshQuantum: 1000,
    firstMessageDeliveriesWeight: 0,
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    invalidMessageDeliveriesWeight: opts.invalidMessageWeight,
    invalidMessageDeliveriesDecay: opts.invalidMessageDecay,
  })
}

/**
 * The app-specific score of a genesis validator. Honest validators must always hear each other: with
 * n = 3f+1 and f faulty, consensus needs every honest one. A validator key that misbehaved (and so
 * sank below gossip's publish/graylist thresholds) and then came back honest — the same peer id,
 * its score retained across the reconnect — was otherwise shunned for minutes, and with one other
 * validator faulty the chain stalled (found by the soak). Consensus cannot exclude a validator
 * anyway; its invalid messages are still Rejected (never relayed) and counted, so the offset only
 * keeps the links open. Outsiders get no offset and are penalised as before.
 */
const VALIDATOR_APP_SCORE = 1_000_000

/**
 * The app-specific score of a validator this node holds verified equivocation evidence against
 * (docs/PROTOCOL.md §2.5), for its cool-down: far below the graylist threshold (-80), so gossipsub
 * drops its RPCs as they arrive, before any message in them is handled, prunes it from every mesh
 * and sends it no gossip. Its messages relayed by others are dropped by the topic validators
 * (proven-faulty.ts). The score is read again every heartbeat, so the offset comes back by itself
 * once the cool-down is over.
 */
export const PROVEN_FAULTY_APP_SCORE = -1_000_000

/**
 * gossipsub's options for our topics. `isProvenFaultyPeer` marks peers for PROVEN_FAULTY_APP_SCORE;
 * `onCopy` sees every received copy of every message (gossipsub computes the fast id of each one
 * before its duplicate check), for the receive counters (receive-stats.ts).
 */
export function gossipsubInit(
  opts: GossipOptions,
  topics: readonly string[],
  validatorPeerIds: readonly string[] = [],
  isProvenFaultyPeer: (peerId: string) => boolean = () => false,
  onCopy?: (topic: string, bytes: number) => void,
): Partial<GossipsubOpts> {
  const scoredTopics: Record<string, TopicScoreParams> = {}
  for (const t of topics) scoredTopics[t] = topicScoreParams(opts)
  const validators = new Set(validatorPeerIds)
  return {
    globalSignaturePolicy: StrictNoSign,
    msgIdFn: (msg) => cachedMessageId(msg.topic, msg.data),
    fastMsgIdFn: (rpcMsg) => {
      const data = rpcMsg.data ?? new Uint8Array(0)
      onCopy?.(rpcMsg.topic, data.length)
      return Buffer.from(cachedMessageId(rpcMsg.topic, data)).toString('base64')
    },
    allowPublishToZeroTopicPeers: true,
    ignoreDuplicatePublishError: true,
    floodPublish: opts.floodPublish,
    emitSelf: false,
    D: opts.D,
    Dlo: opts.Dlo,
    Dhi: opts.Dhi,
    Dout: opts.Dout,
    Dscore: opts.Dscore,
    Dlazy: opts.Dlazy,
    heartbeatInterval: opts.heartbeatIntervalMs,
    // gossipsub sends IDONTWANT for data of at least this size; no message is that big
    idontwantMinDataSize: opts.idontwantMinBytes === 0 ? Number.MAX_SAFE_INTEGER : opts.idontwantMinBytes,
    seenTTL: opts.seenTtlMs,
    // no peer exchange: the validator set is known and connectivity is ours to manage
    doPX: false,
    // Relays on demand (relays.ts) let their grafts go with this PRUNE's backoff, which both sides
    // keep: 10 s (gossipsub's default) would bar the pair from grafting each other again for that long
    // should a link fail just after; our own 30 s hysteresis already rules out flapping.
    unsubcribeBackoff: 1_000,
    // frames above this are refused before protobuf decoding (gossipsub drops the peer's stream)
    maxInboundDataLength: 4 * 1024 * 1024,
    // gossipsub has no backpressure: a peer that stops reading would grow our send queue without
    // bound. Past this many queued bytes, sends to that peer fail (it catches up through sync).
    maxOutboundBufferSize: 64 * 1024 * 1024,
    allowedTopics: [...topics],
    scoreParams: {
      topics: scoredTopics,
      // every devnet node shares 127.0.0.1; colocation scoring would graylist them beyond 10
      IPColocationFactorWeight: 0,
      appSpecificScore: (peerId: string) =>
        isProvenFaultyPeer(peerId)
          ? PROVEN_FAULTY_APP_SCORE
          : validators.has(peerId)
            ? VALIDATOR_APP_SCORE
            : 0,
      appSpecificWeight: 1,
    },
  }
}
