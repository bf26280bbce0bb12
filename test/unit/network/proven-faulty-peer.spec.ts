import { expect } from 'chai'
import { generateNodeKey } from '../../../src/crypto/node-key.js'
import { silentNetworkLogger } from '../../../src/network/logger.js'
import type { Network } from '../../../src/network/network.js'
import { waitFor } from '../../helpers/wait.js'
import { startNode, stopAll } from './helpers.js'

/** Real libp2p on 127.0.0.1: the connection side of a proven-faulty validator (docs/PROTOCOL.md §2.5). */
describe('network: a proven-faulty validator’s peer', function () {
  this.timeout(20_000)
  const nets: Network[] = []
  afterEach(() => stopAll(nets))

  it('is hung up on and kept out (its redials refused) until it is no longer proven faulty', async () => {
    const keyB = await generateNodeKey()
    const faulty = new Set<string>()
    /** A's 'peer connected' events for B, and B's for A (libp2p's peer:connect on each side) */
    const connects = { atA: 0, atB: 0 }
    const counting = (side: 'atA' | 'atB', peer: () => string) => ({
      ...silentNetworkLogger,
      debug: (obj: unknown, msg?: string) => {
        if (msg === 'peer connected' && (obj as { peer?: string }).peer === peer()) connects[side]++
      },
    })
    const { net: a } = await startNode({
      validatorPeerIds: [keyB.peerId],
      isProvenFaultyPeer: (id) => faulty.has(id),
      logger: counting('atA', () => keyB.peerId),
    })
    nets.push(a)
    // B keeps dialling A (bootstrap list, 50 ms ticks)
    const { net: b } = await startNode({
      key: keyB,
      bootstrap: a.listenAddrs(),
      logger: counting('atB', () => a.peerId),
    })
    nets.push(b)
    await waitFor(() => a.peers().some((p) => p.peerId === keyB.peerId), { message: 'B connected to A' })

    faulty.add(keyB.peerId)
    await a.hangUp(keyB.peerId)
    await waitFor(() => !a.peers().some((p) => p.peerId === keyB.peerId), { message: 'A hung up on B' })
    // B redials at once and sees its dials go through the handshake, but A's gater refuses each
    // connection once Noise has shown it is B: A never counts B connected again.
    const before = { ...connects }
    await waitFor(() => connects.atB >= before.atB + 3, { timeoutMs: 10_000, message: 'B redials A 3 times' })
    expect(connects.atA, 'B connected at A').to.equal(before.atA)
    expect(a.peers().map((p) => p.peerId)).to.not.include(keyB.peerId)
    // … while others still get in.
    const { net: c } = await startNode({ bootstrap: a.listenAddrs() })
    nets.push(c)
    await waitFor(() => a.peers().some((p) => p.peerId === c.peerId), { message: 'C connected to A' })
    expect(connects.atA, 'B connected at A').to.equal(before.atA)

    faulty.delete(keyB.peerId) // the cool-down is over
    await waitFor(() => a.peers().some((p) => p.peerId === keyB.peerId), {
      timeoutMs: 10_000,
      message: 'B reconnects once no longer proven faulty',
    })
  })
})
