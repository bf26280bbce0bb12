import { hash } from 'node:crypto'
import { BoundedMap } from '../../mempool/bounded-map.js'
import {
  GossipErrorCode,
  GossipValidationError,
  type GossipValidator,
  type GossipVerdict,
} from '../gossip-validation.js'

/** How long an accepted vote or proposal is remembered (docs/PROTOCOL.md §2.3). */
export const RECENT_TTL_MS = 30_000
/** At most this many are remembered; past it the oldest is forgotten first. */
export const RECENT_MAX_ENTRIES = 65_536

/**
 * The consensus messages this node accepted lately, by content (SHA-256 of the payload), for
 * longer than gossipsub's seen cache. That cache forgets an id after the seen TTL (1.5 s by
 * default, kept short so that re-sent VIEW-CHANGEs go out: docs/PROTOCOL.md §2.2), while IHAVE
 * gossip announces the ids of the last 3 heartbeats (2.1 s): a peer asks again (IWANT) for what it
 * forgot, validates it again and, once it accepted it, announces it again itself. On an idle
 * 31-validator network that loop never ended (95 copies per second per node of the last block's
 * votes, docs/PERFORMANCE.md). A message found here is Ignored (`duplicate`): not delivered again,
 * not relayed, not announced, so a re-fetched copy goes no further.
 *
 * Entries expire in insertion order (one TTL for all, a re-add moves an entry to the back), so
 * pruning reads from the front only. The clock is injected (monotonic ms) for tests.
 */
export class RecentMessages {
  /** id → expiry (ms); insertion order is expiry order */
  private readonly expiry: BoundedMap<string, number>

  constructor(
    private readonly now: () => number = () => performance.now(),
    readonly ttlMs = RECENT_TTL_MS,
    maxEntries = RECENT_MAX_ENTRIES,
  ) {
    this.expiry = new BoundedMap(maxEntries)
  }

  get size(): number {
    return this.expiry.size
  }

  has(id: string): boolean {
    this.prune()
    return this.expiry.has(id)
  }

  add(id: string): void {
    this.expiry.set(id, this.now() + this.ttlMs)
  }

  private prune(): void {
    const t = this.now()
    for (let o = this.expiry.oldest(); o !== undefined && o[1] <= t; o = this.expiry.oldest()) {
      this.expiry.delete(o[0])
    }
  }
}

/** A payload's identity here: its SHA-256 (the gossip message id hashes the same bytes). */
export function payloadId(data: Uint8Array): string {
  return hash('sha256', data, 'base64')
}

/**
 * `validator` behind the recent-messages guard: a payload it accepted within the TTL is Ignored
 * (`duplicate`) before anything else is decoded or verified; an accepted one is remembered.
 */
export function onceWithinTtl(recent: RecentMessages, validator: GossipValidator): GossipValidator {
  return (data, from) => {
    const id = payloadId(data)
    if (recent.has(id)) throw new GossipValidationError('ignore', GossipErrorCode.duplicate)
    const remember = (verdict: GossipVerdict): GossipVerdict => {
      if (verdict === 'accept') recent.add(id)
      return verdict
    }
    const verdict = validator(data, from)
    return verdict instanceof Promise ? verdict.then(remember) : remember(verdict)
  }
}
