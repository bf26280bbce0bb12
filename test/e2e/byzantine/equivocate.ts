import { blockHash } from '../../../src/codec/chain.js'
import { joinAsByzantine, runByzantine, toHex } from './common.js'

/**
 * An equivocating primary: whenever the honest nodes are in a view this validator leads, it
 * publishes two different valid PRE-PREPAREs for the same (view, height) — blocks with different
 * txs of its own client — and votes PREPARE and COMMIT for both, trying to split the honest nodes.
 */
const ctx = await joinAsByzantine()
const done = new Set<string>()
await runByzantine(
  ctx,
  async () => {
    const tip = await ctx.tip()
    const key = `${tip.view}/${tip.height + 1}`
    if (!ctx.isPrimary(tip.view) || done.has(key)) return
    done.add(key)
    const blocks = await Promise.all(
      ['A', 'B'].map(async (side) =>
        ctx.block(tip, tip.view, [await ctx.clientTx({ type: 'set', key: 'equivocation', value: side })]),
      ),
    )
    const hashes = blocks.map((b) => blockHash(b.header))
    let sent = 0
    for (const [i, block] of blocks.entries())
      sent += await ctx.publishMsg(ctx.prePrepare(block, hashes[i] as Uint8Array))
    for (const hash of hashes)
      for (const vote of ctx.votes(tip.view, tip.height + 1, hash)) sent += await ctx.publishMsg(vote)
    ctx.report('equivocated', { view: tip.view, height: tip.height + 1, hashes: hashes.map(toHex), sent })
  },
  150,
)
