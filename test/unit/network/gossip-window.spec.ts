import { expect } from 'chai'
import { gossipsubInit, gossipWindowHeartbeats } from '../../../src/network/gossipsub-config.js'
import { defaultGossipOptions } from '../../../src/network/options.js'
import { gossipSeenTtlMs } from '../../../src/node/node-network.js'

/**
 * docs/PROTOCOL.md §2.2: IHAVE announces only ids the receivers still remember, so a message is not
 * fetched (IWANT) and validated again after its seen entry expired.
 */
describe('network/gossipsub-config: the IHAVE window stays inside the seen TTL', () => {
  const hb = defaultGossipOptions.heartbeatIntervalMs

  it('announces fewer heartbeats when the seen TTL is short, the default 3 when it is long', () => {
    // the node's seen TTL for the default 2 s view-change timeout: 1.5 s = 2.1 heartbeats
    const seenTtlMs = gossipSeenTtlMs(2_000)
    expect(seenTtlMs).to.equal(1_500)
    expect(gossipWindowHeartbeats({ seenTtlMs, heartbeatIntervalMs: hb })).to.equal(1)
    expect(gossipWindowHeartbeats({ seenTtlMs: 30_000, heartbeatIntervalMs: hb })).to.equal(3)
    expect(gossipWindowHeartbeats({ seenTtlMs: 500, heartbeatIntervalMs: hb })).to.equal(1)
    for (const vc of [1_000, 2_000, 4_000, 10_000, 60_000]) {
      const ttl = gossipSeenTtlMs(vc)
      const w = gossipWindowHeartbeats({ seenTtlMs: ttl, heartbeatIntervalMs: hb })
      // the oldest announced id is w heartbeats old at most, a heartbeat short of the seen TTL
      if (ttl >= 2 * hb) expect((w + 1) * hb, `view-change timeout ${vc} ms`).to.be.at.most(ttl)
    }
  })

  it('is what gossipsub gets', () => {
    const init = gossipsubInit({ ...defaultGossipOptions, seenTtlMs: 1_500 }, ['t'])
    expect(init.mcacheGossip).to.equal(1)
    expect(init.seenTTL).to.equal(1_500)
    expect(gossipsubInit({ ...defaultGossipOptions, seenTtlMs: 30_000 }, ['t']).mcacheGossip).to.equal(3)
  })
})
