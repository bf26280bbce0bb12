import { expect } from 'chai'
import { merkleRoot } from '../../../../src/chain/merkle.js'
import { blockHash, txHash } from '../../../../src/codec/chain.js'
import {
  type CompactPrePrepare,
  compactPrePrepare,
  encodeCompactPrePrepare,
} from '../../../../src/codec/compact.js'
import {
  encodeConsensusMessage,
  type NewViewMsg,
  prePrepareSignBytes,
  type ViewChangeMsg,
} from '../../../../src/codec/consensus.js'
import type { Block } from '../../../../src/codec/types.js'
import type { Ed25519Signer } from '../../../../src/crypto/ed25519.js'
import { defaultValidatorBudgets } from '../../../../src/network/options.js'
import {
  createPrePrepareValidator,
  embeddedBlocksMatch,
  ProvenFaulty,
  ValidatorBudget,
} from '../../../../src/network/validation/index.js'
import { CHAIN, GENESIS_HASH, makeSigners, signPrePrepare } from '../../consensus/harness.js'
import { Fixture, judge, signers } from './fakes.js'

const s = (i: number): Ed25519Signer => signers[i] as Ed25519Signer
const outsider = makeSigners(1, 'outsider')[0] as Ed25519Signer
const tx = (i: number): Uint8Array => new TextEncoder().encode(`compact tx ${i}`)

function block(height: number, view: number, txs: Uint8Array[]): Block {
  return {
    header: {
      chainId: CHAIN,
      height,
      view,
      timestamp: 1000 * height,
      proposer: s(view % 4).publicKey,
      parentHash: GENESIS_HASH,
      txRoot: merkleRoot(txs.map(txHash)),
      appHash: new Uint8Array(32),
    },
    txs,
  }
}

/** A compact PRE-PREPARE of `height` in `view`, from its primary unless told otherwise. */
function compact(
  height = 1,
  view = 0,
  opts: { sender?: number; signer?: Ed25519Signer } = {},
): CompactPrePrepare {
  const sender = opts.sender ?? view % 4
  const b = block(height, view, [tx(1), tx(2), tx(3)])
  const signer = opts.signer ?? s(sender)
  const signature = signer.sign(prePrepareSignBytes(CHAIN, view, height, sender, blockHash(b.header)))
  return compactPrePrepare({ kind: 'preprepare', view, height, sender, block: b, signature })
}

