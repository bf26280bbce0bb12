import { expect } from 'chai'
import { verifyCertificate } from '../../../src/chain/certificate.js'
import { merkleRoot } from '../../../src/chain/merkle.js'
import { blockHash, txHash } from '../../../src/codec/chain.js'
import { type PrePrepareMsg, type ViewChangeMsg, viewChangeSignBytes } from '../../../src/codec/consensus.js'
import { MAX_PIPELINE_DEPTH } from '../../../src/codec/limits.js'
import type { Block } from '../../../src/codec/types.js'
import type { EngineAction } from '../../../src/consensus/types.js'
import type { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { bytesEqual } from '../../../src/crypto/hash.js'
import {
  broadcasts,
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
  signReject,
  TIMEOUTS,
} from './harness.js'

const signers4 = makeSigners(4)
const s = (i: number) => signers4[i] as Ed25519Signer
const block1 = makeBlock(s(0), 0, 1, GENESIS_HASH)
const hash1 = blockHash(block1.header)
const pp1 = signPrePrepare(s(0), 0, 0, 1, block1)

describe('consensus/engine: normal case (§4.2)', () => {
  for (const n of [1, 4, 7]) {
    it(`n=${n}: txs → PRE-PREPARE → PREPARE → COMMIT → final block with a valid certificate on every replica`, () => {
      const c = new Cluster(n)
      for (let i = 0; i < n; i++) c.step(i, { type: 'txs_available' })
      c.run()
      for (let i = 0; i < n; i++) {
        expect(c.committed[i], `replica ${i}`).to.have.length(1)
        expect(c.engines[i]?.height).to.equal(1)
      }
      const commits = c.log.flatMap((e) => (e.action.type === 'commit' ? [e.action] : []))
      for (const a of commits) {
        verifyCertificate(a.certificate, 'unit-chain', makeValidators(c.signers), {
          height: 1,
          blockHash: blockHash(a.block.header),
        })
      }
    })
  }

  it('makes no block without txs (no empty-block spam)', () => {
    const c = new Cluster(4)
    c.step(0, { type: 'start' })
    c.run()
    expect(c.log.filter((e) => e.action.type === 'request_proposal')).to.have.length(0)
  })

  it('persists every signed vote before broadcasting it (persist-before-send)', () => {
    const c = new Cluster(4)
    for (let i = 0; i < 4; i++) c.step(i, { type: 'txs_available' })
    c.run()
    for (let i = 0; i < 4; i++) {
      const mine = c.log.filter((e) => e.from === i).map((e) => e.action)
      for (const [k, a] of mine.entries()) {
        if (a.type !== 'broadcast' || !['preprepare', 'prepare', 'commit', 'viewchange'].includes(a.msg.kind))
          continue
        const persisted = mine
          .slice(0, k)
          .some((p) => p.type === 'persist' && 'msg' in p.record && p.record.msg === a.msg)
        expect(persisted, `replica ${i} ${a.msg.kind}`).to.equal(true)
      }
    }
  })

  it('commits strictly in height order over several heights and prunes the WAL', () => {
    const c = new Cluster(4)
    for (let h = 0; h < 5; h++) {
      for (let i = 0; i < 4; i++) c.step(i, { type: 'txs_available' })
      c.run()
    }
    for (let i = 0; i < 4; i++) {
      expect((c.committed[i] ?? []).map((b) => b.header.height)).to.deep.equal([1, 2, 3, 4, 5])
      expect(c.wals[i]?.length).to.be.at.most(2)
      expect(c.engines[i]?.status().loggedMessages).to.be.at.most(8)
    }
  })
})

describe('consensus/engine: PRE-PREPARE acceptance (§4.2)', () => {
  const other = makeBlock(s(0), 0, 1, GENESIS_HASH, 9)
  const cases: {
    name: string
    msgs: PrePrepareMsg[]
    valid?: boolean
    prepares: number
    rejects?: number
  }[] = [
    { name: 'accepts a valid proposal from the primary', msgs: [pp1], prepares: 1 },
    {
      name: 'ignores a proposal for another view',
      msgs: [signPrePrepare(s(1), 1, 1, 1, makeBlock(s(1), 1, 1, GENESIS_HASH))],
      prepares: 0,
    },
    {
      name: 'ignores a proposal not from the primary',
      msgs: [signPrePrepare(s(2), 2, 0, 1, makeBlock(s(2), 0, 1, GENESIS_HASH))],
      prepares: 0,
    },
    {
      name: 'buffers a proposal above the watermark window (h = last final + 2)',
      msgs: [signPrePrepare(s(0), 0, 0, 2, makeBlock(s(0), 0, 2, hash1))],
      prepares: 0,
    },
    {
      name: 'ignores a proposal far above the window',
      msgs: [signPrePrepare(s(0), 0, 0, 9, makeBlock(s(0), 0, 9, hash1))],
      prepares: 0,
    },
    {
      name: 'prepares only the first digest for one (v, h)',
      msgs: [pp1, signPrePrepare(s(0), 0, 0, 1, other)],
      prepares: 1,
    },
    {
      name: 'sends no PREPARE but a signed rejection for an invalid block',
      msgs: [pp1],
      valid: false,
      prepares: 0,
      rejects: 1,
    },
    {
      name: 'rejects a block whose parent is not the last final block',
      msgs: [signPrePrepare(s(0), 0, 0, 1, makeBlock(s(0), 0, 1, hash1))],
      prepares: 0,
      rejects: 1,
    },
    {
      name: 'ignores a forged signature',
      msgs: [{ ...pp1, signature: new Uint8Array(64) }],
      prepares: 0,
    },
  ]
  for (const tc of cases) {
    it(tc.name, () => {
      const e = makeEngine(signers4, 1, {
        validate: () => (tc.valid === false ? { ok: false, reason: 'bad nonce' } : { ok: true }),
      })
      const out = tc.msgs.flatMap((msg) => e.step({ type: 'message', msg }))
      const sent = broadcasts(out)
      expect(sent.filter((m) => m.kind === 'prepare')).to.have.length(tc.prepares)
      expect(sent.filter((m) => m.kind === 'reject')).to.have.length(tc.rejects ?? 0)
      const rej = sent.find((m) => m.kind === 'reject')
      if (rej?.kind === 'reject') expect(rej.reason).to.be.a('string').and.not.equal('')
    })
  }

  it('reports a primary that signs two proposals for one (v, h) and starts a view change at once', () => {
    const e = makeEngine(signers4, 1)
    e.step({ type: 'message', msg: pp1 })
    const out = e.step({
      type: 'message',
      msg: signPrePrepare(s(0), 0, 0, 1, makeBlock(s(0), 0, 1, GENESIS_HASH, 5)),
    })
    expect(ofType(out, 'evidence')).to.have.length(1)
    expect(broadcasts(out).some((m) => m.kind === 'viewchange')).to.equal(true)
    expect(e.evidence).to.have.length(1)
  })
})

describe('consensus/engine: prepared and committed quorums', () => {
  it('prepared needs 2f matching PREPAREs from backups; the primary, other digests and duplicates do not count', () => {
    const e = makeEngine(signers4, 1)
    e.step({ type: 'message', msg: pp1 }) // own PREPARE = 1 of 2f = 2
    const wrong = signPrepare(s(2), 2, 0, 1, blockHash(makeBlock(s(0), 0, 1, GENESIS_HASH, 3).header))
    const fromPrimary = signPrepare(s(0), 0, 0, 1, hash1)
    const good = signPrepare(s(3), 3, 0, 1, hash1)
    for (const msg of [wrong, fromPrimary]) {
      expect(broadcasts(e.step({ type: 'message', msg })).filter((m) => m.kind === 'commit')).to.have.length(
        0,
      )
    }
    const out = e.step({ type: 'message', msg: good })
    expect(broadcasts(out).filter((m) => m.kind === 'commit')).to.have.length(1)
    expect(broadcasts(e.step({ type: 'message', msg: good }))).to.have.length(0)
  })

  it('committed needs 2f+1 matching COMMITs; a duplicate is not counted twice', () => {
    const e = makeEngine(signers4, 3, {})
    e.step({ type: 'message', msg: pp1 })
    const c0 = signCommit(s(0), 0, 0, 1, hash1)
    expect(ofType(e.step({ type: 'message', msg: c0 }), 'commit')).to.have.length(0)
    expect(ofType(e.step({ type: 'message', msg: c0 }), 'commit')).to.have.length(0)
    const out = e.step({ type: 'message', msg: signCommit(s(1), 1, 0, 1, hash1) })
    expect(ofType(out, 'commit')).to.have.length(0) // 2 commits + own none yet (not prepared)
    const out2 = e.step({ type: 'message', msg: signCommit(s(2), 2, 0, 1, hash1) })
    const commits = ofType(out2, 'commit')
    expect(commits).to.have.length(1)
    expect(commits[0]?.certificate.votes.map((v) => v.validator)).to.deep.equal([0, 1, 2])
  })

  it('a COMMIT with a forged signature is ignored', () => {
    const e = makeEngine(signers4, 3)
    e.step({ type: 'message', msg: pp1 })
    for (const i of [0, 1]) e.step({ type: 'message', msg: signCommit(s(i), i, 0, 1, hash1) })
    const forged = {
      ...signCommit(s(2), 2, 0, 1, hash1),
      signature: signCommit(s(1), 2, 0, 1, hash1).signature,
    }
    expect(ofType(e.step({ type: 'message', msg: forged }), 'commit')).to.have.length(0)
    expect(e.height).to.equal(0)
  })

  it('two different PREPAREs from one validator are kept as evidence', () => {
    const e = makeEngine(signers4, 1)
    e.step({ type: 'message', msg: signPrepare(s(2), 2, 0, 1, hash1) })
    const out = e.step({
      type: 'message',
      msg: signPrepare(s(2), 2, 0, 1, blockHash(makeBlock(s(0), 0, 1, GENESIS_HASH, 4).header)),
    })
    const ev = ofType(out, 'evidence')
    expect(ev).to.have.length(1)
    expect(ev[0]?.evidence.sender).to.equal(2)
  })
})

describe('consensus/engine: the progress timer and the size of the block in flight', () => {
  const PER_TX = 2
  const timeouts = { ...TIMEOUTS, perTxMs: PER_TX }
  /** a block of `n` distinct txs (the unit harness's makeBlock has one) */
  function blockOf(n: number, height: number, parent: Uint8Array, view = 0): Block {
    const base = makeBlock(s(view % 4), view, height, parent)
    const txs = Array.from({ length: n }, (_, i) => new TextEncoder().encode(`tx-${height}-${i}`))
    return { header: { ...base.header, txRoot: merkleRoot(txs.map(txHash)) }, txs }
  }
  const timersOf = (out: EngineAction[]) => ofType(out, 'start_timer').map((t) => [t.view, t.height, t.ms])

  it('restarts at the acceptance of the lowest height with perTxMs per tx of the accepted block', () => {
    const e = makeEngine(signers4, 1, { timeouts })
    expect(timersOf(e.step({ type: 'txs_available' }))).to.deep.equal([[0, 1, TIMEOUTS.viewChangeBaseMs]])
    const b = blockOf(50, 1, GENESIS_HASH)
    const out = e.step({ type: 'message', msg: signPrePrepare(s(0), 0, 0, 1, b) })
    expect(broadcasts(out).map((m) => m.kind)).to.deep.equal(['prepare'])
    expect(timersOf(out)).to.deep.equal([[0, 1, TIMEOUTS.viewChangeBaseMs + 50 * PER_TX]])
  })

  it('gives no allowance without perTxMs, nor for a block it rejected (before any final block)', () => {
    const b = blockOf(50, 1, GENESIS_HASH)
    const plain = makeEngine(signers4, 1)
    plain.step({ type: 'txs_available' })
    const accepted = plain.step({ type: 'message', msg: signPrePrepare(s(0), 0, 0, 1, b) })
    expect(timersOf(accepted)).to.deep.equal([[0, 1, TIMEOUTS.viewChangeBaseMs]])
    const rejecting = makeEngine(signers4, 1, { timeouts, validate: () => ({ ok: false, reason: 'bad' }) })
    rejecting.step({ type: 'txs_available' })
    const rejected = rejecting.step({ type: 'message', msg: signPrePrepare(s(0), 0, 0, 1, b) })
    expect(broadcasts(rejected).map((m) => m.kind)).to.deep.equal(['reject'])
    expect(timersOf(rejected)).to.deep.equal([])
  })

  it('before a block is accepted, the last final block sizes the timer (the next one is built and validated)', () => {
    const e = makeEngine(signers4, 2, { timeouts })
    const b1 = blockOf(50, 1, GENESIS_HASH)
    const h1 = blockHash(b1.header)
    e.step({ type: 'txs_available' })
    e.step({ type: 'message', msg: signPrePrepare(s(0), 0, 0, 1, b1) })
    for (const i of [0, 1, 3]) e.step({ type: 'message', msg: signPrepare(s(i), i, 0, 1, h1) })
    const out = [0, 1, 3].flatMap((i) => e.step({ type: 'message', msg: signCommit(s(i), i, 0, 1, h1) }))
    expect(ofType(out, 'commit')).to.have.length(1)
    expect(timersOf(out)).to.deep.equal([]) // nothing pending: no timer
    const next = e.step({ type: 'txs_available' })
    expect(timersOf(next)).to.deep.equal([[0, 2, TIMEOUTS.viewChangeBaseMs + 50 * PER_TX]])
    // the view-change timer (from the 2f+1st VIEW-CHANGE for view 1) gets no allowance
    const vc = e.step({ type: 'timeout', view: 0, height: 2 })
    expect(broadcasts(vc).map((m) => m.kind)).to.include('viewchange')
    const vcTimers = [0, 3].flatMap((i) => timersOf(e.step({ type: 'message', msg: viewChangeFrom(i, 1) })))
    expect(vcTimers).to.deep.equal([[1, 2, 2 * TIMEOUTS.viewChangeBaseMs]])
  })

  it('the next height inherits the allowance of the block it accepted while the lower one was in flight', () => {
    const e = makeEngine(signers4, 1, { timeouts, depth: 2 })
    e.step({ type: 'txs_available' })
    const b1 = blockOf(50, 1, GENESIS_HASH)
    const h1 = blockHash(b1.header)
    const b2 = blockOf(20, 2, h1)
    e.step({ type: 'message', msg: signPrePrepare(s(0), 0, 0, 1, b1) })
    // h2 is validated once h1 prepared here (the chain rule); its acceptance does not restart h1's timer
    const early = e.step({ type: 'message', msg: signPrePrepare(s(0), 0, 0, 2, b2) })
    expect(timersOf(early)).to.deep.equal([])
    let out = [0, 2, 3].flatMap((i) => e.step({ type: 'message', msg: signPrepare(s(i), i, 0, 1, h1) }))
    expect(broadcasts(out).map((m) => `${m.kind}@${'height' in m ? m.height : -1}`)).to.include.members([
      'commit@1',
      'prepare@2',
    ])
    expect(timersOf(out)).to.deep.equal([])
    out = [0, 2, 3].flatMap((i) => e.step({ type: 'message', msg: signCommit(s(i), i, 0, 1, h1) }))
    expect(ofType(out, 'commit').map((c) => c.block.header.height)).to.deep.equal([1])
    expect(timersOf(out)).to.deep.equal([[0, 2, TIMEOUTS.viewChangeBaseMs + 20 * PER_TX]])
  })
})

describe('consensus/engine: view change (§4.4, TOCS §4.5)', () => {
  it('starts a timer when txs wait and sends a persisted VIEW-CHANGE when it fires', () => {
    const e = makeEngine(signers4, 1)
    const t = ofType(e.step({ type: 'txs_available' }), 'start_timer')
    expect(t).to.have.length(1)
    expect(t[0]?.ms).to.equal(TIMEOUTS.viewChangeBaseMs)
    const out = e.step({ type: 'timeout', view: 0, height: 1 })
    const vc = broadcasts(out).find((m) => m.kind === 'viewchange')
    expect(vc?.kind === 'viewchange' && vc.newView).to.equal(1)
    const persistAt = out.findIndex((a) => a.type === 'persist' && a.record.kind === 'viewchange')
    const sendAt = out.findIndex((a) => a.type === 'broadcast' && a.msg.kind === 'viewchange')
    expect(persistAt).to.be.within(0, sendAt - 1)
    expect(e.view).to.equal(1)
    expect(e.phase).to.equal('viewchange')
  })

  it('ignores a stale timeout', () => {
    const e = makeEngine(signers4, 1)
    e.step({ type: 'txs_available' })
    expect(e.step({ type: 'timeout', view: 5, height: 1 })).to.have.length(0)
    expect(e.view).to.equal(0)
  })

  it('doubles the timeout per failed view change, capped at viewChangeMaxMs', () => {
    const e = makeEngine(signers4, 1)
    let timer = ofType(e.step({ type: 'txs_available' }), 'start_timer')[0]
    const seen: number[] = []
    for (let k = 0; k < 10 && timer !== undefined; k++) {
      seen.push(timer.ms)
      const out = e.step({ type: 'timeout', view: timer.view, height: timer.height })
      // Two peers join each view change, so 2f+1 replicas gave up on it and the timer escalates (§4.5.2).
      for (const i of [2, 3]) out.push(...e.step({ type: 'message', msg: viewChangeFrom(i, e.view) }))
      const ts = ofType(out, 'start_timer')
      timer = ts[ts.length - 1]
    }
    expect(seen[0]).to.equal(TIMEOUTS.viewChangeBaseMs)
    expect(seen).to.include(2 * TIMEOUTS.viewChangeBaseMs)
    expect(Math.max(...seen)).to.equal(TIMEOUTS.viewChangeMaxMs)
    for (let k = 1; k < seen.length; k++) expect(seen[k]).to.be.at.least(seen[k - 1] as number)
  })

  it('f+1 signed rejections of the proposal start the view change at once', () => {
    const e = makeEngine(signers4, 3)
    e.step({ type: 'message', msg: pp1 })
    expect(broadcasts(e.step({ type: 'message', msg: signReject(s(1), 1, 0, 1, hash1) }))).to.have.length(0)
    const out = e.step({ type: 'message', msg: signReject(s(2), 2, 0, 1, hash1) })
    expect(broadcasts(out).some((m) => m.kind === 'viewchange')).to.equal(true)
  })

  it('joins the view that f+1 VIEW-CHANGEs for higher views reached (TOCS §4.5.2)', () => {
    const e = makeEngine(signers4, 3)
    expect(broadcasts(e.step({ type: 'message', msg: viewChangeFrom(1, 5) }))).to.have.length(0)
    const out = e.step({ type: 'message', msg: viewChangeFrom(2, 3) })
    const vc = broadcasts(out).find((m) => m.kind === 'viewchange')
    expect(vc?.kind === 'viewchange' && vc.newView).to.equal(3)
  })

  it('the new primary re-proposes the prepared block in NEW-VIEW and the others commit it', () => {
    const c = new Cluster(4)
    // Replica 0 (primary of view 0) proposes; COMMITs are lost, so the block is prepared but not final.
    c.drop = (_from, _to, msg) => msg.kind === 'commit'
    for (let i = 0; i < 4; i++) c.step(i, { type: 'txs_available' })
    c.run()
    expect(c.committed.every((b) => b.length === 0)).to.equal(true)
    const proposal = c.log.find((e) => e.action.type === 'broadcast' && e.action.msg.kind === 'preprepare')
    if (proposal?.action.type !== 'broadcast' || proposal.action.msg.kind !== 'preprepare')
      throw new Error('no proposal')
    const preparedHash = blockHash(proposal.action.msg.block.header)
    c.drop = () => false
    for (let i = 1; i < 4; i++) c.step(i, { type: 'timeout', view: 0, height: 1 })
    c.run()
    const nv = c.log.find((e) => e.action.type === 'broadcast' && e.action.msg.kind === 'newview')
    expect(nv?.from).to.equal(1)
    for (let i = 0; i < 4; i++) {
      expect(c.committed[i]?.length, `replica ${i}`).to.equal(1)
      expect(bytesEqual(blockHash((c.committed[i]?.[0] ?? block1).header), preparedHash)).to.equal(true)
    }
  })

  it('a backup rejects a NEW-VIEW whose O differs from the recomputed one', () => {
    const c = new Cluster(4)
    c.drop = (_f, _t, msg) => msg.kind === 'commit' || msg.kind === 'newview'
    for (let i = 0; i < 4; i++) c.step(i, { type: 'txs_available' })
    c.run()
    for (let i = 1; i < 4; i++) c.step(i, { type: 'timeout', view: 0, height: 1 })
    c.run()
    const nvEntry = c.log.find((e) => e.action.type === 'broadcast' && e.action.msg.kind === 'newview')
    const nv =
      nvEntry?.action.type === 'broadcast' && nvEntry.action.msg.kind === 'newview'
        ? nvEntry.action.msg
        : null
    expect(nv?.prePrepares).to.have.length(1)
    if (nv === null) return
    const fresh = makeBlock(s(1), 1, 1, GENESIS_HASH, 77)
    const wrong = { ...nv, prePrepares: [signPrePrepare(s(1), 1, 1, 1, fresh)] }
    const e = c.engines[2]
    const out = e?.step({ type: 'message', msg: wrong }) ?? []
    expect(broadcasts(out).filter((m) => m.kind === 'prepare')).to.have.length(0)
    expect(e?.phase).to.equal('viewchange')
  })
})

describe('consensus/engine: restart from the WAL', () => {
  it('never signs a PREPARE conflicting with one signed before the crash, and reports its prepared block', () => {
    const first = makeEngine(signers4, 1)
    const out = first.step({ type: 'message', msg: pp1 })
    const mid = first.step({ type: 'message', msg: signPrepare(s(2), 2, 0, 1, hash1) })
    const more = first.step({ type: 'message', msg: signPrepare(s(3), 3, 0, 1, hash1) })
    const wal = [...out, ...mid, ...more].flatMap((a) => (a.type === 'persist' ? [a.record] : []))
    expect(wal.map((r) => r.kind)).to.deep.equal(['prepare', 'commit'])
    const restarted = makeEngine(signers4, 1, { wal })
    restarted.step({ type: 'start' })
    const conflicting = signPrePrepare(s(0), 0, 0, 1, makeBlock(s(0), 0, 1, GENESIS_HASH, 42))
    const after = restarted.step({ type: 'message', msg: conflicting })
    expect(broadcasts(after).filter((m) => m.kind === 'prepare' || m.kind === 'commit')).to.have.length(0)
    const vcOut = restarted.step({ type: 'timeout', view: 0, height: 1 })
    // The conflicting proposal is the primary's equivocation: the view change starts at once.
    const vc = broadcasts([...after, ...vcOut]).find((m): m is ViewChangeMsg => m.kind === 'viewchange')
    expect(vc?.prepared[0]?.view).to.equal(0)
    expect(bytesEqual(vc?.prepared[0]?.blockHash ?? new Uint8Array(), hash1)).to.equal(true)
  })

  it('never signs a second VIEW-CHANGE for a view it already asked for, and stays in it', () => {
    const first = makeEngine(signers4, 1)
    first.step({ type: 'txs_available' })
    const out = first.step({ type: 'timeout', view: 0, height: 1 })
    const wal = out.flatMap((a) => (a.type === 'persist' ? [a.record] : []))
    const restarted = makeEngine(signers4, 1, { wal })
    expect(restarted.view).to.equal(1)
    expect(restarted.phase).to.equal('viewchange')
    const again = restarted.step({ type: 'start' })
    const vcs = broadcasts(again).filter((m): m is ViewChangeMsg => m.kind === 'viewchange')
    expect(
      vcs.every((m) => bytesEqual(m.signature, (wal[0] as { msg: ViewChangeMsg }).msg.signature)),
    ).to.equal(true)
  })
})

describe('consensus/engine: lagging replicas, sync and observers', () => {
  it('asks for sync on a certified checkpoint above its height, and commits a synced block', () => {
    const c = new Cluster(4)
    for (let i = 0; i < 4; i++) c.step(i, { type: 'txs_available' })
    c.run()
    const commit = c.log.find((e) => e.action.type === 'commit')?.action
    if (commit?.type !== 'commit') throw new Error('no commit')
    const laggard = makeEngine(c.signers, 3)
    const ahead = c.engines[1]
    ahead?.step({ type: 'txs_available' })
    const vc = broadcasts(ahead?.step({ type: 'timeout', view: 0, height: 2 }) ?? []).find(
      (m) => m.kind === 'viewchange',
    )
    if (vc === undefined) throw new Error('no view change')
    const out = laggard.step({ type: 'message', msg: vc })
    expect(ofType(out, 'request_sync').map((a) => a.height)).to.deep.equal([1])
    const bad = { ...commit.certificate, votes: commit.certificate.votes.slice(0, 2) }
    expect(
      ofType(laggard.step({ type: 'block_synced', block: commit.block, certificate: bad }), 'commit'),
    ).to.have.length(0)
    const ok = laggard.step({ type: 'block_synced', block: commit.block, certificate: commit.certificate })
    expect(ofType(ok, 'commit')).to.have.length(1)
    expect(laggard.height).to.equal(1)
  })

  it('a replica below the view of a synced certificate joins that view (restarted or wiped replica)', () => {
    // Blocks proposed by view 2's primary (validator 2) and certified by a quorum in view 2.
    const certified = (height: number, parent: Uint8Array) => {
      const block = makeBlock(s(2), 2, height, parent, 7)
      const hash = blockHash(block.header)
      const votes = [0, 1, 2].map((i) => ({
        validator: i,
        signature: signCommit(s(i), i, 2, height, hash).signature,
      }))
      return { block, certificate: { height, view: 2, blockHash: hash, votes } }
    }
    const laggard = makeEngine(signers4, 3)
    expect(laggard.view).to.equal(0)
    let parent = GENESIS_HASH
    const first = certified(1, parent)
    expect(ofType(laggard.step({ type: 'block_synced', ...first }), 'commit')).to.have.length(1)
    parent = first.certificate.blockHash
    expect(laggard.view).to.equal(2)
    expect(laggard.status().phase).to.equal('normal')
    // Without view 2's NEW-VIEW it does not know O, which spans at most MAX_PIPELINE_DEPTH heights above
    // a checkpoint below height 1: heights 2..4 stay closed to it, height 5 is free.
    const early = signPrePrepare(s(2), 2, 2, 2, makeBlock(s(2), 2, 2, parent, 8))
    expect(
      broadcasts(laggard.step({ type: 'message', msg: early })).filter((m) => m.kind === 'prepare'),
    ).to.have.length(0)
    for (let h = 2; h < 1 + MAX_PIPELINE_DEPTH; h++) {
      const next = certified(h, parent)
      expect(ofType(laggard.step({ type: 'block_synced', ...next }), 'commit')).to.have.length(1)
      parent = next.certificate.blockHash
    }
    // It now votes in view 2: a PRE-PREPARE of view 2 for the first free height gets its PREPARE.
    const free = 1 + MAX_PIPELINE_DEPTH
    const pp = signPrePrepare(s(2), 2, 2, free, makeBlock(s(2), 2, free, parent, 8))
    const prepares = broadcasts(laggard.step({ type: 'message', msg: pp })).filter(
      (m) => m.kind === 'prepare',
    )
    expect(prepares).to.have.length(1)
    // A replica already changing to a view above the certificate's stays on that path.
    const changing = makeEngine(signers4, 3)
    changing.step({ type: 'txs_available' })
    changing.step({ type: 'timeout', view: 0, height: 1 })
    expect([changing.view, changing.status().phase]).to.deep.equal([1, 'viewchange'])
    const block0 = makeBlock(s(0), 0, 1, GENESIS_HASH, 9)
    const hash0 = blockHash(block0.header)
    const votes0 = [0, 1, 2].map((i) => ({
      validator: i,
      signature: signCommit(s(i), i, 0, 1, hash0).signature,
    }))
    changing.step({
      type: 'block_synced',
      block: block0,
      certificate: { height: 1, view: 0, blockHash: hash0, votes: votes0 },
    })
    expect(changing.height).to.equal(1)
    expect([changing.view, changing.status().phase]).to.deep.equal([1, 'viewchange'])
  })

  it('an observer follows commits but never signs or persists', () => {
    const e = makeEngine(signers4, 0, { observer: true })
    const out = [
      ...e.step({ type: 'txs_available' }),
      ...e.step({ type: 'message', msg: pp1 }),
      ...[0, 1, 2].flatMap((i) => e.step({ type: 'message', msg: signCommit(s(i), i, 0, 1, hash1) })),
    ]
    expect(
      out.filter((a) => a.type === 'broadcast' || a.type === 'persist' || a.type === 'start_timer'),
    ).to.have.length(0)
    expect(ofType(out, 'commit')).to.have.length(1)
  })
})

function viewChangeFrom(i: number, newView: number): ViewChangeMsg {
  const body = { newView, sender: i, checkpointHeight: 0, checkpoint: null, prepared: [] }
  return { kind: 'viewchange', ...body, signature: s(i).sign(viewChangeSignBytes('unit-chain', body)) }
}
