import type { ValidatorSet } from '../chain/validators.js'
import type { ConsensusMessage, WalRecord } from '../codec/consensus.js'
import type { Block, BlockHeader, CommitCertificate } from '../codec/types.js'
import type { Ed25519Signer } from '../crypto/ed25519.js'

interface ConsensusTimeouts {
  /** the first timeout of a view: a primary must commit pending work within it (§4.4) */
  readonly viewChangeBaseMs: number
  /** the doubling per failed view change stops here (no divergent timers after an outage) */
  readonly viewChangeMaxMs: number
  /**
   * Added to the progress timeout per tx of the block this replica accepted at the lowest open height,
   * or before it accepted one, of the last final block (default 0): the primary builds and every
   * replica validates and executes a block before the votes come, so a big block on a busy machine
   * gets the time its size needs instead of forcing a view change.
   */
  readonly perTxMs?: number
}

export interface EngineConfig {
  readonly chainId: string
  readonly validators: ValidatorSet
  /** this node's validator index, or null for an observer (follows and verifies, never signs) */
  readonly selfIndex: number | null
  readonly signer: Ed25519Signer | null
  readonly timeouts: ConsensusTimeouts
  /**
   * K: how many heights are agreed at once (watermarks [final + 1, final + K]); the primary proposes
   * h + 1 on top of its own proposal for h before h is final. Default 1. At most MAX_PIPELINE_DEPTH.
   */
  readonly pipelineDepth?: number
}

export type BlockVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string }

export interface EngineDeps {
  /**
   * Full validation (docs/CONSENSUS.md "Transactions and blocks") of a block on top of `ancestors`: the blocks this replica prepared for
   * heights last-final + 1 .. block height - 1 (empty for last-final + 1), in height order, each the
   * parent of the next, the last one the block's parent. The driver executes them speculatively on its
   * committed state. Deterministic: every honest replica returns the same verdict for the same chain.
   */
  validateBlock(block: Block, ancestors: readonly Block[]): BlockVerdict
}

export interface EngineInit {
  /** last final height (0 = only genesis) */
  readonly height: number
  readonly lastBlockHash: Uint8Array
  readonly lastHeader?: BlockHeader
  /** the certificate of the last final block; required when height > 0 (it is the stable checkpoint) */
  readonly lastCertificate?: CommitCertificate | null
  /**
   * the certificates of the final blocks just below the last one (up to MAX_PIPELINE_DEPTH - 1 of
   * them, any order): the lowest one of the last block's view tells which heights of that view its
   * NEW-VIEW cannot constrain, as before the restart (view-change.ts adoptCertifiedView)
   */
  readonly recentCertificates?: readonly CommitCertificate[]
  /** a floor for the view; the WAL usually knows better */
  readonly view: number
  /** every record the engine asked to persist and did not prune, in any order */
  readonly wal: readonly WalRecord[]
}

export type EngineEvent =
  /** once, right after construction: re-arms timers and re-sends the latest VIEW-CHANGE after a restart */
  | { readonly type: 'start' }
  | { readonly type: 'message'; readonly msg: ConsensusMessage }
  /** the mempool holds executable txs; re-send after every commit while it still does */
  | { readonly type: 'txs_available' }
  /** the answer to request_proposal; block null when there was nothing to propose after all */
  | {
      readonly type: 'proposal'
      readonly view: number
      readonly height: number
      readonly block: Block | null
    }
  | { readonly type: 'timeout'; readonly view: number; readonly height: number }
  /** a block fetched by sync for height last-final + 1 (the engine verifies the certificate again) */
  | { readonly type: 'block_synced'; readonly block: Block; readonly certificate: CommitCertificate }

/** An equivocation's slot: the validator, the kind, and the view and height it signed twice for. */
export interface EvidenceSlot {
  readonly sender: number
  readonly kind: ConsensusMessage['kind']
  readonly view: number
  readonly height: number
}

/** An equivocation as reported: its slot and the two signed messages (for the driver to verify). */
export interface Evidence extends EvidenceSlot {
  readonly first: ConsensusMessage
  readonly second: ConsensusMessage
}

export type EngineAction =
  /** write durably before executing any later action of the same step (persist-before-send) */
  | { readonly type: 'persist'; readonly record: WalRecord }
  /** replace the whole WAL by exactly these records (everything else is obsolete) */
  | { readonly type: 'prune_wal'; readonly retain: readonly WalRecord[] }
  | { readonly type: 'broadcast'; readonly msg: ConsensusMessage }
  | {
      readonly type: 'request_proposal'
      readonly view: number
      readonly height: number
      readonly parentHash: Uint8Array
      readonly parentHeader: BlockHeader | null
      /** this primary's uncommitted blocks below `height` (pipelining), in height order; the last is the parent */
      readonly ancestors: readonly Block[]
    }
  /** strictly in height order; persist and apply before executing later actions */
  | { readonly type: 'commit'; readonly block: Block; readonly certificate: CommitCertificate }
  /** at most one timer is live: a start replaces the previous one */
  | { readonly type: 'start_timer'; readonly view: number; readonly height: number; readonly ms: number }
  | { readonly type: 'cancel_timer' }
  /** fetch final blocks above the last final height, at least up to `height` */
  | { readonly type: 'request_sync'; readonly height: number }
  | { readonly type: 'evidence'; readonly evidence: Evidence }

export type EnginePhase = 'normal' | 'viewchange'

export interface EngineStatus {
  readonly view: number
  readonly height: number
  readonly phase: EnginePhase
  readonly primary: number
  readonly isPrimary: boolean
  /** messages held in the engine's logs (bounded; shrinks at each checkpoint) */
  readonly loggedMessages: number
}
