import { expect } from 'chai'
import { generateNodeKey } from '../../../src/crypto/node-key.js'
import { silentNetworkLogger } from '../../../src/network/logger.js'
import type { Network } from '../../../src/network/network.js'
import { defaultReconnectOptions } from '../../../src/network/options.js'
import { Reconnector, type ReconnectTarget } from '../../../src/network/reconnector.js'
import { waitFor } from '../../helpers/wait.js'
import { startNode, stopAll } from './helpers.js'

describe('network/reconnect', function () {
  this.timeout(30_000)
  const nets: Network[] = []
  afterEach(() => stopAll(nets))

  it('backs off exponentially up to the cap, with bounded jitter', () => {
    const r = new Reconnector(
      { isConnected: () => false, dial: async () => {}, logger: silentNetworkLogger, random: () => 0.5 },
      { ...defaultReconnectOptions, initialDelayMs: 100, factor: 2, maxDelayMs: 1000, jitter: 0.2 },
    )
    expect([1, 2, 3, 4, 5, 10].map((k) => r.backoffMs(k))).to.deep.equal([100, 200, 400, 800, 1000, 1000])
    const low = new Reconnector(
      { isConnected: () => false, dial: async () => {}, logger: silentNetworkLogger, random: () => 0 },
      { ...defaultReconnectOptions, initialDelayMs: 100, jitter: 0.2 },
    )
    expect(low.backoffMs(1)).to.equal(80)
  })

  it('keeps retrying a target that is down and stops cleanly', async () => {
    const attempts: number[] = []
    const r = new Reconnector(
      {
        isConnected: () => false,
        dial: async (_t: ReconnectTarget, signal: AbortSignal) => {
          attempts.push(Date.now())
          signal.throwIfAborted()
          throw new Error('connection refused')
        },
        logger: silentNetworkLogger,
      },
      { ...defaultReconnectOptions, initialDelayMs: 10, maxDelayMs: 40, tickMs: 5, jitter: 0 },
    )
    r.addTarget({ peerId: 'p', addrs: [] })
    await r.start()
    try {
      await waitFor(() => attempts.length >= 6, { message: 'six attempts' })
    } finally {
      await r.stop()
    }
    const n = attempts.length
    // a deliberate sleep, not a wait: proving a negative (no attempt after stop()) needs a span of time
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(attempts.length).to.equal(n)
  })

  it('stops looking once every target is connected, and looks again after a disconnect', async () => {
    const connected = new Set<string>()
    const dials: string[] = []
    let lookups = 0
    const r = new Reconnector(
      {
        isConnected: (peerId) => {
          lookups++
          return connected.has(peerId)
        },
        dial: async (t: ReconnectTarget) => {
          dials.push(t.peerId)
          connected.add(t.peerId)
        },
        logger: silentNetworkLogger,
      },
      { ...defaultReconnectOptions, initialDelayMs: 10, tickMs: 5, jitter: 0 },
    )
    for (const peerId of ['a', 'b', 'c']) r.addTarget({ peerId, addrs: [] })
    await r.start()
    try {
      expect(r.looking).to.equal(true)
      await waitFor(() => !r.looking, { message: 'the loop to stop once all are connected' })
      expect([...dials].sort()).to.deep.equal(['a', 'b', 'c'])
      // no timer is pending, so nothing runs while the targets stay connected
      const idleLookups = lookups

      connected.delete('b')
      r.onPeerDisconnected('b')
      expect(r.looking).to.equal(true)
      await waitFor(() => dials.length === 4, { message: 'b re-dialed' })
      expect(dials[3]).to.equal('b')
      await waitFor(() => !r.looking, { message: 'the loop to stop again' })
      expect(lookups).to.be.greaterThan(idleLookups)

      // a target added later is dialed too
      r.addTarget({ peerId: 'd', addrs: [] })
      await waitFor(() => dials.includes('d') && !r.looking, { message: 'd dialed, then idle' })
    } finally {
      await r.stop()
    }
    expect(r.looking).to.equal(false)
  })

  it('keeps looking while a target is down, whatever the others do', async () => {
    const dials: string[] = []
    const r = new Reconnector(
      {
        isConnected: (peerId) => peerId === 'up',
        dial: async (t: ReconnectTarget) => {
          dials.push(t.peerId)
          throw new Error('connection refused')
        },
        logger: silentNetworkLogger,
      },
      { ...defaultReconnectOptions, initialDelayMs: 10, maxDelayMs: 20, tickMs: 5, jitter: 0 },
    )
    r.addTarget({ peerId: 'up', addrs: [] })
    r.addTarget({ peerId: 'down', addrs: [] })
    await r.start()
    try {
      await waitFor(() => dials.length >= 4, { message: 'four attempts at the target that is down' })
      expect(r.looking).to.equal(true)
      expect(dials.every((d) => d === 'down')).to.equal(true)
    } finally {
      await r.stop()
    }
  })

  it('re-dials a bootstrap peer that restarted with the same key and port, and a validator by peer id', async () => {
    const keyB = await generateNodeKey()
    // C knows B only as a validator peer id; B dials C first, so C's peer store learns B's addresses
    const { net: c } = await startNode({ validatorPeerIds: [keyB.peerId] })
    nets.push(c)
    const b1 = await startNode({ key: keyB, bootstrap: c.listenAddrs() })
    const bAddrs = b1.net.listenAddrs()
    const port = Number(bAddrs[0]?.split('/')[4])
    const { net: a } = await startNode({ bootstrap: bAddrs })
    nets.push(a)
    await waitFor(() => b1.net.connectedPeerCount() === 2, { message: 'B connected to A and C' })
    // C can dial B by peer id only once identify has told it B's listen address. C's gossipsub opens
    // its stream to B (and B sees C's subscription) only after that identify, so wait for it.
    c.subscribe('tx', () => {})
    await waitFor(() => b1.net.topicPeers('tx').includes(c.peerId), { message: 'C identified B' })

    await b1.net.stop()
    await waitFor(() => a.connectedPeerCount() === 0 && c.connectedPeerCount() === 0, {
      message: 'A and C notice B is gone',
    })

    // B comes back on the same port with no bootstrap list of its own: A and C must dial it
    const b2 = await startNode({ key: keyB, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    nets.push(b2.net)
    await waitFor(() => a.peers().some((p) => p.peerId === keyB.peerId), {
      message: 'A reconnects to B (bootstrap address)',
    })
    await waitFor(() => c.peers().some((p) => p.peerId === keyB.peerId), {
      message: 'C reconnects to B (peer store)',
    })
  })
})
