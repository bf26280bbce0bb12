import { expect } from 'chai'
import type { ChainStore } from '../../../src/chain/store.js'
import type { Block, CommitCertificate } from '../../../src/codec/types.js'
import type { SyncedBlock } from '../../../src/network/sync-client.js'
import type { PeerTip } from '../../../src/network/syncer.js'
import { BlockSync } from '../../../src/node/block-sync.js'
import { silentLogger } from '../../../src/node/logger.js'
import { NodeMetrics } from '../../../src/node/metrics.js'
import { waitFor } from '../../helpers/wait.js'
import { makeSigners, makeValidators } from '../consensus/harness.js'

/**
 * The catch-up loop's polling (docs/PERFORMANCE.md "Idle cost"): all peers in the first round,
 * then one random peer per round, backing off while nobody is ahead, so idle polling does not grow
 * with the peer count and nearly stops; a node behind still catches up, from a poll, at once from
 * an explicit request, or at once when a peer connects.
 */
describe('node/block-sync polling', function () {
  this.timeout(20_000)
  const validators = makeValidators(makeSigners(4))

  /** A fake network whose peers' tip is `networkTip`; it records every poll and every range fetched. */
  function setup(networkTip: number, pollMs?: { min: number; max: number }) {
    let height = 0
    const polls: (number | undefined)[] = []
    /** when each poll happened (ms) */
    const pollTimes: number[] = []
    const ranges: [number, number][] = []
    /** 'poll' and 'fetch' in the order they happened */
    const events: string[] = []
    const net = {
      tip: networkTip,
      peerTips: async (_signal?: AbortSignal, opts?: { sample?: number }): Promise<PeerTip[]> => {
        polls.push(opts?.sample)
        pollTimes.push(performance.now())
        events.push('poll')
        const all = ['a', 'b', 'c'].map((peerId) => ({ peerId, height: net.tip, hash: new Uint8Array(32) }))
        return opts?.sample === undefined ? all : all.slice(0, opts.sample)
      },
      fetchRange: async function* (from: number, to: number): AsyncGenerator<SyncedBlock> {
        ranges.push([from, to])
        events.push('fetch')
        for (let h = from; h <= Math.min(to, net.tip); h++) {
          yield {
            height: h,
            block: { header: { height: h } } as unknown as Block,
            certificate: {} as CommitCertificate,
            encoded: { block: new Uint8Array(0), certificate: new Uint8Array(0) },
          }
        }
      },
    }
    const sync = new BlockSync({
      chainId: 'c',
      validators,
      store: { tip: () => ({ height }) } as unknown as ChainStore,
      network: net,
      applySynced: async (block) => {
        height = block.header.height
      },
      metrics: new NodeMetrics({ chainId: 'c' }),
      log: silentLogger(),
      ...(pollMs === undefined ? {} : { pollMs }),
    })
    return { sync, net, polls, pollTimes, ranges, events, height: () => height }
  }

  it('polls every peer once at startup, then one random peer per round', async () => {
    const t = setup(0, { min: 20, max: 50 })
    t.sync.start()
    try {
      await waitFor(() => t.polls.length >= 3, { timeoutMs: 10_000, message: 'three polls' })
      expect(t.polls[0]).to.equal(undefined) // all peers
      expect(t.polls.slice(1)).to.satisfy((p: unknown[]) => p.every((x) => x === 1))
      expect(t.ranges).to.deep.equal([]) // nobody ahead: nothing fetched
    } finally {
      await t.sync.stop()
    }
  })

  it('a node that falls behind catches up from a poll of one peer', async () => {
    const t = setup(0, { min: 20, max: 200 })
    t.sync.start()
    try {
      await waitFor(() => t.polls.length >= 1, { message: 'the startup poll' })
      t.net.tip = 7 // the network moved on without this node hearing it
      await waitFor(() => t.height() === 7, { timeoutMs: 10_000, message: 'caught up to 7' })
      expect(t.polls.length).to.be.at.least(2)
      expect(t.sync.catchingUp).to.equal(false)
    } finally {
      await t.sync.stop()
    }
  })

  it('an explicit request fetches at once, without polling', async () => {
    const t = setup(0)
    t.sync.start()
    try {
      await waitFor(() => t.polls.length >= 1, { message: 'the startup poll' })
      const polls = t.polls.length
      t.net.tip = 5
      t.sync.request(5)
      await waitFor(() => t.height() === 5, {
        timeoutMs: 1_500,
        message: 'caught up to 5 before the next poll',
      })
      expect(t.ranges[0]).to.deep.equal([1, 5])
      expect(t.polls.length).to.equal(polls)
    } finally {
      await t.sync.stop()
    }
  })

  it('waits twice as long after each poll that finds nobody ahead, up to the cap', async () => {
    const t = setup(0, { min: 20, max: 80 })
    t.sync.start()
    try {
      await waitFor(() => t.polls.length >= 6, { message: 'six polls' })
      expect(t.sync.nextPollMs).to.equal(80)
    } finally {
      await t.sync.stop()
    }
    const gaps = t.pollTimes.slice(1, 6).map((at, k) => at - (t.pollTimes[k] as number))
    // a timer never fires early (1 ms of rounding aside): each wait is at least its back-off
    const expected = [40, 80, 80, 80, 80]
    gaps.forEach((gap, k) => {
      expect(gap, `wait ${k + 1}`).to.be.at.least((expected[k] as number) - 1)
    })
    expect(t.ranges).to.deep.equal([])
  })

  it('a peer that connects wakes a backed-off poll, and catching up resets the back-off', async () => {
    // after the startup poll the next one is a minute away: only the wake can explain a fetch
    const t = setup(0, { min: 30_000, max: 600_000 })
    t.sync.start()
    try {
      await waitFor(() => t.polls.length === 1 && t.sync.nextPollMs === 60_000, {
        message: 'the startup poll, then a long wait',
      })
      t.net.tip = 3 // the network moved on while this node was cut off
      t.sync.peerConnected()
      await waitFor(() => t.height() === 3, { timeoutMs: 5_000, message: 'caught up to 3 after the connect' })
      expect(t.polls.length).to.equal(2)
      expect(t.sync.nextPollMs).to.equal(30_000)
    } finally {
      await t.sync.stop()
    }
  })
})
