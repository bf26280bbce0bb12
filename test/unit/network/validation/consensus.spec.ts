import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import {
  type ConsensusMessage,
  encodeConsensusMessage,
  type NewViewMsg,
  newViewSignBytes,
} from '../../../../src/codec/consensus.js'
import type { Ed25519Signer } from '../../../../src/crypto/ed25519.js'
import { TOPIC_KINDS } from '../../../../src/network/topics.js'
import {
  type HeightKind,
  VIEW_CHANGE_VIEWS_AHEAD,
  VOTE_VIEWS_AHEAD,
} from '../../../../src/network/validation/index.js'
import {
  CHAIN,
  GENESIS_HASH,
  makeBlock,
  makeSigners,
  signCommit,
  signPrePrepare,
  signPrepare,
  signReject,
} from '../../consensus/harness.js'
import { Fixture, judge, s, signers, viewChange } from './fakes.js'

/** a key outside the validator set */
const outsider = makeSigners(1, 'outsider')[0] as Ed25519Signer
const HASH = new Uint8Array(32).fill(7)

/**
 * A message of a height kind in view 0 at `height`, signed by `signer` (the right validator by
 * default). The PRE-PREPARE comes from validator 0 (the primary of view 0), the others from `sender`.
 */
function heightMessage(
  kind: HeightKind,
  height: number,
  opts: { sender?: number; signer?: Ed25519Signer; view?: number } = {},
): ConsensusMessage {
  const view = opts.view ?? 0
  const sender = opts.sender ?? (kind === 'preprepare' ? view % signers.length : 1)
  const signer = opts.signer ?? s(sender)
  switch (kind) {
    case 'preprepare':
      return signPrePrepare(
        signer,
        sender,
        view,
        height,
        makeBlock(s(view % signers.length), view, height, GENESIS_HASH),
      )
    case 'prepare':
      return signPrepare(signer, sender, view, height, HASH)
    case 'commit':
      return signCommit(signer, sender, view, height, HASH)
    case 'reject':
      return signReject(signer, sender, view, height, HASH)
  }
}

/** NEW-VIEW for `view` at genesis from its primary, carrying VIEW-CHANGEs of `from`. */
function newView(
  view: number,
  opts: { from?: number[]; sender?: number; signer?: Ed25519Signer } = {},
): NewViewMsg {
  const sender = opts.sender ?? view % signers.length
  const body = {
    view,
    sender,
    viewChanges: (opts.from ?? [0, 1, 2]).map((i) => viewChange(i, view)),
    prePrepares: [],
    stopHeader: null,
  }
  return {
    kind: 'newview',
    ...body,
    signature: (opts.signer ?? s(sender)).sign(newViewSignBytes(CHAIN, body)),
  }
}

const HEIGHT_KINDS: readonly HeightKind[] = ['preprepare', 'prepare', 'commit', 'reject']
const enc = encodeConsensusMessage

