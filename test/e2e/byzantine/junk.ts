import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { commitVoteSignBytes } from '../../../src/codec/chain.js'
import { type ConsensusMessage, prepareSignBytes, viewChangeSignBytes } from '../../../src/codec/consensus.js'
import { joinAsByzantine, runByzantine, type Tip } from './common.js'

/**
 * A validator that sends valid but useless messages (docs/PROTOCOL.md §2.5): every one correctly
 * signed with its own key, so no honest node can Reject it. Joins, stays silent until SIGUSR1 (the
 * spec measures a clean phase first), then publishes `--rate` messages per second for `--flood-ms`:
 * - 8 in 10: PREPARE or COMMIT for a random block hash at one of the 4 heights in flight, in the
 *   current view (each a new equivocation: the first pair gives honest nodes evidence, after which
 *   they drop its messages unread and hang up on it, docs/PROTOCOL.md §2.5);
 * - 1 in 10: a PREPARE for a view 9…1,008 ahead (never usable: the engine keeps 8 views ahead);
 * - 1 in 10: a VIEW-CHANGE for the next view up (one validator alone moves nobody).
 * `--kinds votes,far,viewchange` keeps only some of them (the others' slots go to what is kept).
 * Reports `flood-start`, `flood` every second, and `flood-end` with what it sent.
 */
const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    'flood-ms': { type: 'string', default: '20000' },
    kinds: { type: 'string', default: 'votes,far,viewchange' },
  },
  strict: false,
})
const rate = Number(values.rate)
const floodMs = Number(values['flood-ms'])
let startAt: number | undefined
// Registered before joining, so a signal can never hit the default action (exit).
process.on('SIGUSR1', () => {
  startAt ??= Date.now()
})

const ctx = await joinAsByzantine()
let tip: Tip = await ctx.tip()
let tipAt = Date.now()
let refreshing = false
const sent = { votes: 0, far: 0, viewchanges: 0, delivered: 0 }
let total = 0
let nextView = tip.view + 1
let ended = false
let lastReport = 0

const kinds = new Set(String(values.kinds).split(','))
/** the kind of message i % slots.length: slot 0 a VIEW-CHANGE, 1 a far vote, 2–9 votes */
const slots = [...Array(10).keys()].filter((k) =>
  k === 0 ? kinds.has('viewchange') : k === 1 ? kinds.has('far') : kinds.has('votes'),
)

function junk(i: number): ConsensusMessage {
  const me = ctx.index
  const height = tip.height + 1 + (i % 4)
  const blockHash = randomBytes(32)
  switch (slots[i % slots.length]) {
    case 0: {
      sent.viewchanges++
      const body = {
        newView: Math.max(nextView++, tip.view + 1),
        sender: me,
        checkpointHeight: 0,
        checkpoint: null,
        prepared: [],
      }
      return {
        kind: 'viewchange',
        ...body,
        signature: ctx.signer.sign(viewChangeSignBytes(ctx.chainId, body)),
      }
    }
    case 1: {
      sent.far++
      const view = tip.view + 9 + (i % 1000)
      const signature = ctx.signer.sign(prepareSignBytes(ctx.chainId, view, height, me, blockHash))
      return { kind: 'prepare', view, height, blockHash, sender: me, signature }
    }
    default: {
      sent.votes++
      const view = tip.view
      if (i % 2 === 0) {
        const signature = ctx.signer.sign(prepareSignBytes(ctx.chainId, view, height, me, blockHash))
        return { kind: 'prepare', view, height, blockHash, sender: me, signature }
      }
      const signature = ctx.signer.sign(commitVoteSignBytes(ctx.chainId, view, height, blockHash))
      return { kind: 'commit', view, height, blockHash, sender: me, signature }
    }
  }
}

await runByzantine(
  ctx,
  async () => {
    if (ended) return
    const now = Date.now()
    // The tip is refreshed in the background, also while waiting for the signal (the flood must
    // start at the open heights, not at those of 20 s ago): a slow honest RPC must not slow it down.
    if (now - tipAt > 250 && !refreshing) {
      tipAt = now
      refreshing = true
      ctx
        .tip()
        .then((t) => {
          tip = t
        })
        .catch(() => {})
        .finally(() => {
          refreshing = false
        })
    }
    if (startAt === undefined) return
    if (total === 0) ctx.report('flood-start', { rate, floodMs })
    const elapsed = now - startAt
    if (elapsed >= floodMs) {
      ended = true
      ctx.report('flood-end', {
        ms: elapsed,
        total,
        ...sent,
        ratePerSec: Math.round((total * 1000) / elapsed),
      })
      return
    }
    // Paced by the clock: whatever is due by now, so a slow round is made up in the next.
    const due = Math.min(Math.floor((elapsed * rate) / 1000) - total, rate)
    for (let k = 0; k < due; k++) {
      if ((await ctx.publishMsg(junk(total))) > 0) sent.delivered++
      total++
    }
    if (now - lastReport >= 1000) {
      lastReport = now
      ctx.report('flood', { total, ...sent })
    }
  },
  5,
)
