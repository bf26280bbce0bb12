import { blockHash } from '../../../src/codec/chain.js'
import { sha256 } from '../../../src/crypto/hash.js'
import { joinAsByzantine, runByzantine, toHex, variantArg } from './common.js'

/**
 * A primary proposing an invalid block whenever it leads the honest nodes' view: `--variant bad-sig`
 * (default) puts a tx whose signature does not verify into an otherwise well-formed block (tx_root
 * over the tampered bytes); `--variant bad-app-hash` proposes valid txs under a wrong app_hash. It
 * signs the PRE-PREPARE properly and votes for its own block.
 */
const ctx = await joinAsByzantine()
const variant = variantArg() || 'bad-sig'
const done = new Set<string>()
await runByzantine(
  ctx,
  async () => {
    const tip = await ctx.tip()
    const key = `${tip.view}/${tip.height + 1}`
    if (!ctx.isPrimary(tip.view) || done.has(key)) return
    done.add(key)
    const tx = await ctx.clientTx({ type: 'set', key: 'invalid-block', value: variant })
    let block = ctx.block(tip, tip.view, [tx])
    if (variant === 'bad-sig') {
      const forged = Uint8Array.from(tx)
      forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 0x01
      block = ctx.block(tip, tip.view, [forged])
    } else {
      block = ctx.block(tip, tip.view, [tx], sha256(new TextEncoder().encode(`wrong-${key}`)))
    }
    const hash = blockHash(block.header)
    let sent = await ctx.publishMsg(ctx.prePrepare(block, hash))
    for (const vote of ctx.votes(tip.view, tip.height + 1, hash)) sent += await ctx.publishMsg(vote)
    ctx.report('proposed-invalid', {
      variant,
      view: tip.view,
      height: tip.height + 1,
      hash: toHex(hash),
      sent,
    })
  },
  150,
)
