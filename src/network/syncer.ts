import type { Block, CommitCertificate } from '../codec/types.js'
import { SyncUnavailableError } from './errors.js'
import type { NetworkLogger } from './logger.js'
import type { PeerStatus, SyncedBlock, SyncRequestOptions } from './sync-client.js'

/** Checks a block against the validator set (certificate, parent link); false ⇒ the peer lied. */
export type VerifySyncedBlock = (block: Block, certificate: CommitCertificate) => boolean | Promise<boolean>

interface SyncerComponents {
  /** connected peers to ask, most preferred first (validators before others) */
  candidatePeers(): string[]
  requestStatus(peerId: string, opts?: SyncRequestOptions): Promise<PeerStatus>
  requestBlocks(peerId: string, from: number, to: number, opts?: SyncRequestOptions): Promise<SyncedBlock[]>
  logger: NetworkLogger
  /** for peerTips' sample; injectable for deterministic tests */
  random?: () => number
}

interface SyncerOptions {
  maxBlocksPerRequest: number
  statusTimeoutMs: number
}

export interface PeerTip extends PeerStatus {
  peerId: string
}

/**
 * Fetches a height range from several peers. It asks every candidate for its tip, always requests
 * from the highest tip still trusted, and drops a peer for the rest of the call when it times out,
 * errors, sends malformed data, sends nothing although its tip says it could, or sends a block
 * that `verify` refuses. Blocks come out strictly in height order, each verified just before it
 * is yielded — so `verify(h)` runs after the consumer has handled h-1 and may check the link.
 * Fetching runs one range ahead: the next range is requested from the same peer as soon as the
 * current one arrived, so the network and the serving peer work while this node verifies and applies.
 */
export class Syncer {
  constructor(
    private readonly components: SyncerComponents,
    private readonly options: SyncerOptions,
  ) {}

  /**
   * Tips of the candidate peers that answer in time, highest first: all of them, or `sample`
   * picked at random (a poll whose cost does not grow with the peer count).
   */
  async peerTips(signal?: AbortSignal, opts: { sample?: number } = {}): Promise<PeerTip[]> {
    const all = this.components.candidatePeers()
    const peers =
      opts.sample === undefined ? all : pickRandom(all, opts.sample, this.components.random ?? Math.random)
    const results = await Promise.allSettled(
      peers.map(async (peerId) => ({
        peerId,
        ...(await this.components.requestStatus(peerId, { timeoutMs: this.options.statusTimeoutMs, signal })),
      })),
    )
    const tips: PeerTip[] = []
    for (const r of results) if (r.status === 'fulfilled') tips.push(r.value)
    // stable sort keeps candidatePeers' preference among equal tips
    return tips.sort((a, b) => b.height - a.height)
  }

  async *fetchRange(
    from: number,
    to: number,
    verify: VerifySyncedBlock,
    opts: { signal?: AbortSignal } = {},
  ): AsyncGenerator<SyncedBlock> {
    const { logger } = this.components
    let tips = await this.peerTips(opts.signal)
    const dropped = new Set<string>()
    let next = from
    // The next range, already requested while the current one is verified and applied (one range
    // ahead at most: a bounded buffer of maxBlocksPerRequest blocks).
    let ahead: Prefetch | undefined
    try {
      while (next <= to) {
        opts.signal?.throwIfAborted()
        const usable = tips.filter((t) => !dropped.has(t.peerId))
        const peer = usable.find((t) => t.height >= next)
        if (peer === undefined) {
          // Every honest-looking peer is behind `next`: the range is beyond the network's tip.
          if (usable.length > 0) return
          throw new SyncUnavailableError(`no peer can serve height ${next}`, next)
        }
        const last = Math.min(to, peer.height, next + this.options.maxBlocksPerRequest - 1)
        const pending =
          ahead !== undefined && ahead.peerId === peer.peerId && ahead.from === next
            ? ahead
            : this.prefetch(peer.peerId, next, last, opts.signal)
        if (pending !== ahead) ahead?.abort()
        ahead = undefined
        let blocks: SyncedBlock[]
        try {
          blocks = await pending.blocks
        } catch (err) {
          opts.signal?.throwIfAborted()
          logger.warn({ peer: peer.peerId, fromHeight: next, err }, 'sync peer failed; trying another')
          dropped.add(peer.peerId)
          continue
        }
        if (blocks.length === 0) {
          logger.warn(
            { peer: peer.peerId, fromHeight: next, tip: peer.height },
            'sync peer sent no blocks below its tip',
          )
          dropped.add(peer.peerId)
          continue
        }
        const following = next + blocks.length
        const end = Math.min(to, peer.height)
        if (following <= end) {
          const until = Math.min(end, following + this.options.maxBlocksPerRequest - 1)
          ahead = this.prefetch(peer.peerId, following, until, opts.signal)
        }
        // The whole range is checked at once (a worker pool batches the signatures of one turn),
        // then used in order up to its first block that fails.
        const verdicts = blocks.map((b) =>
          Promise.resolve()
            .then(() => verify(b.block, b.certificate))
            .catch((err: unknown) => {
              logger.warn({ height: b.height, err }, 'verify threw')
              return false
            }),
        )
        for (const [i, b] of blocks.entries()) {
          const ok = await verdicts[i]
          if (!ok) {
            logger.warn(
              { peer: peer.peerId, height: b.height },
              'sync peer sent a block that does not verify',
            )
            dropped.add(peer.peerId)
            break
          }
          yield b
          next = b.height + 1
        }
        // New peers may have connected meanwhile; refresh tips when the known ones run out.
        if (tips.every((t) => dropped.has(t.peerId) || t.height < next) && next <= to) {
          tips = await this.peerTips(opts.signal)
        }
      }
    } finally {
      ahead?.abort()
    }
  }

  /** Starts a block request now; its failure is reported when (and only if) it is awaited. */
  private prefetch(peerId: string, from: number, to: number, signal: AbortSignal | undefined): Prefetch {
    const controller = new AbortController()
    const combined = signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal])
    const blocks = this.components.requestBlocks(peerId, from, to, { signal: combined })
    blocks.catch(() => {})
    return { peerId, from, blocks, abort: () => controller.abort() }
  }
}

/** A block request in flight, for the range after the one being consumed. */
interface Prefetch {
  readonly peerId: string
  readonly from: number
  readonly blocks: Promise<SyncedBlock[]>
  abort(): void
}

/** Up to `k` distinct elements of `items`, chosen uniformly (partial Fisher–Yates). */
function pickRandom<T>(items: readonly T[], k: number, random: () => number): T[] {
  const copy = [...items]
  const n = Math.min(Math.max(0, Math.floor(k)), copy.length)
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (copy.length - i))
    const t = copy[i] as T
    copy[i] = copy[j] as T
    copy[j] = t
  }
  return copy.slice(0, n)
}
