import { expect } from 'chai'
import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import { CodecError } from '../../../src/codec/errors.js'
import { bytesEqual } from '../../../src/crypto/hash.js'
import { generateNodeKey } from '../../../src/crypto/node-key.js'
import { SyncRequestError, SyncUnavailableError } from '../../../src/network/errors.js'
import { createLibp2pNode, type PbftLibp2p } from '../../../src/network/libp2p-node.js'
import type { Network } from '../../../src/network/network.js'
import { defaultGossipOptions } from '../../../src/network/options.js'
import type { SyncedBlock } from '../../../src/network/sync-client.js'
import {
  decodeSyncRequest,
  decodeSyncResponse,
  encodeSyncRequest,
  encodeSyncResponse,
  SyncErrorCode,
} from '../../../src/network/sync-codec.js'
import { syncProtocol } from '../../../src/network/topics.js'
import { FakeBlockSource, makeChain, verifyFake } from './fake-chain.js'
import { CHAIN_ID, startCluster, stopAll } from './helpers.js'

async function collect(gen: AsyncGenerator<SyncedBlock>): Promise<SyncedBlock[]> {
  const out: SyncedBlock[] = []
  for await (const b of gen) out.push(b)
  return out
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('network/sync codec', () => {
  it('round-trips requests and responses', () => {
    expect(decodeSyncRequest(encodeSyncRequest({ type: 'status' }))).to.deep.equal({ type: 'status' })
    expect(decodeSyncRequest(encodeSyncRequest({ type: 'blocks', from: 3, to: 9 }))).to.deep.equal({
      type: 'blocks',
      from: 3,
      to: 9,
    })
    const frames = [
      { type: 'status' as const, height: 7, hash: new Uint8Array(32).fill(3) },
      { type: 'block' as const, block: new Uint8Array([1, 2]), certificate: new Uint8Array([3]) },
      { type: 'error' as const, code: SyncErrorCode.badRequest, reason: 'nope' },
    ]
    for (const f of frames) expect(decodeSyncResponse(encodeSyncResponse(f))).to.deep.equal(f)
  })

  it('decodes strictly', () => {
    const bad = [
      new Uint8Array([]),
      new Uint8Array([0x99]),
      new Uint8Array([0x40, 0]),
      encodeSyncRequest({ type: 'blocks', from: 3, to: 9 }).subarray(0, 10),
      // from > to
      Uint8Array.from([0x41, ...new Uint8Array(7), 5, ...new Uint8Array(7), 4]),
    ]
    for (const b of bad) expect(() => decodeSyncRequest(b), `${b}`).to.throw(CodecError)
    expect(() => decodeSyncResponse(new Uint8Array([0x50, 1]))).to.throw(CodecError)
  })
})

describe('network/sync', function () {
  this.timeout(30_000)
  const nets: Network[] = []
  const sources: FakeBlockSource[] = []
  afterEach(async () => {
    for (const s of sources) s.release()
    sources.length = 0
    await stopAll(nets)
  })

  const chain = makeChain(150)

  async function cluster(
    behaviours: Array<'honest' | 'garbage' | 'forged' | 'stall' | 'none'>,
    requestTimeoutMs = 2000,
  ) {
    nets.push(
      ...(await startCluster(behaviours.length, (k) => {
        const b = behaviours[k]
        if (b === undefined || b === 'none') return { sync: { requestTimeoutMs } }
        // misbehaving peers claim a higher tip, so the syncer (highest tip first) tries them first
        const source = new FakeBlockSource(b === 'honest' ? chain : makeChain(160, 7), b)
        sources.push(source)
        return { blockSource: source, sync: { requestTimeoutMs } }
      })),
    )
    return nets
  }

  it('answers status and serves ranges, clamped to 64 blocks and to the tip', async () => {
    const [client, server] = await cluster(['none', 'honest'])
    if (client === undefined || server === undefined) throw new Error('cluster')
    const status = await client.requestStatus(server.peerId)
    expect(status.height).to.equal(150)
    expect(bytesEqual(status.hash, sources[0]?.tipHash() ?? new Uint8Array())).to.equal(true)

    const blocks = await client.requestBlocks(server.peerId, 10, 12)
    expect(blocks.map((b) => b.height)).to.deep.equal([10, 11, 12])
    expect(blocks.every((b) => verifyFake(b.block, b.certificate))).to.equal(true)
    expect((await client.requestBlocks(server.peerId, 1, 1000)).length).to.equal(64)
    expect((await client.requestBlocks(server.peerId, 140, 200)).map((b) => b.height)).to.deep.equal(
      Array.from({ length: 11 }, (_, i) => 140 + i),
    )
    expect(await client.requestBlocks(server.peerId, 151, 160)).to.deep.equal([])
    // a node without a block source refuses politely
    const err = await rejection(server.requestStatus(client.peerId))
    expect(err).to.be.instanceOf(SyncRequestError).with.property('kind', 'refused')
  })

  it('fetchRange skips a garbage peer and a lying peer and yields verified blocks in order', async () => {
    const [client] = await cluster(['none', 'garbage', 'forged', 'honest'])
    if (client === undefined) throw new Error('cluster')
    const tips = await client.peerTips()
    expect(tips.map((t) => t.height)).to.deep.equal([160, 160, 150])
    // a poll whose cost does not grow with the peer count: one random peer of the three
    const sampled = await client.peerTips(undefined, { sample: 1 })
    expect(sampled).to.have.length(1)
    expect(tips.map((t) => t.peerId)).to.include(sampled[0]?.peerId)
    expect(await client.peerTips(undefined, { sample: 0 })).to.deep.equal([])
    expect(await client.peerTips(undefined, { sample: 10 })).to.have.length(3)
    const got = await collect(client.fetchRange(1, 150, verifyFake))
    expect(got.map((b) => b.height)).to.deep.equal(Array.from({ length: 150 }, (_, i) => i + 1))
    expect(got.every((b) => verifyFake(b.block, b.certificate))).to.equal(true)
    // both liars were asked (and dropped) before the honest peer
    expect(sources[0]?.served).to.be.above(0)
    expect(sources[1]?.served).to.be.above(0)
  })

  it('times out a stalling peer and falls back to an honest one', async () => {
    const [client, staller] = await cluster(['none', 'stall', 'honest'], 400)
    if (client === undefined || staller === undefined) throw new Error('cluster')
    const err = await rejection(client.requestBlocks(staller.peerId, 1, 5))
    expect(err).to.be.instanceOf(SyncRequestError).with.property('kind', 'timeout')
    const got = await collect(client.fetchRange(1, 70, verifyFake))
    expect(got.map((b) => b.height)).to.deep.equal(Array.from({ length: 70 }, (_, i) => i + 1))
    // a range beyond every tip ends at the best tip instead of failing
    const tail = await collect(client.fetchRange(145, 400, verifyFake))
    expect(tail.map((b) => b.height)).to.deep.equal([145, 146, 147, 148, 149, 150])
  })

  it('throws SyncUnavailableError when only liars are left, after yielding nothing unverified', async () => {
    const [client] = await cluster(['none', 'forged'])
    if (client === undefined) throw new Error('cluster')
    const got: number[] = []
    const err = await rejection(
      (async () => {
        for await (const b of client.fetchRange(1, 10, verifyFake)) got.push(b.height)
      })(),
    )
    expect(err).to.be.instanceOf(SyncUnavailableError).with.property('nextHeight', 1)
    expect(got).to.deep.equal([])
  })

  describe('a server facing malformed requests', () => {
    let raw: PbftLibp2p | undefined
    afterEach(async () => {
      await raw?.stop()
      raw = undefined
    })

    it('answers with an error frame or closes, and keeps serving', async () => {
      const [server] = await cluster(['honest'])
      if (server === undefined) throw new Error('cluster')
      raw = await createLibp2pNode({
        privateKey: (await generateNodeKey()).privateKey,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        announce: [],
        mdns: false,
        gossip: defaultGossipOptions,
        topics: [],
      })
      await raw.start()
      const { multiaddr } = await import('@multiformats/multiaddr')
      const target = (server.listenAddrs()[0] ?? '').toString()
      const exchange = async (payload: Uint8Array[], framed = true): Promise<Uint8Array[]> => {
        if (raw === undefined) throw new Error('raw')
        const stream = await raw.dialProtocol(multiaddr(target), syncProtocol(CHAIN_ID))
        const out: Uint8Array[] = []
        try {
          const src = pipe(
            payload,
            (s) => (framed ? lp.encode(s) : s),
            stream,
            (s) => lp.decode(s),
          )
          for await (const chunk of src) out.push(chunk.subarray())
        } catch {
          // the server may abort the stream: that is an accepted answer to garbage
        }
        return out
      }
      const badRequests = [
        [new Uint8Array([0x99])],
        [new Uint8Array([0x41, 1, 2])],
        [Uint8Array.from([0x41, ...new Uint8Array(7), 5, ...new Uint8Array(7), 4])],
        [new Uint8Array(1000)],
      ]
      for (const req of badRequests) {
        const frames = await exchange(req)
        expect(frames.length).to.be.at.most(1)
        const f = frames[0]
        if (f !== undefined)
          expect(decodeSyncResponse(f)).to.include({ type: 'error', code: SyncErrorCode.badRequest })
      }
      // not even a length prefix: a huge varint
      expect(await exchange([new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])], false)).to.have.length.at.most(
        1,
      )
      const ok = await exchange([encodeSyncRequest({ type: 'status' })])
      expect(decodeSyncResponse(ok[0] ?? new Uint8Array())).to.include({ type: 'status', height: 150 })
    })
  })
})
