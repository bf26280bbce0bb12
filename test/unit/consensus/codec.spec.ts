import { expect } from 'chai'
import {
  CONSENSUS_KINDS,
  type ConsensusMessage,
  decodeAnyConsensusMessage,
  decodeConsensusMessage,
  decodeWalRecord,
  encodeConsensusMessage,
  encodeWalRecord,
  type WalRecord,
} from '../../../src/codec/consensus.js'
import { CodecError } from '../../../src/codec/errors.js'
import { verifyConsensusMessage } from '../../../src/consensus/verify.js'
import {
  CHAIN,
  Cluster,
  GENESIS_HASH,
  makeBlock,
  makeEngine,
  makeValidators,
  signPrePrepare,
  signReject,
} from './harness.js'

/** One real message of every kind, from a cluster run with a view change at height 2. */
function sampleMessages(): { msgs: Map<string, ConsensusMessage>; wal: WalRecord[]; c: Cluster } {
  const c = new Cluster(4)
  for (let i = 0; i < 4; i++) c.step(i, { type: 'txs_available' })
  c.run()
  c.drop = (_f, _t, m) => m.kind === 'commit'
  for (let i = 0; i < 4; i++) c.step(i, { type: 'txs_available' })
  c.run()
  c.drop = () => false
  for (let i = 1; i < 4; i++) c.step(i, { type: 'timeout', view: 0, height: 2 })
  c.run()
  const msgs = new Map<string, ConsensusMessage>()
  const wal: WalRecord[] = []
  for (const e of c.log) {
    if (e.action.type === 'broadcast') {
      const m = e.action.msg
      const key = m.kind === 'viewchange' && m.prepared.length > 0 ? 'viewchange+prepared' : m.kind
      if (!msgs.has(key)) msgs.set(key, m)
    }
    if (e.action.type === 'persist') wal.push(e.action.record)
  }
  const fresh = makeEngine(c.signers, 3)
  fresh.step({ type: 'txs_available' })
  for (const a of fresh.step({ type: 'timeout', view: 0, height: 1 })) {
    if (a.type === 'broadcast' && a.msg.kind === 'viewchange') msgs.set('viewchange', a.msg)
  }
  const s1 = c.signers[1]
  if (s1 === undefined) throw new Error('no signer')
  msgs.set('reject', signReject(s1, 1, 0, 1, GENESIS_HASH))
  return { msgs, wal, c }
}

describe('codec/consensus', () => {
  const { msgs, wal, c } = sampleMessages()
  const validators = makeValidators(c.signers)

  it('has a sample of every kind, including a VIEW-CHANGE with a prepared certificate and a NEW-VIEW with O', () => {
    for (const k of [...CONSENSUS_KINDS, 'viewchange+prepared']) expect(msgs.has(k), k).to.equal(true)
    const nv = msgs.get('newview')
    expect(nv?.kind === 'newview' && nv.prePrepares.length > 0).to.equal(true)
  })

  for (const [key, msg] of sampleMessages().msgs) {
    it(`${key}: round-trips, verifies, and rejects malformed bytes with CodecError`, () => {
      const m = msgs.get(key) ?? msg
      const bytes = encodeConsensusMessage(m)
      const back = decodeConsensusMessage(m.kind, bytes)
      expect(encodeConsensusMessage(back)).to.deep.equal(bytes)
      expect(decodeAnyConsensusMessage(bytes).kind).to.equal(m.kind)
      expect(verifyConsensusMessage(back, CHAIN, validators), 'valid signature').to.equal(true)
      expect(() => decodeConsensusMessage(m.kind, bytes.slice(0, bytes.length - 1))).to.throw(CodecError)
      expect(() => decodeConsensusMessage(m.kind, new Uint8Array([...bytes, 0]))).to.throw(CodecError)
      const other = CONSENSUS_KINDS.find((k) => k !== m.kind) ?? 'prepare'
      expect(() => decodeConsensusMessage(other, bytes)).to.throw(CodecError)
      expect(() => decodeConsensusMessage(m.kind, new Uint8Array(0))).to.throw(CodecError)
      // any flipped signature byte fails verification (never a throw)
      const tampered = {
        ...back,
        signature: back.signature.map((b, i) => (i === 0 ? b ^ 1 : b)),
      } as ConsensusMessage
      expect(verifyConsensusMessage(tampered, CHAIN, validators)).to.equal(false)
      expect(verifyConsensusMessage(back, 'other-chain', validators)).to.equal(false)
    })
  }

  it('rejects oversized input before decoding', () => {
    expect(() => decodeConsensusMessage('prepare', new Uint8Array(10_000))).to.throw(CodecError)
  })

  it('rejects a sender index outside the validator range and a bad boolean', () => {
    const p = msgs.get('prepare')
    if (p === undefined) throw new Error('no prepare')
    const bytes = encodeConsensusMessage(p)
    const bad = bytes.slice()
    bad[1 + 8 + 8 + 32] = 0xff // sender u16 high byte
    expect(() => decodeConsensusMessage('prepare', bad)).to.throw(CodecError)
    const vc = msgs.get('viewchange')
    if (vc === undefined) throw new Error('no view change')
    const vb = encodeConsensusMessage(vc)
    const badBool = vb.slice()
    badBool[1 + 8 + 2 + 8] = 7
    expect(() => decodeConsensusMessage('viewchange', badBool)).to.throw(CodecError)
  })

  it('round-trips every WAL record kind', () => {
    const kinds = new Set(wal.map((r) => r.kind))
    for (const k of ['preprepare', 'prepare', 'commit', 'viewchange', 'newview'])
      expect(kinds.has(k as WalRecord['kind']), k).to.equal(true)
    for (const r of wal) {
      const bytes = encodeWalRecord(r)
      expect(encodeWalRecord(decodeWalRecord(bytes))).to.deep.equal(bytes)
      expect(() => decodeWalRecord(bytes.slice(0, -1))).to.throw(CodecError)
    }
    expect(() => decodeWalRecord(new Uint8Array([0x20, 9]))).to.throw(CodecError)
  })

  it('structural rules: a PRE-PREPARE from a non-primary, or a NEW-VIEW with a wrong O, does not verify', () => {
    const s2 = c.signers[2]
    if (s2 === undefined) throw new Error('no signer')
    const notPrimary = signPrePrepare(s2, 2, 0, 1, makeBlock(s2, 0, 1, GENESIS_HASH))
    expect(verifyConsensusMessage(notPrimary, CHAIN, validators)).to.equal(false)
    const nv = msgs.get('newview')
    if (nv?.kind !== 'newview') throw new Error('no new view')
    expect(verifyConsensusMessage({ ...nv, prePrepares: [] }, CHAIN, validators)).to.equal(false)
    expect(
      verifyConsensusMessage({ ...nv, viewChanges: nv.viewChanges.slice(1) }, CHAIN, validators),
    ).to.equal(false)
  })
})
