import { randomBytes } from 'node:crypto'
import {
  type ConsensusMessage,
  encodeConsensusMessage,
  prepareSignBytes,
  viewChangeSignBytes,
} from '../../../src/codec/consensus.js'
import type { TopicKind } from '../../../src/network/topics.js'
import { joinAsByzantine, runByzantine } from './common.js'

/**
 * A validator that signs garbage, forges the others' signatures and replays old messages, each round:
 * a PREPARE with a random signature; a PREPARE claiming another validator's index signed with its own
 * key; a COMMIT from an index outside the validator set; random bytes on every consensus topic;
 * a validly signed VIEW-CHANGE to a far view (one replica alone must not move anyone); and the honest
 * messages it captured earlier, re-published (its own seen cache is short so it can).
 */
const ctx = await joinAsByzantine({ seenTtlMs: 1_000 })
const TOPICS: TopicKind[] = ['preprepare', 'prepare', 'commit', 'viewchange', 'newview', 'reject']
const counts: Record<string, number> = {}
const count = (what: string, recipients: number): void => {
  if (recipients > 0) counts[what] = (counts[what] ?? 0) + 1
}
let round = 0
await runByzantine(
  ctx,
  async () => {
    round++
    const tip = await ctx.tip()
    const height = tip.height + 1
    const view = tip.view
    const other = (ctx.index + 1) % ctx.validators.n
    const randomSig: ConsensusMessage = {
      kind: 'prepare',
      view,
      height,
      blockHash: randomBytes(32),
      sender: ctx.index,
      signature: randomBytes(64),
    }
    count('garbage-signature', await ctx.publishMsg(randomSig))
    const forgedBody = { view, height, blockHash: randomBytes(32), sender: other }
    const forged: ConsensusMessage = {
      kind: 'prepare',
      ...forgedBody,
      signature: ctx.signer.sign(prepareSignBytes(ctx.chainId, view, height, other, forgedBody.blockHash)),
    }
    count('forged-other-validator', await ctx.publishMsg(forged))
    const outOfRange: ConsensusMessage = {
      kind: 'commit',
      view,
      height,
      blockHash: randomBytes(32),
      sender: ctx.validators.n + 3,
      signature: randomBytes(64),
    }
    count('sender-out-of-range', await ctx.publish('commit', encodeConsensusMessage(outOfRange)))
    for (const topic of TOPICS)
      count('random-bytes', await ctx.publish(topic, randomBytes(64 + (round % 200))))
    const vcBody = {
      newView: 1000 + round,
      sender: ctx.index,
      checkpointHeight: 0,
      checkpoint: null,
      prepared: [],
    }
    const vc: ConsensusMessage = {
      kind: 'viewchange',
      ...vcBody,
      signature: ctx.signer.sign(viewChangeSignBytes(ctx.chainId, vcBody)),
    }
    count('far-view-change', await ctx.publishMsg(vc))
    for (const [topic, list] of ctx.captured) {
      if (topic === 'tx') continue
      for (const old of list.slice(0, 20)) count('replay', await ctx.publish(topic, old))
    }
    if (round % 10 === 0) ctx.report('garbage', { round, counts })
  },
  100,
)
