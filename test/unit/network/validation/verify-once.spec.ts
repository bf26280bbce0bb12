import { expect } from 'chai'
import { blockHash } from '../../../../src/codec/chain.js'
import {
  type ConsensusMessage,
  decodeConsensusMessage,
  encodeConsensusMessage,
} from '../../../../src/codec/consensus.js'
import { PbftEngine } from '../../../../src/consensus/engine.js'
import type { EngineAction } from '../../../../src/consensus/types.js'
import { type Ed25519Signer, verifySignature } from '../../../../src/crypto/ed25519.js'
import { SignatureMemo } from '../../../../src/crypto/verify-memo.js'
import { createGossipValidators } from '../../../../src/network/validation/index.js'
import {
  broadcasts,
  CHAIN,
  GENESIS,
  GENESIS_HASH,
  makeBlock,
  makeSigners,
  makeValidators,
  signPrePrepare,
  signPrepare,
  TIMEOUTS,
} from '../../consensus/harness.js'
import { FakePool, FakeSignatures, judge } from './fakes.js'

/**
 * Verify once (docs/PERFORMANCE.md "Verify once"): the node gives the gossip validators and the
 * engine one ValidatorSet whose signature check is a SignatureMemo, so a consensus message that
 * came through gossip is verified once per node, and a tampered copy is still refused by both.
 */
describe('verify once: gossip validator, then engine', () => {
  const signers = makeSigners(4)
  const s = (i: number): Ed25519Signer => signers[i] as Ed25519Signer

  function setup() {
    let verifies = 0
    const memo = new SignatureMemo(1_000, (pk, m, sig) => {
      verifies++
      return verifySignature(pk, m, sig)
    })
    const validators = makeValidators(signers).withSignatureCheck(memo.check)
    const gossip = createGossipValidators({
      chainId: CHAIN,
      validators,
      tipHeight: () => 0,
      currentView: () => 0,
      now: () => 0,
      mempool: new FakePool(),
      signatures: new FakeSignatures(),
    })
    // replica 1 of 4; the primary of view 0 is replica 0
    const engine = new PbftEngine(
      { chainId: CHAIN, validators, selfIndex: 1, signer: s(1), timeouts: TIMEOUTS, pipelineDepth: 1 },
      { validateBlock: () => ({ ok: true }) },
      { height: 0, lastBlockHash: GENESIS_HASH, lastHeader: GENESIS, view: 0, wal: [] },
    )
    engine.step({ type: 'start' })
    /** what the node does with a gossip message: its topic validator, then (if accepted) the engine */
    const receive = async (msg: ConsensusMessage, data = encodeConsensusMessage(msg)) => {
      const verdict = await judge(gossip[msg.kind], data)
      const actions: EngineAction[] =
        verdict === 'accept'
          ? engine.step({ type: 'message', msg: decodeConsensusMessage(msg.kind, data) })
          : []
      return { verdict, actions }
    }
    return { receive, engine, verifies: () => verifies, memo }
  }

  it('each message that came through gossip costs one signature verification on the node', async () => {
    const t = setup()
    const block = makeBlock(s(0), 0, 1, GENESIS_HASH)
    const hash = blockHash(block.header)
    const pp = await t.receive(signPrePrepare(s(0), 0, 0, 1, block))
    expect(pp.verdict).to.equal('accept')
    expect(broadcasts(pp.actions).map((m) => m.kind)).to.deep.equal(['prepare']) // the engine used it
    expect(t.verifies()).to.equal(1)
    const prepare = await t.receive(signPrepare(s(2), 2, 0, 1, hash))
    expect(prepare.verdict).to.equal('accept')
    // PRE-PREPARE + own PREPARE + replica 2's: prepared, so the engine sends its COMMIT
    expect(broadcasts(prepare.actions).map((m) => m.kind)).to.deep.equal(['commit'])
    expect(t.verifies()).to.equal(2)
    expect(t.memo.hits).to.equal(2) // the engine's checks, answered from the memo
  })

  it('a tampered copy of a verified message misses the memo and is refused by gossip and engine', async () => {
    const t = setup()
    const block = makeBlock(s(0), 0, 1, GENESIS_HASH)
    const hash = blockHash(block.header)
    await t.receive(signPrePrepare(s(0), 0, 0, 1, block))
    const good = signPrepare(s(2), 2, 0, 1, hash)
    // the genuine PREPARE's signature, on another block hash; and its bytes with one signature bit flipped
    const otherHash = Uint8Array.from(hash)
    otherHash[0] = (otherHash[0] as number) ^ 1
    const signature = Uint8Array.from(good.signature)
    signature[5] = (signature[5] as number) ^ 1
    const tampered = [
      { ...good, blockHash: otherHash },
      { ...good, signature },
    ]
    for (const msg of tampered) {
      const before = t.verifies()
      const r = await t.receive(msg)
      expect(r.verdict).to.equal('reject:bad_signature_or_sender')
      expect(t.verifies()).to.equal(before + 1)
      // handed to the engine directly (a driver that skipped gossip): refused, no COMMIT
      expect(broadcasts(t.engine.step({ type: 'message', msg }))).to.deep.equal([])
    }
    // the genuine one still counts
    const r = await t.receive(good)
    expect(r.verdict).to.equal('accept')
    expect(broadcasts(r.actions).map((m) => m.kind)).to.deep.equal(['commit'])
  })
})
