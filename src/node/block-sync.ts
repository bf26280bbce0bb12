import {
  CertificateError,
  type CertificateSignatureCheck,
  verifyCertificate,
  verifyCertificateWith,
} from '../chain/certificate.js'
import type { ChainStore } from '../chain/store.js'
import type { ValidatorSet } from '../chain/validators.js'
import { blockHash } from '../codec/chain.js'
import type { Block, CommitCertificate } from '../codec/types.js'
import type { Network } from '../network/network.js'
import type { SyncedBlock } from '../network/sync-client.js'
import type { Logger } from './logger.js'
import type { NodeMetrics } from './metrics.js'
import { readAhead } from './read-ahead.js'

/**
 * How often the node polls for a tip above its own when nothing else made it sync: every
 * SYNC_POLL_MS at first, then twice as long after each poll that found nobody ahead, up to
 * SYNC_POLL_MAX_MS; back to SYNC_POLL_MS after a round that fetched blocks or when a peer connects
 * (a peer that was away, or this node after a partition, may be ahead). Each poll asks one peer
 * picked at random (all of them only in the first round, at startup), so an idle network of n nodes
 * makes about n / 30 status requests per second, not n(n-1) / 2. Falling behind is mostly learned
 * from consensus messages instead (the engine's request_sync wakes the loop at once with a target).
 */
const SYNC_POLL_MS = 2_000
const SYNC_POLL_MAX_MS = 30_000
/** peers asked per poll after the first round */
const SYNC_POLL_PEERS = 1
const PEER_TIPS_TIMEOUT_MS = 5_000
/** Txs of fetched blocks whose preparation (signature checks on other threads) may run ahead of applying. */
const READ_AHEAD_TXS = 10_000
/** Synced blocks are made durable (one fsync) at least this often, and at the end of a round. */
const FLUSH_EVERY_BLOCKS = 256

export interface BlockSyncComponents {
  readonly chainId: string
  readonly validators: ValidatorSet
  readonly store: ChainStore
  readonly network: Pick<Network, 'peerTips' | 'fetchRange'>
  /** hands a fetched block to the engine; resolves once its step (and commit) is done */
  applySynced(block: Block, certificate: CommitCertificate): Promise<void>
  /** the poll's back-off bounds (SYNC_POLL_MS, SYNC_POLL_MAX_MS unless given; tests shorten them) */
  readonly pollMs?: { readonly min: number; readonly max: number }
  /** Ed25519 checks off the main thread, for the certificates of fetched blocks (else verified here) */
  checkSignatures?(checks: CertificateSignatureCheck[]): Promise<readonly boolean[]>
  /** work to start on a fetched block before its turn (tx signatures on other threads) */
  prepareSynced?(block: Block): Promise<void>
  /** while a round applies blocks, commit them without an fsync each; restore() makes them durable */
  readonly durability?: { defer(): void; restore(): Promise<void> }
  readonly metrics: NodeMetrics
  readonly log: Logger
}

/**
 * Catch-up (docs/PROTOCOL.md, block sync): whenever a peer's tip or a consensus message shows final
 * blocks above ours, fetch them with their certificates, verify each certificate, and feed them to
 * the engine — not only at startup, but every time the node falls behind. The driver's sync port.
 */
export class BlockSync {
  private wake: (() => void) | undefined
  private target = 0
  private stopping = false
  private loopDone: Promise<void> | undefined
  private catchingUpNow = false
  private rounds = 0
  private readonly pollMin: number
  private readonly pollMax: number
  /** the wait before the next poll: doubles while polls find nobody ahead */
  private pollDelay: number

  constructor(private readonly c: BlockSyncComponents) {
    this.pollMin = c.pollMs?.min ?? SYNC_POLL_MS
    this.pollMax = Math.max(this.pollMin, c.pollMs?.max ?? SYNC_POLL_MAX_MS)
    this.pollDelay = this.pollMin
  }

  /** The wait before the next poll when nothing wakes the loop earlier, ms. */
  get nextPollMs(): number {
    return this.pollDelay
  }

  get catchingUp(): boolean {
    return this.catchingUpNow
  }

  start(): void {
    this.loopDone = this.loop()
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.wake?.()
    await this.loopDone?.catch(() => {})
  }

  /**
   * A peer connected: poll soon again (now, if the loop is waiting). It may be ahead of us — a node
   * back from a partition or a restart learns here that it is behind, even when the network is idle
   * and no consensus message will tell it.
   */
  peerConnected(): void {
    this.pollDelay = this.pollMin
    this.wake?.()
  }

