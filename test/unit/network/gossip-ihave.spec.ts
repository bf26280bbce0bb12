import { expect } from 'chai'
import { IHAVE_WINDOW_HEARTBEATS } from '../../../src/network/gossipsub-config.js'
import type { Network } from '../../../src/network/network.js'
import { defaultGossipOptions } from '../../../src/network/options.js'
import { waitFor } from '../../helpers/wait.js'
import { bytes, startCluster, stopAll, text } from './helpers.js'

/**
 * IHAVE gossip must not announce ids older than the seen cache remembers (src/network/gossipsub-config.ts,
 * IHAVE_WINDOW_HEARTBEATS): a peer would fetch (IWANT) what it forgot and take it as new. With
 * gossipsub's own 3-heartbeat window and these timings (600 ms of ids announced, 500 ms
 * remembered) every node here received messages a second time (this test failed so).
 */
const HEARTBEAT_MS = 200
const SEEN_TTL_MS = 500

describe('network/gossip: IHAVE announces only what peers still remember', function () {
  this.timeout(60_000)
  const nets: Network[] = []
  afterEach(() => stopAll(nets))

  it('the IHAVE window is shorter than the seen cache of a node with the default view-change timeout', () => {
    // node-network.ts: seen TTL = 0.75 × view_change_timeout_ms (2,000 by default) = 1,500 ms
    expect(IHAVE_WINDOW_HEARTBEATS * defaultGossipOptions.heartbeatIntervalMs).to.be.below(1_500)
  })

  it('4 fully connected nodes, each with peers outside its mesh: each message is delivered once per node, also after the seen cache forgot it', async () => {
    nets.push(
      ...(await startCluster(4, () => ({
        gossip: { heartbeatIntervalMs: HEARTBEAT_MS, seenTtlMs: SEEN_TTL_MS, D: 1, Dlo: 1, Dhi: 1, Dout: 0 },
      }))),
    )
    const delivered = nets.map(() => new Map<string, number>())
    for (const [i, net] of nets.entries()) {
      const counts = delivered[i] as Map<string, number>
      net.subscribe('commit', (data) => {
        counts.set(text(data), (counts.get(text(data)) ?? 0) + 1)
      })
    }
    await waitFor(
      () =>
        nets.every(
          (n) =>
            n.topicPeers('commit').length === 3 &&
            n.meshPeers('commit').length >= 1 &&
            n.meshPeers('commit').length < 3,
        ),
      { message: 'subscriptions, and meshes that leave peers outside' },
    )
    const sent: string[] = []
    for (let i = 0; i < 20; i++) {
      const author = nets[i % 4] as Network
      const msg = `commit-${i}`
      await author.publish('commit', bytes(msg))
      sent.push(msg)
    }
    await waitFor(
      () => nets.every((_, i) => sent.every((m) => i === sent.indexOf(m) % 4 || delivered[i]?.has(m))),
      { message: 'every commit at every node but its author' },
    )
    // The scenario's point is what happens after the seen cache forgot the messages: watch for
    // 10 heartbeats (2 s), past the seen TTL and every IHAVE that could name them.
    await new Promise((r) => setTimeout(r, 10 * HEARTBEAT_MS))
    const repeats = delivered.flatMap((m, i) =>
      [...m].filter(([, count]) => count > 1).map(([msg, count]) => `node${i}: ${msg} × ${count}`),
    )
    expect(repeats).to.deep.equal([])
  })
})
