import { commitVoteSignBytes } from '../../src/codec/chain.js'
import type { ConsensusMessage } from '../../src/codec/consensus.js'
import { prepareSignBytes } from '../../src/codec/consensus.js'
import { PbftEngine } from '../../src/consensus/engine.js'
import type {
  EngineAction,
  EngineConfig,
  EngineDeps,
  EngineEvent,
  EngineInit,
} from '../../src/consensus/types.js'
import { sha256 } from '../../src/crypto/hash.js'
import { CHAIN } from '../unit/consensus/harness.js'
import { type Bounds, BYZANTINE, signer, World } from './world.js'

/**
 * Test-only broken worlds (`--mutant NAME`, test/model/model.spec.ts): each breaks an invariant the
 * checker claims to check, so a checker that could not find it would be caught.
 *
 * - `forged-vote`: the Byzantine validator holds honest validator 0's key too (outside the model's
 *   fault assumption) and may send a COMMIT for a block nobody has, signed by 0: an honest replica
 *   that also gets 0's real COMMIT holds evidence against honest replica 0.
 * - `echo-commit`: an engine subclass that, given a COMMIT of the Byzantine validator, also signs and
 *   broadcasts a PREPARE for that COMMIT's block in its view and height: after its own PREPARE
 *   there, an honest replica signed two PREPAREs for one slot.
 * - `order-sensitive`: an engine subclass whose behaviour depends on the insertion order of a Map the
 *   canonical digest takes in key order (the VIEW-CHANGEs by sender): it asks for block sync when the
 *   first VIEW-CHANGE it holds is validator 2's. Breaks no invariant; it breaks the premise of merging
 *   states by the canonical digest, which the spec's insertion-order check must then refute.
 * - `transient-reader`: an engine subclass that reads a scratch field the digest leaves out (the
 *   previous step's actions) and asks for block sync when that step sent more than one action. Breaks
 *   no invariant; it breaks the premise of leaving those fields out, which the spec's check refutes.
 */
export const MUTANTS = {
  'forged-vote': (bounds: Bounds) => new World(bounds, PbftEngine, forgedVotes),
  'echo-commit': (bounds: Bounds) => new World(bounds, EchoCommitEngine),
  'order-sensitive': (bounds: Bounds) => new World(bounds, OrderSensitiveEngine),
  'transient-reader': (bounds: Bounds) => new World(bounds, TransientReaderEngine),
} satisfies Record<string, (bounds: Bounds) => World>

export type MutantName = keyof typeof MUTANTS

function forgedVotes(seen: readonly ConsensusMessage[]): ConsensusMessage[] {
  const out: ConsensusMessage[] = []
  for (const m of seen) {
    if (m.kind !== 'preprepare') continue
    const fake = sha256(new TextEncoder().encode(`forged/${m.view}/${m.height}`))
    out.push({
      kind: 'commit',
      view: m.view,
      height: m.height,
      blockHash: fake,
      sender: 0,
      signature: signer(0).sign(commitVoteSignBytes(CHAIN, m.view, m.height, fake)),
    })
  }
  return out
}

class EchoCommitEngine extends PbftEngine {
  private readonly me: number

  constructor(config: EngineConfig, deps: EngineDeps, init: EngineInit) {
    super(config, deps, init)
    this.me = config.selfIndex ?? -1
  }

  override step(event: EngineEvent): EngineAction[] {
    const out = super.step(event)
    if (event.type !== 'message' || event.msg.kind !== 'commit' || event.msg.sender !== BYZANTINE) return out
    const { view, height, blockHash } = event.msg
    const signature = signer(this.me).sign(prepareSignBytes(CHAIN, view, height, this.me, blockHash))
    return [
      ...out,
      { type: 'broadcast', msg: { kind: 'prepare', view, height, blockHash, sender: this.me, signature } },
    ]
  }
}

class OrderSensitiveEngine extends PbftEngine {
  override step(event: EngineEvent): EngineAction[] {
    const out = super.step(event)
    const vc = (this as unknown as { vc: { viewChanges: Map<number, unknown> } }).vc
    const first = vc.viewChanges.keys().next().value
    return first === 2 ? [...out, { type: 'request_sync', height: 1 }] : out
  }
}

class TransientReaderEngine extends PbftEngine {
  override step(event: EngineEvent): EngineAction[] {
    const before = (this as unknown as { out: EngineAction[] }).out.length
    const out = super.step(event)
    return before > 1 ? [...out, { type: 'request_sync', height: 1 }] : out
  }
}
