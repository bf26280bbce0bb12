import { expect } from 'chai'
import { blockHash } from '../../../src/codec/chain.js'
import {
  type NewViewMsg,
  type PreparedCert,
  type ViewChangeMsg,
  viewChangeSignBytes,
} from '../../../src/codec/consensus.js'
import type { Block } from '../../../src/codec/types.js'
import { computeNewViewProposal, linkedPrefix } from '../../../src/consensus/new-view.js'
import type { EngineAction } from '../../../src/consensus/types.js'
import { verifyConsensusMessage } from '../../../src/consensus/verify.js'
import type { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { bytesEqual, toHex } from '../../../src/crypto/hash.js'
import {
  broadcasts,
  CHAIN,
  Cluster,
  GENESIS_HASH,
  makeBlock,
  makeEngine,
  makeSigners,
  makeValidators,
  ofType,
  signCommit,
  signPrePrepare,
  signPrepare,
} from './harness.js'

const signers = makeSigners(4)
const s = (i: number) => signers[i] as Ed25519Signer
const validators = makeValidators(signers)
const b1 = makeBlock(s(0), 0, 1, GENESIS_HASH)
const h1 = blockHash(b1.header)
const b2 = makeBlock(s(0), 0, 2, h1)
const h2 = blockHash(b2.header)
const b3 = makeBlock(s(0), 0, 3, h2)
const pp1 = signPrePrepare(s(0), 0, 0, 1, b1)
const pp2 = signPrePrepare(s(0), 0, 0, 2, b2)
const pp3 = signPrePrepare(s(0), 0, 0, 3, b3)

function prepares(actions: EngineAction[], height: number) {
  return broadcasts(actions).filter((m) => m.kind === 'prepare' && m.height === height)
}

function preparedCert(view: number, block: Block): PreparedCert {
  const height = block.header.height
  const hash = blockHash(block.header)
  const primary = view % 4
  const pp = signPrePrepare(s(primary), primary, view, height, block)
  const others = [0, 1, 2, 3].filter((i) => i !== primary).slice(0, 2)
  return {
    view,
    height,
    blockHash: hash,
    prePrepareSignature: pp.signature,
    prepares: others.map((i) => ({
      validator: i,
      signature: signPrepare(s(i), i, view, height, hash).signature,
    })),
    block,
  }
}

function viewChange(sender: number, newView: number, prepared: PreparedCert[]): ViewChangeMsg {
  const body = { newView, sender, checkpointHeight: 0, checkpoint: null, prepared }
  return { kind: 'viewchange', ...body, signature: s(sender).sign(viewChangeSignBytes(CHAIN, body)) }
}

describe('consensus/engine: pipelining within the watermarks [h, h + K]', () => {
  it('K = 4: the primary proposes heights 1..4 before any is final, each on its own block below', () => {
    const primary = makeEngine(signers, 0, { depth: 4 })
    let out = primary.step({ type: 'txs_available' })
    for (let h = 1; h <= 5; h++) {
      const req = ofType(out, 'request_proposal')
      if (h === 5) {
        expect(req, 'no request beyond the high watermark').to.have.length(0)
        break
      }
      expect(req).to.have.length(1)
      const r = req[0] as (typeof req)[0]
      expect(r.height).to.equal(h)
      expect(r.ancestors.map((b) => b.header.height)).to.deep.equal(
        Array.from({ length: h - 1 }, (_, i) => i + 1),
      )
      const block = makeBlock(s(0), 0, h, r.parentHash)
      if (h > 1)
        expect(bytesEqual(r.parentHash, blockHash((r.ancestors.at(-1) as Block).header))).to.equal(true)
      out = primary.step({ type: 'proposal', view: 0, height: h, block })
      expect(broadcasts(out).filter((m) => m.kind === 'preprepare')).to.have.length(1)
    }
  })

  it('K = 1 keeps one height at a time', () => {
    const primary = makeEngine(signers, 0, { depth: 1 })
    const req = ofType(primary.step({ type: 'txs_available' }), 'request_proposal')
    const out = primary.step({
      type: 'proposal',
      view: 0,
      height: 1,
      block: makeBlock(s(0), 0, 1, GENESIS_HASH),
    })
    expect(req).to.have.length(1)
    expect(ofType(out, 'request_proposal')).to.have.length(0)
  })

  it('a backup accepts h + 1 only once it prepared h in the view, validating it on top of h', () => {
    const seen: number[][] = []
    const backup = makeEngine(signers, 1, {
      depth: 4,
      validate: (b, ancestors) => {
        seen.push([b.header.height, ...ancestors.map((a) => a.header.height)])
        return { ok: true }
      },
    })
    // Out of order: the PRE-PREPARE for 2 first waits, it is not validated yet.
    expect(prepares(backup.step({ type: 'message', msg: pp2 }), 2)).to.have.length(0)
    expect(prepares(backup.step({ type: 'message', msg: pp1 }), 1)).to.have.length(1)
    // Prepared at 1 (PRE-PREPARE + its own and one more PREPARE = 2f): COMMIT for 1, and now PREPARE for 2.
    const out = backup.step({ type: 'message', msg: signPrepare(s(2), 2, 0, 1, h1) })
    expect(broadcasts(out).some((m) => m.kind === 'commit' && m.height === 1)).to.equal(true)
    expect(prepares(out, 2)).to.have.length(1)
    expect(seen).to.deep.equal([[1], [2, 1]])
  })

  it('a backup rejects h + 1 whose parent is not the block it prepared at h', () => {
    const backup = makeEngine(signers, 1, { depth: 4 })
    backup.step({ type: 'message', msg: pp1 })
    backup.step({ type: 'message', msg: signPrepare(s(2), 2, 0, 1, h1) })
    backup.step({ type: 'message', msg: signPrepare(s(3), 3, 0, 1, h1) })
    const other = makeBlock(s(0), 0, 2, GENESIS_HASH, 9)
    const out = backup.step({ type: 'message', msg: signPrePrepare(s(0), 0, 0, 2, other) })
    const rejects = broadcasts(out).filter((m) => m.kind === 'reject')
    expect(rejects).to.have.length(1)
    expect(rejects[0]?.kind === 'reject' && rejects[0].reason).to.equal('wrong parent hash')
    expect(prepares(out, 2)).to.have.length(0)
  })

  it('a certificate for h + 1 completed first waits: blocks are final strictly in height order', () => {
    const observer = makeEngine(signers, 0, { depth: 4, observer: true })
    observer.step({ type: 'message', msg: pp1 })
    observer.step({ type: 'message', msg: pp2 })
    let commits: EngineAction[] = []
    for (const i of [1, 2, 3])
      commits.push(...observer.step({ type: 'message', msg: signCommit(s(i), i, 0, 2, h2) }))
    expect(ofType(commits, 'commit'), 'height 2 is not final before 1').to.have.length(0)
    commits = []
    for (const i of [1, 2, 3])
      commits.push(...observer.step({ type: 'message', msg: signCommit(s(i), i, 0, 1, h1) }))
    expect(ofType(commits, 'commit').map((c) => c.block.header.height)).to.deep.equal([1, 2])
    expect(observer.height).to.equal(2)
  })

  it('a whole cluster with K = 4 finalizes the pipelined heights in order on every replica', () => {
    const c = new Cluster(4, 4)
    for (let i = 0; i < 4; i++) c.step(i, { type: 'txs_available' })
    c.run()
    for (let i = 0; i < 4; i++) {
      expect(
        c.committed[i]?.map((b) => b.header.height),
        `replica ${i}`,
      ).to.deep.equal([1, 2, 3, 4])
      const chain = c.committed[i] ?? []
      for (const [k, b] of chain.entries()) {
        const parent = k === 0 ? GENESIS_HASH : blockHash((chain[k - 1] as Block).header)
        expect(bytesEqual(b.header.parentHash, parent)).to.equal(true)
      }
    }
    // The primary had more than one height in flight.
    const firstCommit = c.log.findIndex((e) => e.action.type === 'commit')
    const early = c.log.slice(0, firstCommit).filter((e) => e.action.type === 'request_proposal')
    expect(early.length).to.be.greaterThan(1)
  })

  it('VIEW-CHANGE carries the chain of prepared certificates above the checkpoint', () => {
    const backup = makeEngine(signers, 1, { depth: 4 })
    for (const [pp, h] of [
      [pp1, h1],
      [pp2, h2],
    ] as const) {
      backup.step({ type: 'message', msg: pp })
      backup.step({ type: 'message', msg: signPrepare(s(2), 2, 0, pp.height, h) })
      backup.step({ type: 'message', msg: signPrepare(s(3), 3, 0, pp.height, h) })
    }
    backup.step({ type: 'message', msg: pp3 }) // accepted, not prepared: not in P
    const out = backup.step({ type: 'timeout', view: 0, height: 1 })
    const vc = broadcasts(out).find((m): m is ViewChangeMsg => m.kind === 'viewchange')
    expect(vc?.prepared.map((p) => p.height)).to.deep.equal([1, 2])
    expect(vc !== undefined && verifyConsensusMessage(vc, CHAIN, validators)).to.equal(true)
  })
})

describe('consensus/new-view: O as a chain of re-proposals', () => {
  const c1 = preparedCert(0, b1)
  const c2 = preparedCert(0, b2)
  const b2x = makeBlock(s(1), 1, 2, GENESIS_HASH, 5) // prepared in view 1, but not on block 1
  const c2x = preparedCert(1, b2x)

  it('takes the highest-view certificate per height, contiguous from the checkpoint', () => {
    const p = computeNewViewProposal([
      viewChange(0, 2, [c1, c2]),
      viewChange(1, 2, [c1]),
      viewChange(3, 2, []),
    ])
    expect(p.height).to.equal(1)
    expect(p.candidates.map((c) => toHex(c.blockHash))).to.deep.equal([toHex(h1), toHex(h2)])
    expect(linkedPrefix(p)).to.equal(2)
  })

  it('stops at a gap and at a candidate that does not extend the one below', () => {
    const gap = computeNewViewProposal([viewChange(0, 2, [c2]), viewChange(1, 2, []), viewChange(3, 2, [])])
    expect(gap.candidates).to.have.length(0)
    const broken = computeNewViewProposal([
      viewChange(0, 2, [c1, c2]),
      viewChange(2, 2, [c1, c2x]),
      viewChange(3, 2, []),
    ])
    expect(broken.candidates.map((c) => c.view)).to.deep.equal([0, 1])
    expect(linkedPrefix(broken)).to.equal(1)
  })

  it('the new primary sends O with a stop header; backups reject a NEW-VIEW that drops a candidate without one', () => {
    const primary = makeEngine(signers, 2, { depth: 4 })
    const vcs = [viewChange(0, 2, [c1, c2]), viewChange(1, 2, [c1, c2x]), viewChange(3, 2, [])]
    const out: EngineAction[] = []
    for (const vc of vcs) out.push(...primary.step({ type: 'message', msg: vc }))
    out.push(...primary.step({ type: 'message', msg: viewChange(3, 2, []) }))
    // 3 VIEW-CHANGEs for view 2 (its own was not sent: it never timed out) are a quorum.
    const nv = broadcasts(out).find((m): m is NewViewMsg => m.kind === 'newview')
    expect(nv, 'NEW-VIEW sent').to.not.equal(undefined)
    if (nv === undefined) return
    expect(nv.prePrepares.map((pp) => pp.height)).to.deep.equal([1])
    expect(nv.stopHeader !== null && bytesEqual(blockHash(nv.stopHeader), blockHash(b2x.header))).to.equal(
      true,
    )
    expect(verifyConsensusMessage(nv, CHAIN, validators)).to.equal(true)
    const noProof = { ...nv, stopHeader: null }
    expect(verifyConsensusMessage(noProof, CHAIN, validators), 'tail dropped without proof').to.equal(false)
    const lying = { ...nv, stopHeader: b2.header } // b2 does extend block 1: not a proof
    expect(verifyConsensusMessage(lying, CHAIN, validators), 'a header that is not the candidate').to.equal(
      false,
    )
  })

  it('a NEW-VIEW re-proposing a linked chain is valid only with every candidate in order', () => {
    const primary = makeEngine(signers, 2, { depth: 4 })
    const out: EngineAction[] = []
    for (const vc of [viewChange(0, 2, [c1, c2]), viewChange(1, 2, [c1, c2]), viewChange(3, 2, [])])
      out.push(...primary.step({ type: 'message', msg: vc }))
    const nv = broadcasts(out).find((m): m is NewViewMsg => m.kind === 'newview')
    if (nv === undefined) throw new Error('no NEW-VIEW')
    expect(nv.prePrepares.map((pp) => toHex(blockHash(pp.block.header)))).to.deep.equal([
      toHex(h1),
      toHex(h2),
    ])
    expect(nv.stopHeader).to.equal(null)
    expect(verifyConsensusMessage(nv, CHAIN, validators)).to.equal(true)
    const truncated = { ...nv, prePrepares: nv.prePrepares.slice(0, 1) }
    expect(verifyConsensusMessage(truncated, CHAIN, validators)).to.equal(false)
    // A backup in view 2 accepts block 2 only after block 1 prepared (the chain rule holds for O too).
    const backup = makeEngine(signers, 1, { depth: 4 })
    for (const vc of [viewChange(0, 2, [c1, c2]), viewChange(3, 2, [])])
      backup.step({ type: 'message', msg: vc })
    const accepted = backup.step({ type: 'message', msg: nv })
    expect(prepares(accepted, 1)).to.have.length(1)
    expect(prepares(accepted, 2)).to.have.length(0)
  })
})

describe('consensus/engine: joining a view from a certificate, then its NEW-VIEW', () => {
  it('asks for the NEW-VIEW with a VIEW-CHANGE for its view, and votes at once when it arrives', () => {
    // Block 1, proposed and certified in view 2.
    const block = makeBlock(s(2), 2, 1, GENESIS_HASH, 7)
    const hash = blockHash(block.header)
    const votes = [0, 1, 2].map((i) => ({
      validator: i,
      signature: signCommit(s(i), i, 2, 1, hash).signature,
    }))
    const laggard = makeEngine(signers, 3, { depth: 4 })
    const out = laggard.step({
      type: 'block_synced',
      block,
      certificate: { height: 1, view: 2, blockHash: hash, votes },
    })
    expect(laggard.view).to.equal(2)
    const asked = broadcasts(out).filter((m): m is ViewChangeMsg => m.kind === 'viewchange')
    expect(asked.map((m) => [m.newView, m.sender])).to.deep.equal([[2, 3]])
    expect(ofType(out, 'persist').some((a) => a.record.kind === 'viewchange')).to.equal(true)
    // Until the NEW-VIEW arrives, height 2 is closed (its O is unknown).
    const pp2 = signPrePrepare(s(2), 2, 2, 2, makeBlock(s(2), 2, 2, hash, 8))
    expect(prepares(laggard.step({ type: 'message', msg: pp2 }), 2)).to.have.length(0)
    // View 2's NEW-VIEW (empty O), as its primary built it from three VIEW-CHANGEs.
    const primary = makeEngine(signers, 2, { depth: 4 })
    const nvOut: EngineAction[] = []
    for (const i of [0, 1, 3]) nvOut.push(...primary.step({ type: 'message', msg: viewChange(i, 2, []) }))
    const nv = broadcasts(nvOut).find((m): m is NewViewMsg => m.kind === 'newview')
    if (nv === undefined) throw new Error('no NEW-VIEW')
    expect(nv.prePrepares).to.have.length(0)
    const after = laggard.step({ type: 'message', msg: nv })
    expect(laggard.view).to.equal(2)
    expect(prepares(after, 2), 'the waiting PRE-PREPARE is accepted now').to.have.length(1)
    // A NEW-VIEW for the view it is in is not taken twice.
    expect(laggard.step({ type: 'message', msg: nv })).to.have.length(0)
  })
})
