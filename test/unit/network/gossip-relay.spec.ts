import { expect } from 'chai'
import { generateNodeKey, type NodeKey } from '../../../src/crypto/node-key.js'
import type { Network } from '../../../src/network/network.js'
import { defaultGossipOptions, type GossipOptions } from '../../../src/network/options.js'
import { TOPIC_KINDS } from '../../../src/network/topics.js'
import { waitFor } from '../../helpers/wait.js'
import { bytes, startCluster, startNode, stopAll, text } from './helpers.js'

/**
 * Validators are all connected to each other and flood-publish their own messages, so relaying
 * matters only when a link is down (docs/PROTOCOL.md §2.2). With the default mesh degrees, the
 * smallest that keeps that case covered, a validator whose link to the author is down still gets
 * every consensus message, relayed by the others.
 */
const CONSENSUS_TOPIC_KINDS = TOPIC_KINDS.filter((k) => k !== 'tx')

describe('network/gossip relay around a missing link', function () {
  this.timeout(60_000)
  const nets: Network[] = []
  afterEach(() => stopAll(nets))

  /** C, D connected; A and B each connected to C and D but not to each other. */
  async function diamond(
    gossip: Partial<GossipOptions> = {},
  ): Promise<{ a: Network; b: Network; c: Network; d: Network }> {
    const { net: c } = await startNode({ gossip })
    nets.push(c)
    const { net: d } = await startNode({ gossip, bootstrap: c.listenAddrs() })
    nets.push(d)
    const { net: a } = await startNode({ gossip, bootstrap: [...c.listenAddrs(), ...d.listenAddrs()] })
    nets.push(a)
    const { net: b } = await startNode({ gossip, bootstrap: [...c.listenAddrs(), ...d.listenAddrs()] })
    nets.push(b)
    await waitFor(
      () =>
        a.connectedPeerCount() === 2 &&
        b.connectedPeerCount() === 2 &&
        c.connectedPeerCount() === 3 &&
        d.connectedPeerCount() === 3,
      { message: 'the diamond A–{C,D}–B with C–D' },
    )
    return { a, b, c, d }
  }

  it('delivers every consensus message of A to B through C or D, and B’s to A', async () => {
    const { a, b, c, d } = await diamond({ relays: 'always' })
    const inbox = new Map<Network, string[]>()
    const sources = new Set<string>()
    for (const net of nets) {
      const got: string[] = []
      inbox.set(net, got)
      for (const kind of CONSENSUS_TOPIC_KINDS)
        net.subscribe(kind, (data, from) => {
          got.push(`${kind}:${text(data)}`)
          if (net === b || net === a) sources.add(from)
        })
    }
    // every node knows its peers' subscriptions and has grafted its mesh (at least Dlo peers)
    await waitFor(
      () =>
        nets.every((n) =>
          CONSENSUS_TOPIC_KINDS.every(
            (k) =>
              n.topicPeers(k).length === n.connectedPeerCount() &&
              n.meshPeers(k).length >= Math.min(defaultGossipOptions.Dlo, n.connectedPeerCount()),
          ),
        ),
      { message: 'subscriptions and meshes' },
    )

    const sent: string[] = []
    const sentByB: string[] = []
    for (let i = 0; i < 10; i++) {
      for (const kind of CONSENSUS_TOPIC_KINDS) {
        const fromA = `vote-${i}-of-A`
        const outA = await a.publish(kind, bytes(fromA))
        expect(outA.recipients, 'flood publish reaches both of A’s peers').to.equal(2)
        sent.push(`${kind}:${fromA}`)
        const fromB = `vote-${i}-of-B`
        await b.publish(kind, bytes(fromB))
        sentByB.push(`${kind}:${fromB}`)
      }
    }
    const has = (net: Network, want: string[]) => want.every((m) => inbox.get(net)?.includes(m))
    // A generous deadline (a loaded CI machine starves these four in-process nodes); on a timeout,
    // what is missing where, and the links and meshes then, so a failure says why.
    const wants = new Map<Network, string[]>([
      [a, sentByB],
      [b, sent],
      [c, [...sent, ...sentByB]],
      [d, [...sent, ...sentByB]],
    ])
    await waitFor(() => [...wants].every(([n, want]) => has(n, want)), {
      timeoutMs: 30_000,
      message: 'every message at every node',
    }).catch((err: Error) => {
      const state = [...wants].map(([n, want], i) => {
        const missing = want.filter((m) => !inbox.get(n)?.includes(m))
        const meshes = CONSENSUS_TOPIC_KINDS.map((k) => n.meshPeers(k).length).join('/')
        return `${'ABCD'[i]}: ${missing.length} missing (${missing.slice(0, 3).join(', ')}), peers ${n.connectedPeerCount()}, mesh ${meshes}`
      })
      throw new Error(`${err.message}; ${state.join('; ')}`)
    })
    // A and B never connected: all they got came from C or D
    expect(a.peers().map((p) => p.peerId)).not.to.include(b.peerId)
    expect(sources.size).to.be.greaterThan(0)
    for (const from of sources) expect([c.peerId, d.peerId]).to.include(from)
    // each message once at the application (gossipsub dropped the duplicates)
    for (const net of [a, b]) {
      const got = inbox.get(net) as string[]
      expect(new Set(got).size).to.equal(got.length)
    }
  })

  it('relays on demand: no mesh while every validator is connected; a lost link grafts relays until it is back', async () => {
    const keys = await Promise.all([0, 1, 2, 3].map(() => generateNodeKey()))
    const validatorPeerIds = keys.map((k) => k.peerId)
    const gossip = {
      relays: 'on_demand',
      relayJoinAfterMs: 300,
      relayLeaveAfterMs: 1_500,
      relayStartupLeaveAfterMs: 1_000,
    } as const
    // node k dials nodes 0..k-1; nodes 0 and 3 redial a lost link only after 6 s (the cut below)
    nets.push(
      ...(await startCluster(4, (k) => ({
        key: keys[k] as NodeKey,
        validatorPeerIds,
        gossip,
        ...(k === 0 || k === 3 ? { reconnect: { initialDelayMs: 6_000, maxDelayMs: 6_000 } } : {}),
      }))),
    )
    const [b, c, d, a] = nets as [Network, Network, Network, Network]
    const inbox = new Map<Network, string[]>(nets.map((n) => [n, []]))
    const sources = new Set<string>()
    for (const n of nets)
      n.subscribe('commit', (data, from) => {
        inbox.get(n)?.push(text(data))
        if (n === b && text(data).includes('-cut-')) sources.add(from)
      })
    const settled = () =>
      nets.every(
        (n) =>
          n.relayMode() === 'direct' &&
          n.meshPeers('commit').length === 0 &&
          n.topicPeers('commit').length === 3,
      )
    await waitFor(settled, { timeoutMs: 20_000, message: 'every node direct, no mesh' })
    const dups = () => nets.map((n) => n.receiveStats().commit?.duplicates ?? 0)
    const publish = async (from: Network, tag: string) => {
      const sent = Array.from({ length: 10 }, (_, i) => `commit-${tag}-${i}`)
      for (const m of sent) await from.publish('commit', bytes(m))
      await waitFor(() => nets.every((n) => n === from || sent.every((m) => inbox.get(n)?.includes(m))), {
        timeoutMs: 20_000,
        message: `every ${tag} message everywhere`,
      })
    }
    // fully connected: each node gets each message once, from its author, and no relayed copy
    await publish(c, 'full')
    expect(dups()).to.deep.equal([0, 0, 0, 0])

    // the link a–b goes down: both graft relays, which carry a's messages to b
    await a.hangUp(b.peerId)
    await waitFor(
      () => a.relayMode() === 'relayed' && b.relayMode() === 'relayed' && b.meshPeers('commit').length > 0,
      { timeoutMs: 10_000, message: 'a and b relayed' },
    ).catch((err: Error) => {
      const state = nets.map(
        (n, i) =>
          `${'BCDA'[i]}: ${n.relayMode()}, peers ${n.connectedPeerCount()}, mesh ${n.meshPeers('commit').length}, topic peers ${n.topicPeers('commit').length}`,
      )
      throw new Error(`${err.message}; ${state.join('; ')}`)
    })
    expect(c.relayMode()).to.equal('direct')
    expect(a.peers().map((p) => p.peerId)).not.to.include(b.peerId)
    await publish(a, 'cut')
    for (const from of sources) expect([c.peerId, d.peerId]).to.include(from)

    // the link is back (a's reconnector): both let their relays go, and nobody gets a duplicate again
    await waitFor(settled, { timeoutMs: 20_000, message: 'direct again, no mesh' })
    const before = dups()
    await publish(a, 'healed')
    expect(dups()).to.deep.equal(before)
  })

  it('with no mesh (p2p.gossip_mesh_degree 0): no relays, yet A’s messages reach B through IHAVE/IWANT', async () => {
    const { a, b, c, d } = await diamond({ D: 0, Dlo: 0, Dhi: 0, Dout: 0, Dscore: 0 })
    const inbox = new Map<Network, string[]>()
    for (const net of [b, c, d]) {
      const got: string[] = []
      inbox.set(net, got)
      net.subscribe('commit', (data) => got.push(text(data)))
    }
    a.subscribe('commit', () => {})
    await waitFor(() => nets.every((n) => n.topicPeers('commit').length === n.connectedPeerCount()), {
      message: 'subscriptions',
    })
    const sent = Array.from({ length: 10 }, (_, i) => `commit-${i}-of-A`)
    for (const m of sent) await a.publish('commit', bytes(m))
    await waitFor(() => sent.every((m) => inbox.get(b)?.includes(m)), {
      timeoutMs: 30_000,
      message: 'every message of A at B',
    })
    expect(nets.every((n) => n.meshPeers('commit').length === 0)).to.equal(true)
    // C and D got each message once, from A, and no second copy: nobody relayed it to them
    for (const net of [b, c, d]) {
      const got = inbox.get(net) as string[]
      expect(new Set(got).size).to.equal(got.length)
    }
    for (const net of [c, d]) expect(net.receiveStats().commit?.duplicates ?? 0).to.equal(0)
    expect(inbox.get(c)).to.have.members(sent)
    expect(inbox.get(d)).to.have.members(sent)
  })
})
