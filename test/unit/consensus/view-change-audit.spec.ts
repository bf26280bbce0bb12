import { expect } from 'chai'
import { blockHash } from '../../../src/codec/chain.js'
import {
  type NewViewMsg,
  newViewSignBytes,
  type PreparedCert,
  type ViewChangeMsg,
  viewChangeSignBytes,
  type WalRecord,
} from '../../../src/codec/consensus.js'
import type { Block, CommitCertificate } from '../../../src/codec/types.js'
import { PbftEngine } from '../../../src/consensus/engine.js'
import type { BlockVerdict, EngineAction } from '../../../src/consensus/types.js'
import { verifyConsensusMessage } from '../../../src/consensus/verify.js'
import type { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import {
  broadcasts,
  CHAIN,
  GENESIS_HASH,
  makeBlock,
  makeEngine,
  makeSigners,
  makeValidators,
  ofType,
  signCommit,
  signPrePrepare,
  signPrepare,
  TIMEOUTS,
} from './harness.js'

/**
 * Regressions from an audit of the view change (docs/CONSENSUS.md "Pipelining (K > 1)"): an honest replica
 * never signs two VIEW-CHANGEs for one view, its NEW-VIEW request after a restart is a valid
 * VIEW-CHANGE, a primary's second NEW-VIEW is evidence, and the view-change timer runs from the
 * VIEW-CHANGE quorum (TOCS §4.5.2).
 */
const signers = makeSigners(4)
const s = (i: number) => signers[i] as Ed25519Signer
const validators = makeValidators(signers)

function certified(view: number, height: number, parent: Uint8Array) {
  const block = makeBlock(s(view % 4), view, height, parent, 7)
  const hash = blockHash(block.header)
  const votes = [0, 1, 2].map((i) => ({
    validator: i,
    signature: signCommit(s(i), i, view, height, hash).signature,
  }))
  const certificate: CommitCertificate = { height, view, blockHash: hash, votes }
  return { block, certificate }
}

function applyWal(wal: WalRecord[], out: EngineAction[]): WalRecord[] {
  let w = wal
  for (const a of out) {
    if (a.type === 'persist') w = [...w, a.record]
    if (a.type === 'prune_wal') w = [...a.retain]
  }
  return w
}

function viewChange(i: number, newView: number): ViewChangeMsg {
  const body = { newView, sender: i, checkpointHeight: 0, checkpoint: null, prepared: [] }
  return { kind: 'viewchange', ...body, signature: s(i).sign(viewChangeSignBytes(CHAIN, body)) }
}

describe('consensus: view change audit regressions', () => {
  it('a replica changing to view v that joins v from a certificate re-sends its VIEW-CHANGE, never a second one', () => {
    const r = makeEngine(signers, 3)
    r.step({ type: 'txs_available' })
    const vc1 = broadcasts(r.step({ type: 'timeout', view: 0, height: 1 })).find(
      (m): m is ViewChangeMsg => m.kind === 'viewchange',
    )
    expect(vc1?.newView).to.equal(1)
    const peer = makeEngine(signers, 0)
    expect(ofType(peer.step({ type: 'message', msg: vc1 as ViewChangeMsg }), 'evidence')).to.deep.equal([])
    // block 1, certified in view 1, arrives by sync: r joins view 1 and asks for its NEW-VIEW
    const out = r.step({ type: 'block_synced', ...certified(1, 1, GENESIS_HASH) })
    expect([r.view, r.phase]).to.deep.equal([1, 'normal'])
    const vcs = broadcasts(out).filter((m): m is ViewChangeMsg => m.kind === 'viewchange')
    expect(vcs.map((m) => m.signature)).to.deep.equal([vc1?.signature]) // the same message again
    expect(ofType(out, 'persist').filter((a) => a.record.kind === 'viewchange')).to.deep.equal([])
    for (const m of vcs) expect(ofType(peer.step({ type: 'message', msg: m }), 'evidence')).to.deep.equal([])
  })

  it('after a restart in a view joined from certificates: a valid NEW-VIEW request, and it votes on as before', () => {
    let wal: WalRecord[] = []
    const r = makeEngine(signers, 3, { depth: 4 })
    let parent = GENESIS_HASH
    const certs: { block: Block; certificate: CommitCertificate }[] = []
    for (let h = 1; h <= 4; h++) {
      const c = certified(2, h, parent)
      certs.push(c)
      wal = applyWal(wal, r.step({ type: 'block_synced', ...c }))
      parent = c.certificate.blockHash
    }
    expect([r.view, r.phase, r.height]).to.deep.equal([2, 'normal', 4])
    const b5 = makeBlock(s(2), 2, 5, parent, 8)
    const h5 = blockHash(b5.header)
    const out = r.step({ type: 'message', msg: signPrePrepare(s(2), 2, 2, 5, b5) })
    wal = applyWal(wal, out)
    expect(broadcasts(out).some((m) => m.kind === 'prepare')).to.equal(true)
    for (const i of [0, 1])
      wal = applyWal(wal, r.step({ type: 'message', msg: signPrepare(s(i), i, 2, 5, h5) }))
    expect(wal.some((w) => w.kind === 'commit')).to.equal(true)

    const last = certs[3] as { block: Block; certificate: CommitCertificate }
    const restarted = new PbftEngine(
      { chainId: CHAIN, validators, selfIndex: 3, signer: s(3), timeouts: TIMEOUTS, pipelineDepth: 4 },
      { validateBlock: () => ({ ok: true }) },
      {
        height: 4,
        lastBlockHash: last.certificate.blockHash,
        lastHeader: last.block.header,
        lastCertificate: last.certificate,
        recentCertificates: certs.slice(0, 3).map((c) => c.certificate),
        view: 0,
        wal,
      },
    )
    const vc = broadcasts(restarted.step({ type: 'start' })).find(
      (m): m is ViewChangeMsg => m.kind === 'viewchange',
    )
    expect(vc?.newView).to.equal(2)
    // §4.4: its P holds no certificate of view 2 itself, so peers accept it and re-send the NEW-VIEW
    expect(vc?.prepared.every((p) => p.view < 2)).to.equal(true)
    expect(verifyConsensusMessage(vc as ViewChangeMsg, CHAIN, validators)).to.equal(true)
    // heights open before the crash (view 2 joined at height 1: free from 5) are open after it
    const b6 = makeBlock(s(2), 2, 6, h5, 8)
    const o6 = restarted.step({ type: 'message', msg: signPrePrepare(s(2), 2, 2, 6, b6) })
    expect(broadcasts(o6).filter((m) => m.kind === 'prepare')).to.have.length(1)
  })

  it("a primary's second, different NEW-VIEW for a view is recorded as evidence and ignored", () => {
    const r = makeEngine(signers, 2)
    for (const i of [0, 3]) r.step({ type: 'message', msg: viewChange(i, 1) })
    const nvBody = (vcs: number[]) => ({
      view: 1,
      sender: 1,
      viewChanges: vcs.map((i) => {
        const { signature, ...rest } = viewChange(i, 1)
        return { ...rest, signature }
      }),
      prePrepares: [],
      stopHeader: null,
    })
    const sign = (body: ReturnType<typeof nvBody>): NewViewMsg => ({
      kind: 'newview',
      ...body,
      signature: s(1).sign(newViewSignBytes(CHAIN, body)),
    })
    const first = sign(nvBody([0, 2, 3]))
    const second = sign(nvBody([0, 1, 3]))
    r.step({ type: 'message', msg: first })
    expect([r.view, r.phase]).to.deep.equal([1, 'normal'])
    const out = r.step({ type: 'message', msg: second })
    const ev = ofType(out, 'evidence')
    expect(ev.map((e) => [e.evidence.sender, e.evidence.kind, e.evidence.view])).to.deep.equal([
      [1, 'newview', 1],
    ])
    expect([r.view, r.phase]).to.deep.equal([1, 'normal'])
    // the first one again is a duplicate, not evidence
    expect(ofType(r.step({ type: 'message', msg: first }), 'evidence')).to.deep.equal([])
  })

  it('§4.5.2: the view-change timer restarts when 2f+1 VIEW-CHANGEs for the view are in', () => {
    const r = makeEngine(signers, 3)
    r.step({ type: 'txs_available' })
    const started = r.step({ type: 'timeout', view: 0, height: 1 })
    expect(ofType(started, 'start_timer').map((t) => t.view)).to.deep.equal([1])
    // one more VIEW-CHANGE: 2 of 3 needed, no restart
    expect(ofType(r.step({ type: 'message', msg: viewChange(0, 1) }), 'start_timer')).to.deep.equal([])
    // the third: a quorum for view 1, the timer runs again from now
    const quorum = r.step({ type: 'message', msg: viewChange(2, 1) })
    expect(ofType(quorum, 'start_timer').map((t) => t.view)).to.deep.equal([1])
    // and its own VIEW-CHANGE goes out again, the same message: the new primary (1) may have missed it
    const own = broadcasts(started).find((m): m is ViewChangeMsg => m.kind === 'viewchange')
    expect(broadcasts(quorum).map((m) => m.signature)).to.deep.equal([own?.signature])
    // and only once per view
    const fourth = r.step({ type: 'message', msg: viewChange(1, 1) })
    expect(ofType(fourth, 'start_timer')).to.deep.equal([])
    expect(broadcasts(fourth).filter((m) => m.kind === 'viewchange')).to.deep.equal([])
  })
})

describe('consensus: a replica that missed the NEW-VIEW of a working view', () => {
  /** replica 3 changing to view 1 with a quorum of VIEW-CHANGEs for it (0, 2 and its own) */
  function changingWithQuorum() {
    const r = makeEngine(signers, 3)
    r.step({ type: 'txs_available' })
    r.step({ type: 'timeout', view: 0, height: 1 })
    r.step({ type: 'message', msg: viewChange(0, 1) })
    r.step({ type: 'message', msg: viewChange(2, 1) })
    expect([r.view, r.phase]).to.deep.equal([1, 'viewchange'])
    return r
  }
  const b1 = makeBlock(s(1), 1, 1, GENESIS_HASH, 5)
  const h1 = blockHash(b1.header)
  const sentViewChanges = (out: EngineAction[]) =>
    broadcasts(out)
      .filter((m): m is ViewChangeMsg => m.kind === 'viewchange')
      .map((m) => [m.sender, m.newView])

  it('does not escalate at its timeout while f+1 others work in the view: it asks for the NEW-VIEW again', () => {
    const r = changingWithQuorum()
    // PREPAREs of view 1 from 0 and 2: an honest replica installed view 1's NEW-VIEW, r missed it
    for (const i of [0, 2]) r.step({ type: 'message', msg: signPrepare(s(i), i, 1, 1, h1) })
    const held = r.step({ type: 'timeout', view: 1, height: 1 })
    expect([r.view, r.phase]).to.deep.equal([1, 'viewchange'])
    expect(sentViewChanges(held)).to.deep.equal([[3, 1]]) // its VIEW-CHANGE for view 1 again
    expect(ofType(held, 'start_timer').map((t) => t.view)).to.deep.equal([1])
    // a commit certificate of view 1 brings it into the view
    r.step({ type: 'block_synced', ...certified(1, 1, GENESIS_HASH) })
    expect([r.view, r.phase]).to.deep.equal([1, 'normal'])
  })

  it('holds once per view: at the next timeout it moves on', () => {
    const r = changingWithQuorum()
    for (const i of [0, 2]) r.step({ type: 'message', msg: signPrepare(s(i), i, 1, 1, h1) })
    r.step({ type: 'timeout', view: 1, height: 1 })
    const out = r.step({ type: 'timeout', view: 1, height: 1 })
    expect([r.view, r.phase]).to.deep.equal([2, 'viewchange'])
    expect(sentViewChanges(out)).to.deep.equal([[3, 2]])
  })

  it('escalates at once when fewer than f+1 others are seen in the view (one may be faulty)', () => {
    const r = changingWithQuorum()
    r.step({ type: 'message', msg: signPrepare(s(0), 0, 1, 1, h1) })
    // its own messages do not count either: only 0 is seen working in view 1
    const out = r.step({ type: 'timeout', view: 1, height: 1 })
    expect([r.view, r.phase]).to.deep.equal([2, 'viewchange'])
    expect(sentViewChanges(out)).to.deep.equal([[3, 2]])
  })
})

describe('consensus: a lagging replica does not suspect a working primary', () => {
  /** replica 3 with txs waiting (its progress timer runs) learns that height 1 is final elsewhere */
  function lagging(proof: boolean) {
    const r = makeEngine(signers, 3)
    const started = r.step({ type: 'txs_available' })
    expect(ofType(started, 'start_timer').map((t) => t.view)).to.deep.equal([0])
    if (proof) {
      // 2f+1 COMMITs for a block it never got: height 1 is final, it must sync
      const hash = blockHash(makeBlock(s(0), 0, 1, GENESIS_HASH, 9).header)
      let out: EngineAction[] = []
      for (const i of [0, 1, 2]) out = r.step({ type: 'message', msg: signCommit(s(i), i, 0, 1, hash) })
      expect(ofType(out, 'request_sync').map((a) => a.height)).to.deep.equal([1])
    }
    return r
  }
  const viewChanges = (out: EngineAction[]) =>
    broadcasts(out)
      .filter((m): m is ViewChangeMsg => m.kind === 'viewchange')
      .map((m) => m.newView)

  it('at its progress timeout while blocks above its own are proven final: no VIEW-CHANGE, sync again, once per height', () => {
    const r = lagging(true)
    const held = r.step({ type: 'timeout', view: 0, height: 1 })
    expect(viewChanges(held)).to.deep.equal([])
    expect([r.view, r.phase]).to.deep.equal([0, 'normal'])
    expect(ofType(held, 'request_sync').map((a) => a.height)).to.deep.equal([1])
    expect(ofType(held, 'start_timer').map((t) => [t.view, t.height])).to.deep.equal([[0, 1]])
    // no block came by the next timeout: now it suspects the primary
    const next = r.step({ type: 'timeout', view: 0, height: 1 })
    expect(viewChanges(next)).to.deep.equal([1])
    expect([r.view, r.phase]).to.deep.equal([1, 'viewchange'])
  })

  it('without such a proof it suspects the primary at the first timeout (a sync probe proves nothing)', () => {
    const r = lagging(false)
    expect(viewChanges(r.step({ type: 'timeout', view: 0, height: 1 }))).to.deep.equal([1])
  })
})

/** Regressions for the engine findings of issue 11 (docs/CONSENSUS.md "Consensus rules"). */
describe('consensus: engine audit regressions', () => {
  it('a REJECT is in the WAL: after a restart the replica does not PREPARE the block it rejected', () => {
    // validateBlock's verdict may change over time (a timestamp ahead of the clock becomes valid)
    let verdict: BlockVerdict = { ok: false, reason: 'bad_timestamp' }
    const start = (wal: WalRecord[]) => makeEngine(signers, 1, { wal, validate: () => verdict })
    const pp = signPrePrepare(s(0), 0, 0, 1, makeBlock(s(0), 0, 1, GENESIS_HASH, 3))
    const out = start([]).step({ type: 'message', msg: pp })
    expect(out.map((a) => (a.type === 'broadcast' ? a.msg.kind : a.type))).to.include.ordered.members([
      'persist',
      'reject',
    ])
    expect(ofType(out, 'persist').map((a) => a.record.kind)).to.deep.equal(['reject'])
    const wal = applyWal([], out)

    verdict = { ok: true }
    const restarted = start(wal)
    // the REJECT is re-sent (peers may have missed it), and the proposal gets no PREPARE
    expect(broadcasts(restarted.step({ type: 'start' })).map((m) => m.kind)).to.deep.equal(['reject'])
    const again = restarted.step({ type: 'message', msg: pp })
    expect(broadcasts(again)).to.deep.equal([])
    expect(ofType(again, 'persist')).to.deep.equal([])
    // without the record, the same replica would have prepared it
    expect(broadcasts(start([]).step({ type: 'message', msg: pp })).map((m) => m.kind)).to.deep.equal([
      'prepare',
    ])
  })

  it('a NEW-VIEW with a forged outer signature costs one verification, not its embedded ones', () => {
    const b1 = makeBlock(s(0), 0, 1, GENESIS_HASH, 1)
    const h1 = blockHash(b1.header)
    const checkpoint: CommitCertificate = {
      height: 1,
      view: 0,
      blockHash: h1,
      votes: [0, 1, 2].map((i) => ({ validator: i, signature: signCommit(s(i), i, 0, 1, h1).signature })),
    }
    const b2 = makeBlock(s(0), 0, 2, h1, 2)
    const h2 = blockHash(b2.header)
    const prepared: PreparedCert = {
      view: 0,
      height: 2,
      blockHash: h2,
      prePrepareSignature: signPrePrepare(s(0), 0, 0, 2, b2).signature,
      prepares: [1, 2].map((i) => ({ validator: i, signature: signPrepare(s(i), i, 0, 2, h2).signature })),
      block: null,
    }
    const vcs = [0, 2, 3].map((i): ViewChangeMsg => {
      const body = { newView: 1, sender: i, checkpointHeight: 1, checkpoint, prepared: [prepared] }
      return { kind: 'viewchange', ...body, signature: s(i).sign(viewChangeSignBytes(CHAIN, body)) }
    })
    const body = {
      view: 1,
      sender: 1,
      viewChanges: vcs,
      prePrepares: [signPrePrepare(s(1), 1, 1, 2, b2)],
      stopHeader: null,
    }
    const genuine: NewViewMsg = {
      kind: 'newview',
      ...body,
      signature: s(1).sign(newViewSignBytes(CHAIN, body)),
    }
    // the same content, signed by another key under the primary's index
    const forged: NewViewMsg = { ...genuine, signature: s(2).sign(newViewSignBytes(CHAIN, body)) }
    const counting = makeValidators(signers)
    let calls = 0
    const verify = counting.verify.bind(counting)
    counting.verify = (index, message, signature) => {
      calls++
      return verify(index, message, signature)
    }
    const cost = (msg: NewViewMsg | ViewChangeMsg) => {
      calls = 0
      const ok = verifyConsensusMessage(msg, CHAIN, counting)
      return { ok, calls }
    }
    // 3 VIEW-CHANGEs × (1 + 1 + 2 prepared) + the checkpoint's 3 votes once (the three share one
    // certificate object, whose signatures verifyCertificate checks once) + 1 re-proposal + the
    // primary's own
    expect(cost(genuine)).to.deep.equal({ ok: true, calls: 17 })
    expect(cost(forged)).to.deep.equal({ ok: false, calls: 1 })
    // a VIEW-CHANGE likewise: its own signature before its certificates
    const vc0 = vcs[0] as ViewChangeMsg
    const standalone: ViewChangeMsg = { ...vc0, prepared: [{ ...prepared, block: b2 }] }
    // 1 + 1 + 2 prepared; its checkpoint certificate is the object already checked above
    expect(cost(standalone)).to.deep.equal({ ok: true, calls: 4 })
    const forgedVc = { ...standalone, signature: s(1).sign(viewChangeSignBytes(CHAIN, standalone)) }
    expect(cost(forgedVc)).to.deep.equal({ ok: false, calls: 1 })
  })

  it('a VIEW-CHANGE more than 100,000 views ahead is dropped unverified, and does not block the next', () => {
    const r = makeEngine(signers, 3)
    expect(r.step({ type: 'message', msg: viewChange(0, 100_001) })).to.deep.equal([])
    expect(r.status().loggedMessages).to.equal(0)
    // sender 0's VIEW-CHANGE for view 1 is not shadowed by the far one: with sender 2's, f + 1 = 2
    // replicas ask for view 1, and r joins them (TOCS §4.5.2)
    r.step({ type: 'message', msg: viewChange(0, 1) })
    const out = r.step({ type: 'message', msg: viewChange(2, 1) })
    expect([r.view, r.phase]).to.deep.equal([1, 'viewchange'])
    expect(broadcasts(out).map((m) => m.kind)).to.deep.equal(['viewchange'])
    // within the bound, a far VIEW-CHANGE is logged (its sender's latest)
    const near = makeEngine(signers, 3)
    near.step({ type: 'message', msg: viewChange(0, 100_000) })
    expect(near.status().loggedMessages).to.equal(1)
  })

  it("2f replicas cut off from the rest do not climb views on a faulty replica's far VIEW-CHANGE", () => {
    // replicas 2 and 3 are partitioned from 1; faulty 0 sent them one VIEW-CHANGE for view 1000
    const minority = [2, 3].map((i) => makeEngine(signers, i))
    const timers = new Map<number, { view: number; height: number }>()
    const pending: { to: number; msg: ViewChangeMsg | NewViewMsg }[] = []
    const run = (k: number, ev: Parameters<PbftEngine['step']>[0]) => {
      const out = (minority[k] as PbftEngine).step(ev)
      for (const t of ofType(out, 'start_timer')) timers.set(k, { view: t.view, height: t.height })
      for (const m of broadcasts(out))
        if (m.kind === 'viewchange' || m.kind === 'newview') pending.push({ to: 1 - k, msg: m })
    }
    const deliver = () => {
      for (let p = pending.shift(); p !== undefined; p = pending.shift())
        run(p.to, { type: 'message', msg: p.msg })
    }
    for (const k of [0, 1]) {
      run(k, { type: 'message', msg: viewChange(0, 1000) })
      run(k, { type: 'txs_available' })
    }
    for (let round = 0; round < 20; round++) {
      for (const k of [0, 1]) {
        const t = timers.get(k)
        if (t !== undefined) run(k, { type: 'timeout', ...t })
      }
      deliver()
    }
    // each asks for view 1 and waits there: 2 replicas are no quorum for a view change (§4.5.2)
    expect(minority.map((e) => [e.view, e.phase])).to.deep.equal([
      [1, 'viewchange'],
      [1, 'viewchange'],
    ])
  })

  it('keeps only the slot of an equivocation: the messages go out with the evidence action, once', () => {
    const r = makeEngine(signers, 1)
    // two proposals with big blocks (the evidence pool reduces them to a 222-byte record)
    const big = (salt: number) => {
      const b = makeBlock(s(0), 0, 1, GENESIS_HASH, salt)
      return { ...b, txs: Array.from({ length: 200 }, (_, i) => new Uint8Array(1000).fill(i + salt)) }
    }
    const first = signPrePrepare(s(0), 0, 0, 1, big(1))
    const second = signPrePrepare(s(0), 0, 0, 1, big(2))
    r.step({ type: 'message', msg: first })
    const reported = ofType(r.step({ type: 'message', msg: second }), 'evidence')
    expect(reported.map((a) => [a.evidence.first, a.evidence.second])).to.deep.equal([[first, second]])
    expect(r.evidence).to.deep.equal([{ sender: 0, kind: 'preprepare', view: 0, height: 1 }])
    expect(JSON.stringify(r.evidence).length).to.be.lessThan(100)
  })
})
