import { expect } from 'chai'
import { encodeBlock, encodeCertificate } from '../../../src/codec/chain.js'
import { silentNetworkLogger } from '../../../src/network/logger.js'
import type { SyncedBlock, SyncRequestOptions } from '../../../src/network/sync-client.js'
import { Syncer } from '../../../src/network/syncer.js'
import { makeChain, verifyFake } from './fake-chain.js'

/**
 * Syncer.fetchRange's fetch pipeline, in process: peers are functions answering block requests, so
 * the test sees exactly when each range is requested relative to what the consumer has taken.
 */
describe('network/syncer: fetch pipelined ahead of verification', () => {
  const chain = makeChain(40)
  const PER_REQUEST = 10

  interface Request {
    peerId: string
    from: number
    to: number
    /** blocks the consumer had taken when the request was made */
    consumed: number
    signal: AbortSignal | undefined
  }

  function syncer(
    peers: Record<string, number>,
    answer: (r: Request) => Promise<SyncedBlock[]>,
    consumed: () => number,
  ): { syncer: Syncer; requests: Request[] } {
    const requests: Request[] = []
    const s = new Syncer(
      {
        candidatePeers: () => Object.keys(peers),
        requestStatus: async (peerId) => ({ height: peers[peerId] as number, hash: new Uint8Array(32) }),
        requestBlocks: (peerId: string, from: number, to: number, opts?: SyncRequestOptions) => {
          const r = { peerId, from, to, consumed: consumed(), signal: opts?.signal }
          requests.push(r)
          return answer(r)
        },
        logger: silentNetworkLogger,
      },
      { maxBlocksPerRequest: PER_REQUEST, statusTimeoutMs: 1_000 },
    )
    return { syncer: s, requests }
  }

  function range(from: number, to: number): SyncedBlock[] {
    return chain.slice(from - 1, to).map(({ block, certificate }) => ({
      height: block.header.height,
      block,
      certificate,
      encoded: { block: encodeBlock(block), certificate: encodeCertificate(certificate) },
    }))
  }

  it('requests the next range before the consumer has taken the current one', async () => {
    let taken = 0
    const { syncer: s, requests } = syncer(
      { a: 40 },
      async (r) => range(r.from, r.to),
      () => taken,
    )
    const heights: number[] = []
    for await (const b of s.fetchRange(1, 35, verifyFake)) {
      heights.push(b.height)
      taken++
    }
    expect(heights).to.deep.equal(Array.from({ length: 35 }, (_, i) => i + 1))
    expect(requests.map((r) => [r.from, r.to])).to.deep.equal([
      [1, 10],
      [11, 20],
      [21, 30],
      [31, 35],
    ])
    // each following range was asked for before any block of the current one was handed out
    expect(requests.map((r) => r.consumed)).to.deep.equal([0, 0, 10, 20])
  })

  it('falls back to another peer when the range fetched ahead fails, in order and complete', async () => {
    let taken = 0
    const { syncer: s, requests } = syncer(
      { a: 40, b: 40 },
      async (r) => {
        if (r.peerId === 'a' && r.from > 10) throw new Error('peer a broke')
        return range(r.from, r.to)
      },
      () => taken,
    )
    const heights: number[] = []
    for await (const b of s.fetchRange(1, 25, verifyFake)) {
      heights.push(b.height)
      taken++
    }
    expect(heights).to.deep.equal(Array.from({ length: 25 }, (_, i) => i + 1))
    expect(requests.map((r) => `${r.peerId}:${r.from}-${r.to}`)).to.deep.equal([
      'a:1-10',
      'a:11-20',
      'b:11-20',
      'b:21-25',
    ])
  })

  it('drops a range fetched ahead from a peer that sent a block that does not verify', async () => {
    const forged = range(1, 10)
    const bad = forged[4] as SyncedBlock
    forged[4] = { ...bad, certificate: { ...bad.certificate, votes: [] } }
    const { syncer: s, requests } = syncer(
      { a: 40, b: 40 },
      async (r) => (r.peerId === 'a' && r.from === 1 ? forged : range(r.from, r.to)),
      () => 0,
    )
    const heights: number[] = []
    for await (const b of s.fetchRange(1, 20, verifyFake)) heights.push(b.height)
    expect(heights).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 1))
    const aheadOfLiar = requests.find((r) => r.peerId === 'a' && r.from === 11)
    expect(aheadOfLiar?.signal?.aborted).to.equal(true)
    expect(requests.filter((r) => r.peerId === 'b').map((r) => r.from)).to.deep.equal([5, 15])
  })

  it('aborts the range fetched ahead when the consumer stops early', async () => {
    const { syncer: s, requests } = syncer(
      { a: 40 },
      (r) =>
        r.from === 1
          ? Promise.resolve(range(1, 10))
          : new Promise((_, reject) =>
              r.signal?.addEventListener('abort', () => reject(new Error('aborted'))),
            ),
      () => 0,
    )
    for await (const b of s.fetchRange(1, 40, verifyFake)) if (b.height === 3) break
    expect(requests).to.have.length(2)
    expect(requests[1]?.signal?.aborted).to.equal(true)
  })
})
