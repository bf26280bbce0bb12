import { merkleRoot } from '../../../src/chain/merkle.js'
import { ValidatorSet } from '../../../src/chain/validators.js'
import { blockHash, commitVoteSignBytes, txHash } from '../../../src/codec/chain.js'
import {
  type CommitMsg,
  type ConsensusMessage,
  type PrePrepareMsg,
  type PrepareMsg,
  prePrepareSignBytes,
  prepareSignBytes,
  type RejectMsg,
  rejectSignBytes,
  type WalRecord,
} from '../../../src/codec/consensus.js'
import type { Block, BlockHeader } from '../../../src/codec/types.js'
import { PbftEngine } from '../../../src/consensus/engine.js'
import type { BlockVerdict, EngineAction, EngineConfig, EngineEvent } from '../../../src/consensus/types.js'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { sha256 } from '../../../src/crypto/hash.js'

export const CHAIN = 'unit-chain'
export const TIMEOUTS = { viewChangeBaseMs: 1000, viewChangeMaxMs: 8000 }

export function makeSigners(n: number, label = 'v'): Ed25519Signer[] {
  return Array.from(
    { length: n },
    (_, i) => new Ed25519Signer(sha256(new TextEncoder().encode(`${label}${i}`))),
  )
}

export function makeValidators(signers: Ed25519Signer[]): ValidatorSet {
  return new ValidatorSet(signers.map((s, i) => ({ publicKey: s.publicKey, peerId: `p${i}` })))
}

export const GENESIS: BlockHeader = {
  chainId: CHAIN,
  height: 0,
  view: 0,
  timestamp: 0,
  proposer: new Uint8Array(32),
  parentHash: new Uint8Array(32),
  txRoot: merkleRoot([]),
  appHash: new Uint8Array(32),
}
export const GENESIS_HASH = blockHash(GENESIS)

/** A block at `height` over `parent` proposed in `view` by `proposer`; `salt` makes distinct blocks. */
export function makeBlock(
  proposer: Ed25519Signer,
  view: number,
  height: number,
  parentHash: Uint8Array,
  salt = 0,
): Block {
  const txs = [new TextEncoder().encode(`tx-${height}-${salt}`)]
  return {
    header: {
      chainId: CHAIN,
      height,
      view,
      timestamp: 1000 * height + salt,
      proposer: proposer.publicKey,
      parentHash,
      txRoot: merkleRoot(txs.map(txHash)),
      appHash: new Uint8Array(32),
    },
    txs,
  }
}

export function signPrePrepare(
  s: Ed25519Signer,
  sender: number,
  view: number,
  height: number,
  block: Block,
): PrePrepareMsg {
  const sig = s.sign(prePrepareSignBytes(CHAIN, view, height, sender, blockHash(block.header)))
  return { kind: 'preprepare', view, height, sender, block, signature: sig }
}

export function signPrepare(
  s: Ed25519Signer,
  sender: number,
  view: number,
  height: number,
  hash: Uint8Array,
): PrepareMsg {
  const signature = s.sign(prepareSignBytes(CHAIN, view, height, sender, hash))
  return { kind: 'prepare', view, height, blockHash: hash, sender, signature }
}

export function signCommit(
  s: Ed25519Signer,
  sender: number,
  view: number,
  height: number,
  hash: Uint8Array,
): CommitMsg {
  const signature = s.sign(commitVoteSignBytes(CHAIN, view, height, hash))
  return { kind: 'commit', view, height, blockHash: hash, sender, signature }
}

export function signReject(
  s: Ed25519Signer,
  sender: number,
  view: number,
  height: number,
  hash: Uint8Array,
): RejectMsg {
  const body = { view, height, blockHash: hash, sender, reason: 'bad block' }
  return { kind: 'reject', ...body, signature: s.sign(rejectSignBytes(CHAIN, body)) }
}

