import type { Stream } from '@libp2p/interface'
import { expect } from 'chai'
import { generateNodeKey } from '../../../src/crypto/node-key.js'
import { createLibp2pNode, type PbftLibp2p } from '../../../src/network/libp2p-node.js'
import type { Network } from '../../../src/network/network.js'
import { defaultGossipOptions, defaultLivenessOptions } from '../../../src/network/options.js'
import { waitFor } from '../../helpers/wait.js'
import { startNode, stopAll } from './helpers.js'

const PING_PROTOCOL = '/ipfs/ping/1.0.0'

/**
 * Connection liveness (docs/PERFORMANCE.md "Idle cost"): connections are pinged at
 * LivenessOptions.pingIntervalMs, not libp2p's 10 s, and one whose peer stops answering is still
 * closed; peers that connect are reported to onPeerConnect listeners (block sync polls then).
 */
describe('network/liveness', function () {
  this.timeout(30_000)
  const nets: Network[] = []
  let raw: PbftLibp2p | undefined
  const held: Stream[] = []
  afterEach(async () => {
    for (const s of held) s.abort(new Error('test over'))
    held.length = 0
    await stopAll(nets)
    await raw?.stop()
    raw = undefined
  })

  it('pings each connection at the configured interval and drops a peer that stops answering', async () => {
    // a peer that accepts ping streams and never answers (a frozen process looks like this)
    raw = await createLibp2pNode({
      privateKey: (await generateNodeKey()).privateKey,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      announce: [],
      mdns: false,
      gossip: defaultGossipOptions,
      topics: [],
    })
    await raw.start()
    const pingsAt: number[] = []
    await raw.unhandle(PING_PROTOCOL)
    await raw.handle(PING_PROTOCOL, ({ stream }) => {
      pingsAt.push(Date.now())
      held.push(stream)
    })
    let drops = 0
    raw.addEventListener('peer:disconnect', () => {
      drops++
    })
    const { net } = await startNode({
      bootstrap: raw.getMultiaddrs().map((a) => a.toString()),
      liveness: { pingIntervalMs: 300, pingTimeoutMinMs: 500 },
    })
    nets.push(net)
    await waitFor(() => drops >= 1, { timeoutMs: 15_000, message: 'the silent peer dropped' })
    expect(pingsAt.length).to.be.at.least(1)
  })

  it('pings far less often than libp2p by default', () => {
    // libp2p's default (10 s) made the pings the largest idle cost (docs/PERFORMANCE.md "Idle cost")
    expect(defaultLivenessOptions.pingIntervalMs).to.be.at.least(60_000)
  })

  it('tells onPeerConnect listeners about each peer that connects, until unsubscribed', async () => {
    const { net: a } = await startNode()
    nets.push(a)
    const seen: string[] = []
    const off = a.onPeerConnect((peerId) => seen.push(peerId))
    const { net: b } = await startNode({ bootstrap: a.listenAddrs() })
    nets.push(b)
    await waitFor(() => seen.includes(b.peerId), { message: 'A told of B' })
    off()
    const { net: c } = await startNode({ bootstrap: a.listenAddrs() })
    nets.push(c)
    await waitFor(() => a.connectedPeerCount() === 2, { message: 'C connected to A' })
    expect(seen).to.deep.equal([b.peerId])
  })
})
