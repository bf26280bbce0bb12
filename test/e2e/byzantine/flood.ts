import { randomBytes } from 'node:crypto'
import type { TopicKind } from '../../../src/network/topics.js'
import { joinAsByzantine, runByzantine } from './common.js'

/**
 * A validator that floods: every round an oversized message (2.5 MiB, over the 2 MiB gossip limit;
 * its own limit is raised so it can send it) on a consensus topic, and a burst of malformed small
 * messages on every consensus topic.
 */
const ctx = await joinAsByzantine({ gossipMaxBytes: 3_500_000 })
const TOPICS: TopicKind[] = ['preprepare', 'prepare', 'commit', 'viewchange', 'newview', 'reject']
let oversized = 0
let malformed = 0
let round = 0
await runByzantine(
  ctx,
  async () => {
    round++
    if (
      round % 3 === 0 &&
      (await ctx.publish(TOPICS[round % TOPICS.length] as TopicKind, randomBytes(2_500_000))) > 0
    )
      oversized++
    for (let i = 0; i < 40; i++) {
      if ((await ctx.publish(TOPICS[i % TOPICS.length] as TopicKind, randomBytes(200 + i))) > 0) malformed++
    }
    if (round % 10 === 0) ctx.report('flood', { round, oversized, malformed })
  },
  100,
)