export interface EngineOptions {
  validate?: (b: Block, ancestors: readonly Block[]) => BlockVerdict
  /** pipelining depth K (default 1) */
  depth?: number
  wal?: WalRecord[]
  view?: number
  observer?: boolean
  /** the engine's timeouts (default TIMEOUTS) */
  timeouts?: EngineConfig['timeouts']
}

export function makeEngine(signers: Ed25519Signer[], self: number, opts: EngineOptions = {}): PbftEngine {
  const validators = makeValidators(signers)
  const observer = opts.observer === true
  return new PbftEngine(
    {
      chainId: CHAIN,
      validators,
      selfIndex: observer ? null : self,
      signer: observer ? null : (signers[self] as Ed25519Signer),
      timeouts: opts.timeouts ?? TIMEOUTS,
      pipelineDepth: opts.depth ?? 1,
    },
    { validateBlock: opts.validate ?? (() => ({ ok: true })) },
    {
      height: 0,
      lastBlockHash: GENESIS_HASH,
      lastHeader: GENESIS,
      view: opts.view ?? 0,
      wal: opts.wal ?? [],
    },
  )
}

export function broadcasts(actions: EngineAction[]): ConsensusMessage[] {
  return actions.flatMap((a) => (a.type === 'broadcast' ? [a.msg] : []))
}

export function ofType<T extends EngineAction['type']>(actions: EngineAction[], type: T) {
  return actions.filter((a): a is Extract<EngineAction, { type: T }> => a.type === type)
}

/**
 * n engines wired by synchronous, in-order delivery (a filter can drop messages): enough to drive the
 * protocol's normal case and view changes in unit tests without the simulator.
 */
export class Cluster {
  readonly signers: Ed25519Signer[]
  readonly engines: PbftEngine[]
  readonly committed: Block[][]
  readonly wals: WalRecord[][]
  readonly log: { from: number; action: EngineAction }[] = []
  drop: (from: number, to: number, msg: ConsensusMessage) => boolean = () => false
  private queue: { to: number; msg: ConsensusMessage }[] = []
  private heads: Uint8Array[]

  constructor(
    readonly n: number,
    depth = 1,
  ) {
    this.signers = makeSigners(n)
    this.engines = this.signers.map((_, i) => makeEngine(this.signers, i, { depth }))
    this.committed = this.signers.map(() => [])
    this.wals = this.signers.map(() => [])
    this.heads = this.signers.map(() => GENESIS_HASH)
  }

  step(i: number, ev: EngineEvent): void {
    const actions = (this.engines[i] as PbftEngine).step(ev)
    for (const a of actions) {
      this.log.push({ from: i, action: a })
      if (a.type === 'broadcast') {
        for (let j = 0; j < this.n; j++)
          if (j !== i && !this.drop(i, j, a.msg)) this.queue.push({ to: j, msg: a.msg })
      } else if (a.type === 'persist') {
        ;(this.wals[i] as WalRecord[]).push(a.record)
      } else if (a.type === 'prune_wal') {
        this.wals[i] = [...a.retain]
      } else if (a.type === 'commit') {
        ;(this.committed[i] as Block[]).push(a.block)
        this.heads[i] = blockHash(a.block.header)
      } else if (a.type === 'request_proposal') {
        const block = makeBlock(this.signers[i] as Ed25519Signer, a.view, a.height, a.parentHash)
        this.queue.push({
          to: -1 - i,
          msg: signPrePrepare(this.signers[i] as Ed25519Signer, i, a.view, a.height, block),
        })
      }
    }
  }

  /** Delivers until quiet; proposals requested are answered in order. */
  run(): void {
    for (let guard = 0; guard < 100_000 && this.queue.length > 0; guard++) {
      const { to, msg } = this.queue.shift() as { to: number; msg: ConsensusMessage }
      if (to < 0 && msg.kind === 'preprepare') {
        this.step(-1 - to, { type: 'proposal', view: msg.view, height: msg.height, block: msg.block })
      } else {
        this.step(to, { type: 'message', msg })
      }
    }
  }
}