describe('network/validation/preprepare: the compact form', () => {
  it('accepts a compact PRE-PREPARE of the primary whose hashes give the tx root, and charges its budget', async () => {
    const f = new Fixture()
    expect(await judge(f.validators.preprepare, encodeCompactPrePrepare(compact()))).to.equal('accept')
    expect(f.validatorSet.verifies).to.equal(1)
  })

  it('still accepts the full form', async () => {
    const f = new Fixture()
    const full = signPrePrepare(s(0), 0, 0, 1, block(1, 0, [tx(1)]))
    expect(await judge(f.validators.preprepare, encodeConsensusMessage(full))).to.equal('accept')
  })

  it('rejects hashes that do not give the tx root (tampered, dropped, reordered, added)', async () => {
    const f = new Fixture()
    const c = compact()
    const variants: (readonly Uint8Array[])[] = [
      [txHash(tx(9)), ...c.txHashes.slice(1)],
      c.txHashes.slice(0, 2),
      [...c.txHashes].reverse(),
      [...c.txHashes, txHash(tx(4))],
      [],
    ]
    for (const txHashes of variants) {
      expect(await judge(f.validators.preprepare, encodeCompactPrePrepare({ ...c, txHashes }))).to.equal(
        'reject:bad_tx_root',
      )
    }
  })

  it('rejects a full PRE-PREPARE whose txs were swapped under its signed header (bad_tx_root)', async () => {
    const f = new Fixture()
    const full = signPrePrepare(s(0), 0, 0, 1, block(1, 0, [tx(1), tx(2)]))
    // every signature still verifies (it covers the header): only the body check can tell
    const swapped = { ...full, block: { ...full.block, txs: [tx(1), tx(9)] } }
    expect(await judge(f.validators.preprepare, encodeConsensusMessage(swapped))).to.equal(
      'reject:bad_tx_root',
    )
    expect(await judge(f.validators.preprepare, encodeConsensusMessage(full))).to.equal('accept')
  })

  it('checks the blocks a VIEW-CHANGE and a NEW-VIEW carry against their headers', () => {
    const good = block(1, 0, [tx(1), tx(2)])
    const bad = { ...good, txs: [tx(2), tx(1)] }
    const cert = (b: Block | null) => ({
      view: 0,
      height: 1,
      blockHash: blockHash(good.header),
      prePrepareSignature: new Uint8Array(64),
      prepares: [],
      block: b,
    })
    const vc = (b: Block | null): ViewChangeMsg => ({
      kind: 'viewchange',
      newView: 1,
      sender: 1,
      checkpointHeight: 0,
      checkpoint: null,
      prepared: [cert(b)],
      signature: new Uint8Array(64),
    })
    expect(embeddedBlocksMatch(vc(good))).to.equal(true)
    expect(embeddedBlocksMatch(vc(null))).to.equal(true)
    expect(embeddedBlocksMatch(vc(bad))).to.equal(false)
    const pp = (b: Block) => ({ ...signPrePrepare(s(1), 1, 1, 1, good), block: b })
    const nv = (b: Block): NewViewMsg => ({
      kind: 'newview',
      view: 1,
      sender: 1,
      viewChanges: [vc(null)],
      prePrepares: [pp(b)],
      stopHeader: null,
      signature: new Uint8Array(64),
    })
    expect(embeddedBlocksMatch(nv(good))).to.equal(true)
    expect(embeddedBlocksMatch(nv(bad))).to.equal(false)
  })

  it('rejects a bad signature, a non-primary sender and a signer outside the set', async () => {
    const f = new Fixture()
    const c = compact()
    const badSig = { ...c, signature: c.signature.map((b, i) => (i === 0 ? b ^ 1 : b)) }
    const cases = [
      badSig,
      compact(1, 0, { sender: 2 }), // validator 2 is not the primary of view 0
      compact(1, 0, { signer: outsider }),
      compact(1, 0, { signer: s(1) }), // signed by another validator under the primary's index
      { ...c, header: { ...c.header, height: 2 } }, // the header names another height
    ]
    for (const m of cases) {
      expect(await judge(f.validators.preprepare, encodeCompactPrePrepare(m))).to.equal(
        'reject:bad_signature_or_sender',
      )
    }
  })

  it('rejects malformed bytes with the compact tag, ignores stale or far ones before any signature check', async () => {
    const f = new Fixture()
    const good = encodeCompactPrePrepare(compact())
    expect(await judge(f.validators.preprepare, good.subarray(0, good.length - 1))).to.equal(
      'reject:malformed',
    )
    expect(await judge(f.validators.preprepare, Uint8Array.from([...good, 0]))).to.equal('reject:malformed')
    f.tip = 5
    expect(await judge(f.validators.preprepare, encodeCompactPrePrepare(compact(3)))).to.equal('ignore:stale')
    f.tip = 0
    expect(await judge(f.validators.preprepare, encodeCompactPrePrepare(compact(1, 9)))).to.equal(
      'ignore:far_view',
    )
    expect(f.validatorSet.verifies).to.equal(0)
  })

  it('spends the votes budget it shares with the other consensus topics', async () => {
    const budgets = { votes: { ratePerSec: 1, burst: 1 }, viewChanges: { ratePerSec: 1, burst: 1 } }
    const f = new Fixture({ budgets })
    expect(await judge(f.validators.preprepare, encodeCompactPrePrepare(compact(1)))).to.equal('accept')
    expect(await judge(f.validators.preprepare, encodeCompactPrePrepare(compact(2)))).to.equal(
      'ignore:rate_limited',
    )
  })

  it('ignores a proven-faulty primary from its sender field, unverified', async () => {
    const f = new Fixture()
    const provenFaulty = new ProvenFaulty(60_000)
    provenFaulty.prove(0)
    const validator = createPrePrepareValidator(
      { ...f.components, provenFaulty },
      new ValidatorBudget(defaultValidatorBudgets, () => 0),
    )
    expect(await judge(validator, encodeCompactPrePrepare(compact()))).to.equal('ignore:proven_faulty')
    expect(f.validatorSet.verifies).to.equal(0)
  })
})