  /** Fetch final blocks up to at least `height` now, not at the next poll. */
  request(height: number): void {
    this.target = Math.max(this.target, height)
    this.wake?.()
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.syncOnce()
      } catch (err) {
        this.c.log.warn({ err }, 'block sync round failed')
      }
      if (this.stopping) break
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.pollDelay)
        this.wake = () => {
          clearTimeout(t)
          resolve()
        }
      })
      this.wake = undefined
    }
  }

  private async syncOnce(): Promise<void> {
    const { store } = this.c
    const from = store.tip().height + 1
    let best = this.target
    if (best < from) {
      // Nothing says we are behind: poll (everyone at startup, then one random peer per round).
      const sample = this.rounds++ === 0 ? undefined : SYNC_POLL_PEERS
      const tips = await this.c.network.peerTips(
        AbortSignal.timeout(PEER_TIPS_TIMEOUT_MS),
        sample === undefined ? {} : { sample },
      )
      best = Math.max(best, ...tips.map((t) => t.height))
    }
    this.c.metrics.syncTarget.set(Math.max(best, from - 1))
    if (best < from) {
      this.setCatchingUp(false)
      // nobody ahead: wait longer before asking again (an idle network costs ~nothing)
      this.pollDelay = Math.min(this.pollMax, this.pollDelay * 2)
      return
    }
    this.pollDelay = this.pollMin
    this.setCatchingUp(true)
    this.c.durability?.defer()
    try {
      await this.applyRange(from, best)
    } finally {
      await this.c.durability?.restore()
    }
    if (store.tip().height >= best) this.setCatchingUp(false)
  }

  /** Fetches from..best, each block verified before it is applied; logs the rate. */
  private async applyRange(from: number, best: number): Promise<void> {
    const { store } = this.c
    const started = Date.now()
    let applied = 0
    const rate = () => ((applied * 1000) / Math.max(1, Date.now() - started)).toFixed(1)
    for await (const { block, certificate } of this.fetched(from, best)) {
      if (this.stopping) break
      if (block.header.height !== store.tip().height + 1) continue
      await this.c.applySynced(block, certificate)
      if (store.tip().height === block.header.height) {
        applied++
        this.c.metrics.syncedBlocks.inc()
      }
      if (applied > 0 && applied % FLUSH_EVERY_BLOCKS === 0) {
        await this.c.durability?.restore()
        this.c.durability?.defer()
      }
      if (applied > 0 && applied % 100 === 0) {
        this.c.log.info({ height: store.tip().height, target: best, blocksPerSecond: rate() }, 'catching up')
      }
    }
    if (applied > 0) {
      this.c.log.info(
        { height: store.tip().height, target: best, applied, blocksPerSecond: rate() },
        'block sync caught up',
      )
    }
  }

  /**
   * The verified blocks from..best in order, prepared up to READ_AHEAD_TXS ahead. Reading ahead
   * is safe because verify checks only the certificate; the parent link and the txs are checked by
   * the engine and the app when the block's turn comes.
   */
  private fetched(from: number, best: number): AsyncIterable<SyncedBlock> {
    const blocks = this.c.network.fetchRange(from, best, (b, c) => this.verify(b, c))
    const prepare = this.c.prepareSynced?.bind(this.c)
    if (prepare === undefined) return blocks
    return readAhead(blocks, {
      weight: (s) => s.block.txs.length + 1,
      maxWeight: READ_AHEAD_TXS,
      prepare: (s) => prepare(s.block),
    })
  }

  private async verify(block: Block, certificate: CommitCertificate): Promise<boolean> {
    const expected = { height: block.header.height, blockHash: blockHash(block.header) }
    const { chainId, validators, checkSignatures } = this.c
    try {
      if (checkSignatures !== undefined) {
        try {
          await verifyCertificateWith(certificate, chainId, validators, expected, checkSignatures)
          return true
        } catch (err) {
          if (err instanceof CertificateError) return false
          // the checker itself failed (pool closed, worker died): not the peer's fault, check here
        }
      }
      verifyCertificate(certificate, chainId, validators, expected)
      return true
    } catch {
      return false
    }
  }

  private setCatchingUp(value: boolean): void {
    this.catchingUpNow = value
    this.c.metrics.catchingUp.set(value ? 1 : 0)
  }
}