describe('network/validation/consensus', () => {
  it('VOTE_VIEWS_AHEAD mirrors the engine’s VIEWS_KEPT_AHEAD (votes the engine drops are not relayed)', () => {
    const engine = readFileSync(
      fileURLToPath(new URL('../../../../src/consensus/engine.ts', import.meta.url)),
      'utf8',
    )
    const m = /^const VIEWS_KEPT_AHEAD = (\d+)$/m.exec(engine)
    expect(m, 'VIEWS_KEPT_AHEAD in src/consensus/engine.ts').not.to.equal(null)
    expect(VOTE_VIEWS_AHEAD).to.equal(Number(m?.[1]))
  })

  it('VIEW_CHANGE_VIEWS_AHEAD mirrors the engine’s VIEW_CHANGES_KEPT_AHEAD (both drop the same far views)', () => {
    const engine = readFileSync(
      fileURLToPath(new URL('../../../../src/consensus/engine.ts', import.meta.url)),
      'utf8',
    )
    const m = /^const VIEW_CHANGES_KEPT_AHEAD = ([\d_]+)$/m.exec(engine)
    expect(m, 'VIEW_CHANGES_KEPT_AHEAD in src/consensus/engine.ts').not.to.equal(null)
    expect(VIEW_CHANGE_VIEWS_AHEAD).to.equal(Number(m?.[1]?.replaceAll('_', '')))
  })

  it('registers a validator for every topic, and no checkpoint topic exists', () => {
    const f = new Fixture()
    expect(Object.keys(f.validators).sort()).to.deep.equal([...TOPIC_KINDS].sort())
    expect(TOPIC_KINDS).not.to.include('checkpoint')
  })

  for (const kind of HEIGHT_KINDS) {
    describe(kind, () => {
      it('accepts from the last final height up, ignores below it (stale)', async () => {
        const f = new Fixture()
        f.tip = 5
        const v = f.validators[kind]
        expect(await judge(v, enc(heightMessage(kind, 6)))).to.equal('accept')
        expect(await judge(v, enc(heightMessage(kind, 9)))).to.equal('accept')
        // peers one block behind still need messages of the last final height
        expect(await judge(v, enc(heightMessage(kind, 5)))).to.equal('accept')
        expect(await judge(v, enc(heightMessage(kind, 4)))).to.equal('ignore:stale')
        expect(await judge(v, enc(heightMessage(kind, 1)))).to.equal('ignore:stale')
      })

      it('ignores views more than VOTE_VIEWS_AHEAD (8) above ours (far_view), not older ones', async () => {
        const f = new Fixture()
        f.view = 50
        const v = f.validators[kind]
        // an old view is the engine's business (it keeps the last 3)
        expect(await judge(v, enc(heightMessage(kind, 1, { view: 3 })))).to.equal('accept')
        expect(await judge(v, enc(heightMessage(kind, 1, { view: 58 })))).to.equal('accept')
        expect(await judge(v, enc(heightMessage(kind, 1, { view: 59 })))).to.equal('ignore:far_view')
        expect(await judge(v, enc(heightMessage(kind, 1, { view: 90 })))).to.equal('ignore:far_view')
        f.view = 90
        expect(await judge(v, enc(heightMessage(kind, 1, { view: 90 })))).to.equal('accept')
      })

      it('rejects bytes that are not this kind (malformed)', async () => {
        const f = new Fixture()
        const v = f.validators[kind]
        expect(await judge(v, new Uint8Array([0xde, 0xad, 0xbe, 0xef]))).to.equal('reject:malformed')
        const other = kind === 'prepare' ? 'commit' : 'prepare'
        expect(await judge(v, enc(heightMessage(other, 1)))).to.equal('reject:malformed')
        const bytes = enc(heightMessage(kind, 1))
        expect(await judge(v, bytes.subarray(0, bytes.length - 1))).to.equal('reject:malformed')
      })

      it('rejects a forged signature or a sender outside the set; a stale one is only ignored', async () => {
        const f = new Fixture()
        f.tip = 5
        const v = f.validators[kind]
        expect(await judge(v, enc(heightMessage(kind, 6, { signer: outsider })))).to.equal(
          'reject:bad_signature_or_sender',
        )
        // staleness is checked before the signature (replays of old messages cost no verification),
        // so a stale forgery is ignored like a stale genuine message
        expect(await judge(v, enc(heightMessage(kind, 2, { signer: outsider })))).to.equal('ignore:stale')
        expect(f.validatorSet.verifies).to.equal(1)
        if (kind !== 'preprepare') {
          expect(await judge(v, enc(heightMessage(kind, 6, { sender: 4, signer: outsider })))).to.equal(
            'reject:bad_signature_or_sender',
          )
        }
      })
    })
  }

  describe('cheap checks before the signature', () => {
    it('stale heights and far views are ignored without a signature check', async () => {
      const f = new Fixture()
      f.tip = 10
      f.view = 4
      const set = f.validatorSet
      for (const kind of HEIGHT_KINDS) {
        expect(await judge(f.validators[kind], enc(heightMessage(kind, 3)))).to.equal('ignore:stale')
        expect(await judge(f.validators[kind], enc(heightMessage(kind, 11, { view: 13 })))).to.equal(
          'ignore:far_view',
        )
      }
      expect(await judge(f.validators.viewchange, enc(viewChange(1, 3)))).to.equal('ignore:stale_view')
      expect(
        await judge(f.validators.viewchange, enc(viewChange(1, 4 + VIEW_CHANGE_VIEWS_AHEAD + 1))),
      ).to.equal('ignore:far_view')
      f.view = 9
      expect(await judge(f.validators.newview, enc(newView(5)))).to.equal('ignore:stale_view')
      expect(set.verifies).to.equal(0)
    })

    it('decoding, sender index and PRE-PREPARE primary are checked without a signature check', async () => {
      const f = new Fixture()
      const set = f.validatorSet
      expect(await judge(f.validators.prepare, new Uint8Array([1, 2, 3]))).to.equal('reject:malformed')
      expect(set.verifies).to.equal(0)
      const badSender = heightMessage('prepare', 1, { sender: 9, signer: outsider })
      expect(await judge(f.validators.prepare, enc(badSender))).to.equal('reject:bad_signature_or_sender')
      expect(set.verifies).to.equal(0)
      const notPrimary = heightMessage('preprepare', 1, { sender: 2 })
      expect(await judge(f.validators.preprepare, enc(notPrimary))).to.equal('reject:bad_signature_or_sender')
      expect(set.verifies).to.equal(0)
      // a well-formed one pays for its signature
      expect(await judge(f.validators.prepare, enc(heightMessage('prepare', 1)))).to.equal('accept')
      expect(set.verifies).to.equal(1)
    })
  })

  describe('viewchange', () => {
    it('accepts the current view and later ones, ignores earlier views (stale_view)', async () => {
      const f = new Fixture()
      f.view = 2
      const v = f.validators.viewchange
      expect(await judge(v, enc(viewChange(1, 2)))).to.equal('accept')
      expect(await judge(v, enc(viewChange(1, 7)))).to.equal('accept')
      expect(await judge(v, enc(viewChange(1, 1)))).to.equal('ignore:stale_view')
    })

    it('is never stale by height: it carries no height, only a checkpoint', async () => {
      const f = new Fixture()
      f.tip = 100
      expect(await judge(f.validators.viewchange, enc(viewChange(3, 1)))).to.equal('accept')
    })

    it('ignores views more than VIEW_CHANGE_VIEWS_AHEAD above ours (far_view)', async () => {
      const f = new Fixture()
      f.view = 2
      const v = f.validators.viewchange
      expect(await judge(v, enc(viewChange(1, 2 + VIEW_CHANGE_VIEWS_AHEAD)))).to.equal('accept')
      expect(await judge(v, enc(viewChange(1, 3 + VIEW_CHANGE_VIEWS_AHEAD)))).to.equal('ignore:far_view')
      expect(await judge(v, enc(viewChange(1, Number.MAX_SAFE_INTEGER)))).to.equal('ignore:far_view')
    })

    it('rejects a forgery, an invalid one, or another kind; a stale forgery is ignored', async () => {
      const f = new Fixture()
      f.view = 4
      const v = f.validators.viewchange
      expect(await judge(v, enc(viewChange(1, 5, outsider)))).to.equal('reject:bad_signature_or_sender')
      expect(await judge(v, enc(viewChange(1, 2, outsider)))).to.equal('ignore:stale_view')
      // new_view ≥ 1 (docs/PROTOCOL.md §3.6)
      f.view = 0
      expect(await judge(v, enc(viewChange(1, 0)))).to.equal('reject:bad_signature_or_sender')
      expect(await judge(v, enc(heightMessage('commit', 1)))).to.equal('reject:malformed')
    })
  })

  describe('newview', () => {
    it('accepts the current view and later ones, ignores earlier views (stale_view)', async () => {
      const f = new Fixture()
      const v = f.validators.newview
      expect(await judge(v, enc(newView(1)))).to.equal('accept')
      f.view = 1
      expect(await judge(v, enc(newView(1)))).to.equal('accept')
      f.view = 2
      expect(await judge(v, enc(newView(1)))).to.equal('ignore:stale_view')
      expect(await judge(v, enc(newView(2)))).to.equal('accept')
    })

    it('is never stale by height', async () => {
      const f = new Fixture()
      f.tip = 100
      expect(await judge(f.validators.newview, enc(newView(1)))).to.equal('accept')
    })

    it('rejects one not from the primary, short of a quorum, or forged; ignores a stale forgery', async () => {
      const f = new Fixture()
      const v = f.validators.newview
      expect(await judge(v, enc(newView(1, { sender: 2 })))).to.equal('reject:bad_signature_or_sender')
      expect(await judge(v, enc(newView(1, { from: [0, 1] })))).to.equal('reject:bad_signature_or_sender')
      expect(await judge(v, enc(newView(1, { signer: outsider })))).to.equal('reject:bad_signature_or_sender')
      f.view = 3
      expect(await judge(v, enc(newView(1, { signer: outsider })))).to.equal('ignore:stale_view')
    })

    it('ignores views more than VIEW_CHANGE_VIEWS_AHEAD above ours (far_view)', async () => {
      const f = new Fixture()
      const far = 1 + VIEW_CHANGE_VIEWS_AHEAD
      const set = f.validatorSet
      expect(await judge(f.validators.newview, enc(newView(far)))).to.equal('ignore:far_view')
      expect(set.verifies).to.equal(0)
      f.view = far - VIEW_CHANGE_VIEWS_AHEAD
      expect(await judge(f.validators.newview, enc(newView(far)))).to.equal('accept')
    })
  })
})
