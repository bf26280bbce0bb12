import { expect } from 'chai'
import { generateNodeKey } from '../../../src/crypto/node-key.js'
import { createNetwork, type Network } from '../../../src/network/network.js'
import { acceptAllGossip } from '../../fixtures/gossip.js'
import { waitFor } from '../../helpers/wait.js'

describe('network: mDNS discovery (--mdns)', function () {
  this.timeout(30_000)
  const nets: Network[] = []
  after(async () => {
    await Promise.all(nets.map((n) => n.stop()))
  })

  it('two nodes with no bootstrap peers find and connect to each other', async () => {
    for (let i = 0; i < 2; i++) {
      const net = await createNetwork({
        privateKey: (await generateNodeKey()).privateKey,
        chainId: `mdns-${process.pid}`,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: true,
        gossipValidators: acceptAllGossip(),
      })
      await net.start()
      nets.push(net)
    }
    const [a, b] = nets as [Network, Network]
    await waitFor(() => a.peers().some((p) => p.peerId === b.peerId), {
      timeoutMs: 20_000,
      message: 'a connected to b via mDNS',
    })
    expect(b.peers().map((p) => p.peerId)).to.include(a.peerId)
  })
})
