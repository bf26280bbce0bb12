import type { TopicKind } from './topics.js'

/**
 * What one topic's gossip cost this node on the receiving side, counted apart for the first copy of
 * each message and for the copies that followed it (docs/PERFORMANCE.md "The scale sweep").
 * Bytes are gossip payload bytes (`data`), without protobuf, Noise or yamux framing.
 */
export interface GossipReceiveTopicStats {
  /** first copies: messages that reached this node's topic validator */
  messages: number
  bytes: number
  /** further copies of a message already seen here (dropped by gossipsub before validation) */
  duplicates: number
  duplicateBytes: number
}

/**
 * Called for every received copy (`received`) and again for the one copy of each message that
 * reached validation (`validated`): duplicates = received − validated.
 */
export type GossipReceiveHook = (kind: TopicKind, bytes: number, stage: 'received' | 'validated') => void

/**
 * Per-topic receive counters. gossipsub computes the fast message id of every copy it receives
 * (`copy`), and runs the topic validator only for the first one (`first`); duplicates are the
 * difference. Copies are not attributed until their validator runs or the next copy arrives, so
 * a snapshot taken mid-validation may show a copy as neither.
 */
export class GossipReceiveStats {
  private readonly stats = new Map<
    TopicKind,
    GossipReceiveTopicStats & { copies: number; copyBytes: number }
  >()

  constructor(private readonly hook?: GossipReceiveHook) {}

  /** Any received copy of a message on `kind` (first or not). */
  copy(kind: TopicKind, bytes: number): void {
    const s = this.entry(kind)
    s.copies++
    s.copyBytes += bytes
    this.hook?.(kind, bytes, 'received')
  }

  /** The copy of a message that reached validation (it was also counted by `copy`). */
  first(kind: TopicKind, bytes: number): void {
    const s = this.entry(kind)
    s.messages++
    s.bytes += bytes
    this.hook?.(kind, bytes, 'validated')
  }

  snapshot(): Partial<Record<TopicKind, GossipReceiveTopicStats>> {
    const out: Partial<Record<TopicKind, GossipReceiveTopicStats>> = {}
    for (const [kind, s] of this.stats) {
      out[kind] = {
        messages: s.messages,
        bytes: s.bytes,
        duplicates: Math.max(0, s.copies - s.messages),
        duplicateBytes: Math.max(0, s.copyBytes - s.bytes),
      }
    }
    return out
  }

  private entry(kind: TopicKind): GossipReceiveTopicStats & { copies: number; copyBytes: number } {
    let s = this.stats.get(kind)
    if (s === undefined) {
      s = { messages: 0, bytes: 0, duplicates: 0, duplicateBytes: 0, copies: 0, copyBytes: 0 }
      this.stats.set(kind, s)
    }
    return s
  }
}
