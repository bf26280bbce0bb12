import { readFileSync } from 'node:fs'
import { expect } from 'chai'
import { MAX_PIPELINE_DEPTH } from '../../../src/codec/limits.js'
import { waitFor } from '../../helpers/wait.js'
import { waitHeight } from '../harness.js'
import { LoadDriver } from '../load-driver.js'
import { expectConvergedWithin, heights } from './agreement.js'
import { HostNet, type HostNode } from './hosts.js'

const CHAIN = 'netns-relays'
/**
 * The scenario needs view changes (the primary is one end of the cut) and runs on a young chain with
 * 1 s view timers: 18–28 s locally with either relay mode. This spec is about how the relays come,
 * so the bound is generous; the partition spec holds the same case to 30 s with the default relays.
 */
const RECOVERY_BOUND_MS = 60_000

/** The node's "gossip relays on/off" log lines (docs/PROTOCOL.md §2.2 "Relays on demand"). */
function relayLines(node: HostNode): { msg: string; disconnected: number; indirect: number; at: number }[] {
  const out = []
  for (const line of readFileSync(node.logPath, 'utf8').split('\n')) {
    if (!line.includes('gossip relays')) continue
    const j = JSON.parse(line) as { msg: string; disconnected: number; indirect: number; time: string }
    out.push({ msg: j.msg, disconnected: j.disconnected, indirect: j.indirect, at: Date.parse(j.time) })
  }
  return out
}

/**
 * `p2p.gossip_relays` on_demand between hosts: no relays while every validator is connected, and a
 * validator link that dies silently (blackholed: no TCP reset, so the connection stays until libp2p's
 * ping fails, up to a minute later) is noticed by its votes arriving through IHAVE, so the relays
 * come within seconds and the quorum that needs that link forms through them.
 */
describe('e2e/netns: relays on demand', function () {
  this.timeout(120_000)
  let net: HostNet
  let validators: HostNode[]

  before(async function () {
    this.timeout(60_000)
    net = await HostNet.create({ validators: 4, chainId: CHAIN, p2p: { gossip_relays: 'on_demand' } })
    validators = net.validators
    await net.start(validators)
    await waitFor(
      async () => (await Promise.all(validators.map((n) => n.status()))).every((s) => s.n_peers >= 3),
      { timeoutMs: 30_000, intervalMs: 100, message: 'every validator connected to the 3 others' },
    )
  })

  after(async () => {
    await net?.close()
  })

  it('a silently cut validator link and another validator off: relays within seconds, the quorum forms', async () => {
    const load = new LoadDriver({
      chainId: CHAIN,
      rpcUrls: () => validators.filter((n) => n.running).map((n) => n.rpcUrl),
      seed: 7,
      clients: 4,
      commitFraction: 0.1,
      ratePerSec: 30,
    })
    load.start()
    await load.waitForAcks(5)
    // Fully connected under load: every node has let go of the relays it starts with (a "relays off"
    // line, 5 s after all validators are reachable) and grafted none since.
    const direct = (n: HostNode) => relayLines(n).at(-1)?.msg.startsWith('gossip relays off') === true
    await waitFor(() => validators.every(direct), {
      timeoutMs: 45_000,
      message: 'every validator direct (its start-up relays let go) while fully connected',
    })

    const primary = (await (validators[0] as HostNode).status()).consensus.primary
    const a = validators.find((n) => n.host.peerId === primary) as HostNode
    const [b, c, d] = validators.filter((n) => n !== a) as [HostNode, HostNode, HostNode]
    await net.cutBetween(a, b)
    await net.cut(c)
    const t0 = Date.now()
    const target = Math.max(...(await heights([a, b, d]))) + MAX_PIPELINE_DEPTH + 1
    await waitHeight([a, b, d], target, RECOVERY_BOUND_MS)
    const took = Date.now() - t0
    // a and b still hold their connection to each other (blackholed, not closed): they joined on
    // the other's votes arriving through IHAVE, not on a lost connection
    const joins = [a, b].flatMap((n) =>
      relayLines(n).filter((l) => l.msg.startsWith('gossip relays on') && l.at >= t0 - 1_000),
    )
    console.log(
      `      height ${target} in ${(took / 1000).toFixed(1)} s; relays on: ${joins
        .map(
          (j) =>
            `${((j.at - t0) / 1000).toFixed(1)} s (indirect ${j.indirect}, disconnected ${j.disconnected})`,
        )
        .join(', ')}`,
    )
    expect(joins.some((j) => j.indirect >= 1)).to.equal(true)
    expect(Math.min(...joins.map((j) => j.at - t0))).to.be.below(took)
    await net.heal()
    const history = await load.stop()
    await expectConvergedWithin(validators, history, RECOVERY_BOUND_MS)
  })
})
