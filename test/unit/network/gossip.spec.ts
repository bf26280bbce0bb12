import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'chai'
import { generateNodeKey } from '../../../src/crypto/node-key.js'
import { GossipPublishError } from '../../../src/network/errors.js'
import { GossipValidationError, type GossipVerdict } from '../../../src/network/gossip-validation.js'
import type { Network } from '../../../src/network/network.js'
import { defaultGossipOptions } from '../../../src/network/options.js'
import { TOPIC_KINDS, type TopicKind } from '../../../src/network/topics.js'
import { waitFor } from '../../helpers/wait.js'
import { bytes, startCluster, startNode, stopAll, text } from './helpers.js'

type Inbox = Array<{ kind: TopicKind; data: string; from: string }>

function subscribeAll(net: Network, inbox: Inbox): void {
  for (const kind of TOPIC_KINDS)
    net.subscribe(kind, (data, from) => inbox.push({ kind, data: text(data), from }))
}

async function waitForMesh(nets: Network[], kinds: readonly TopicKind[], peers: number): Promise<void> {
  await waitFor(() => nets.every((n) => kinds.every((k) => n.topicPeers(k).length >= peers)), {
    message: 'topic subscribers',
  })
}

describe('network/gossip', function () {
  this.timeout(30_000)
  const nets: Network[] = []
  afterEach(() => stopAll(nets))

  it('forms a mesh and delivers every topic to every other node', async () => {
    const t0 = Date.now()
    nets.push(...(await startCluster(4)))
    const inboxes: Inbox[] = nets.map(() => [])
    for (const [i, n] of nets.entries()) subscribeAll(n, inboxes[i] as Inbox)
    await waitForMesh(nets, TOPIC_KINDS, 3)
    const subscribedMs = Date.now() - t0
    await waitFor(
      () => nets.every((n) => TOPIC_KINDS.every((k) => n.meshPeers(k).length >= defaultGossipOptions.Dlo)),
      { message: 'mesh' },
    )
    const meshMs = Date.now() - t0

    const sentAt = Date.now()
    for (const [i, kind] of TOPIC_KINDS.entries()) {
      const sender = nets[i % nets.length] as Network
      const out = await sender.publish(kind, bytes(`${kind}-from-${i % nets.length}`))
      expect(out.recipients).to.equal(3)
    }
    // every node gets every message but its own
    const expectedAt = inboxes.map((_, j) =>
      TOPIC_KINDS.map((kind, i) => ({ kind, i: i % nets.length }))
        .filter(({ i }) => i !== j)
        .map(({ kind, i }) => `${kind}:${kind}-from-${i}`),
    )
    await waitFor(() => inboxes.every((inbox, j) => inbox.length === expectedAt[j]?.length), {
      message: 'delivery',
    })
    const latencyMs = Date.now() - sentAt
    for (const [j, inbox] of inboxes.entries()) {
      const expected = expectedAt[j] as string[]
      expect(inbox.map((m) => `${m.kind}:${m.data}`).sort()).to.deep.equal(expected.sort())
      // the propagation source is a direct peer (flood publish: the author itself)
      for (const m of inbox) expect(nets.map((n) => n.peerId)).to.include(m.from)
    }
    console.log(
      `      4 nodes: subscribers known ${subscribedMs} ms, meshes full ${meshMs} ms after the first start;` +
        ` ${TOPIC_KINDS.length} messages delivered to all in ${latencyMs} ms`,
    )
    for (const n of nets) expect(n.gossipStats().tx?.accept ?? 0).to.be.at.most(1)
  })

  it('counts the first copy of each message apart from the duplicates relayed by other peers', async () => {
    nets.push(...(await startCluster(4)))
    for (const n of nets) n.subscribe('prepare', () => {})
    await waitFor(() => nets.every((n) => n.meshPeers('prepare').length >= defaultGossipOptions.Dlo), {
      message: 'meshes grafted',
    })
    const payload = bytes('a-prepare-of-twenty-b')
    await (nets[0] as Network).publish('prepare', payload)
    // Flood publish reaches the 3 others directly; each relays to its mesh peers (2 or 3 of the 3)
    // but the source, so every receiver gets its first copy plus up to 2 duplicates.
    const receivers = nets.slice(1)
    await waitFor(() => receivers.every((n) => n.receiveStats().prepare?.messages === 1), {
      message: 'a first copy counted at every receiver',
    })
    await waitFor(() => receivers.some((n) => (n.receiveStats().prepare?.duplicates ?? 0) > 0), {
      message: 'a relayed duplicate counted',
    })
    for (const n of receivers) {
      const s = n.receiveStats().prepare
      expect(s?.bytes).to.equal(payload.length)
      expect(s?.duplicates).to.be.at.most(2)
      expect(s?.duplicateBytes).to.equal((s?.duplicates ?? 0) * payload.length)
    }
    // the publisher received only relays of its own message: never a first copy
    expect((nets[0] as Network).receiveStats().prepare?.messages ?? 0).to.equal(0)
  })

  it('a rejecting validator stops propagation, counts the reason, and hands nothing to handlers', async () => {
    // A line A – B – C: everything C gets must pass B's validator.
    const b = (
      await startNode({
        gossipValidators: {
          prepare: (data): GossipVerdict => {
            if (data[0] === 0x21 /* '!' */)
              throw new GossipValidationError('reject', 'bad_signature_or_sender')
            return text(data).startsWith('ign') ? 'ignore' : 'accept'
          },
        },
      })
    ).net
    nets.push(b)
    const a = (await startNode({ bootstrap: b.listenAddrs() })).net
    nets.push(a)
    const c = (await startNode({ bootstrap: b.listenAddrs() })).net
    nets.push(c)
    const atB: string[] = []
    const atC: string[] = []
    a.subscribe('prepare', () => {})
    b.subscribe('prepare', (d) => atB.push(text(d)))
    c.subscribe('prepare', (d) => atC.push(text(d)))
    // relays go to mesh peers only, so wait for B's mesh, not just for subscriptions
    await waitFor(() => b.meshPeers('prepare').length === 2, { message: 'line mesh' })
    expect(a.peers().map((p) => p.peerId)).to.deep.equal([b.peerId])

    await a.publish('prepare', bytes('!forged'))
    await a.publish('prepare', bytes('ignored-stale'))
    await a.publish('prepare', bytes('good'))
    await waitFor(() => atC.includes('good'), { message: 'the valid message at C' })
    expect(atB).to.deep.equal(['good'])
    expect(atC).to.deep.equal(['good'])
    const stats = b.gossipStats().prepare
    expect(stats).to.deep.include({ accept: 1, ignore: 1, reject: 1 })
    expect(stats?.byReason).to.deep.equal({ 'reject:bad_signature_or_sender': 1, 'ignore:unspecified': 1 })
    // gossipsub penalised A for the Rejected message (P4); C, which sent nothing bad, is not
    // (scores are cached for one heartbeat)
    await waitFor(() => b.peerScore(a.peerId) < 0, { message: 'a negative score for A at B' })
    expect(b.peerScore(c.peerId)).to.equal(0)
  })

  it('a genesis validator that sent rejected messages is never cut off; an outsider is penalised', async () => {
    const validatorKey = await generateNodeKey()
    const validatorId = peerIdFromPrivateKey(validatorKey.privateKey).toString()
    const b = (
      await startNode({
        validatorPeerIds: [validatorId],
        gossipValidators: {
          prepare: (data): GossipVerdict => {
            if (data[0] === 0x21 /* '!' */)
              throw new GossipValidationError('reject', 'bad_signature_or_sender')
            return 'accept'
          },
        },
      })
    ).net
    nets.push(b)
    const v = (await startNode({ key: validatorKey, bootstrap: b.listenAddrs() })).net
    nets.push(v)
    const outsider = (await startNode({ bootstrap: b.listenAddrs() })).net
    nets.push(outsider)
    const atV: string[] = []
    v.subscribe('prepare', (d) => atV.push(text(d)))
    outsider.subscribe('prepare', () => {})
    b.subscribe('prepare', () => {})
    await waitFor(() => b.topicPeers('prepare').length === 2, { message: 'both subscribed at B' })
    // A publisher that does not know B subscribes yet sends nothing (publish to zero peers is a no-op).
    await waitFor(() => v.topicPeers('prepare').length === 1 && outsider.topicPeers('prepare').length === 1, {
      message: 'B subscribed, seen from the validator and the outsider',
    })
    for (let i = 0; i < 20; i++) {
      await v.publish('prepare', bytes(`!forged-${i}`))
      await outsider.publish('prepare', bytes(`!outsider-${i}`))
    }
    await waitFor(() => b.peerScore(outsider.peerId) < 0, { message: 'the outsider penalised at B' })
    expect(b.gossipStats().prepare?.reject).to.equal(40)
    // The validator's rejects are counted too, but its score stays far above every threshold, so B
    // still publishes to it (consensus needs every honest validator; it cannot be voted out anyway).
    expect(b.peerScore(validatorId)).to.be.greaterThan(0)
    await b.publish('prepare', bytes('still heard'))
    await waitFor(() => atV.includes('still heard'), { message: 'B to the validator' })
  })

  it('delivers identical payloads once, whoever publishes them', async () => {
    nets.push(...(await startCluster(3)))
    const [a, b, c] = nets as [Network, Network, Network]
    const atC: string[] = []
    a.subscribe('commit', () => {})
    b.subscribe('commit', () => {})
    c.subscribe('commit', (d) => atC.push(text(d)))
    await waitForMesh(nets, ['commit'], 2)
    await a.publish('commit', bytes('same'))
    const again = await a.publish('commit', bytes('same'))
    expect(again.recipients).to.equal(0)
    await b.publish('commit', bytes('same'))
    await a.publish('commit', bytes('marker'))
    await waitFor(() => atC.includes('marker'), { message: 'marker' })
    expect(atC.filter((m) => m === 'same')).to.have.length(1)
  })

  it('retryWhenSeen: a re-send inside the seen window goes out once the window is over', async () => {
    // C did not take the first copy (ignored: say it was restarting); it asks again at once, and A
    // re-sends the same bytes — inside the window in which gossipsub drops them as already seen
    const seenTtlMs = 1500
    let deaf = true
    const atC: string[] = []
    nets.push(
      ...(await startCluster(3, (k) => ({
        gossip: { seenTtlMs },
        gossipValidators:
          k === 2
            ? {
                newview: () => {
                  if (deaf) throw new GossipValidationError('ignore', 'stale_view')
                  return 'accept'
                },
              }
            : {},
      }))),
    )
    const [a, b, c] = nets as [Network, Network, Network]
    const atB: string[] = []
    a.subscribe('newview', () => {})
    b.subscribe('newview', (d) => atB.push(text(d)))
    c.subscribe('newview', (d) => atC.push(text(d)))
    await waitForMesh(nets, ['newview'], 2)
    expect((await a.publish('newview', bytes('nv'))).recipients).to.equal(2)
    await waitFor(() => atB.includes('nv') && (c.gossipStats().newview?.ignore ?? 0) >= 1, {
      message: 'B took it, C ignored it',
    })
    deaf = false
    const sentAt = Date.now()
    expect((await a.publish('newview', bytes('nv'))).recipients).to.equal(0) // dropped: seen
    expect((await a.publish('newview', bytes('nv'), { retryWhenSeen: true })).recipients).to.equal(0)
    await waitFor(() => atC.includes('nv'), { timeoutMs: 4 * seenTtlMs, message: 'the re-send at C' })
    expect(Date.now() - sentAt).to.be.at.least(seenTtlMs)
    expect(atC).to.deep.equal(['nv'])
  })

  it('never throws when nobody listens, and a later identical publish still goes out', async () => {
    const { net: a } = await startNode()
    nets.push(a)
    expect(await a.publish('viewchange', bytes('early'))).to.deep.equal({ recipients: 0 })
    const { net: b } = await startNode({ bootstrap: a.listenAddrs() })
    nets.push(b)
    const atB: string[] = []
    b.subscribe('viewchange', (d) => atB.push(text(d)))
    await waitFor(() => a.topicPeers('viewchange').length === 1, { message: 'subscriber' })
    expect((await a.publish('viewchange', bytes('early'))).recipients).to.equal(1)
    await waitFor(() => atB.includes('early'), { message: 'retransmitted message' })
  })

  it('refuses to publish an oversized message and carries a 1 MiB block', async () => {
    nets.push(...(await startCluster(2)))
    const [a, b] = nets as [Network, Network]
    const got: number[] = []
    b.subscribe('preprepare', (d) => got.push(d.length))
    a.subscribe('preprepare', () => {})
    await waitForMesh(nets, ['preprepare'], 1)
    const big = new Uint8Array(1024 * 1024 + 4096).fill(7)
    expect((await a.publish('preprepare', big)).recipients).to.equal(1)
    await waitFor(() => got.length === 1, { message: '1 MiB message' })
    expect(got[0]).to.equal(big.length)
    let err: unknown
    try {
      await a.publish('preprepare', new Uint8Array(2 * 1024 * 1024 + 1))
    } catch (e) {
      err = e
    }
    expect(err).to.be.instanceOf(GossipPublishError)
  })
})
