import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'chai'
import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import { txHash } from '../../../src/codec/chain.js'
import { CodecError } from '../../../src/codec/errors.js'
import { toHex } from '../../../src/crypto/hash.js'
import { generateNodeKey } from '../../../src/crypto/node-key.js'
import { TxFetchError } from '../../../src/network/errors.js'
import { createLibp2pNode } from '../../../src/network/libp2p-node.js'
import type { Network } from '../../../src/network/network.js'
import { defaultGossipOptions } from '../../../src/network/options.js'
import { txFetchProtocol } from '../../../src/network/topics.js'
import {
  decodeTxFetchRequest,
  decodeTxFetchResponse,
  encodeTxFetchRequest,
  encodeTxFetchResponse,
  MAX_TX_FETCH_HASHES,
} from '../../../src/network/tx-fetch-codec.js'
import type { TxSource } from '../../../src/network/tx-source.js'
import { waitFor } from '../../helpers/wait.js'
import { CHAIN_ID, startNode, stopAll } from './helpers.js'

const tx = (i: number): Uint8Array => new TextEncoder().encode(`fetched tx ${i} `.repeat(8))
const txs = [tx(1), tx(2), tx(3)]

describe('network/tx-fetch codec', () => {
  const hashes = txs.map(txHash)

  it('round-trips requests and response frames', () => {
    expect(decodeTxFetchRequest(encodeTxFetchRequest(hashes))).to.deep.equal(hashes)
    const frames = [
      { type: 'txs' as const, txs },
      { type: 'txs' as const, txs: [] },
      { type: 'error' as const, code: 1, reason: 'nope' },
    ]
    for (const f of frames) expect(decodeTxFetchResponse(encodeTxFetchResponse(f))).to.deep.equal(f)
  })

  it('decodes strictly and bounds requests', () => {
    const good = encodeTxFetchRequest(hashes)
    const bad = [
      new Uint8Array(0),
      Uint8Array.from([0x61, ...good.subarray(1)]),
      good.subarray(0, good.length - 1),
      Uint8Array.from([...good, 0]),
      Uint8Array.from([0x60, 0, 0, 0, 0]), // no hash
      Uint8Array.from([0x60, 0xff, 0xff, 0xff, 0xff]), // count over the limit
    ]
    for (const b of bad) expect(() => decodeTxFetchRequest(b), `${b.subarray(0, 8)}`).to.throw(CodecError)
    expect(() => encodeTxFetchRequest([])).to.throw(CodecError)
    expect(() => encodeTxFetchRequest(new Array(MAX_TX_FETCH_HASHES + 1).fill(hashes[0]))).to.throw(
      CodecError,
    )
    expect(() => decodeTxFetchResponse(Uint8Array.from([0x77]))).to.throw(CodecError)
    expect(() => decodeTxFetchResponse(Uint8Array.from([0x61, 0, 0, 0, 1, 0, 0, 0, 9, 1]))).to.throw(
      CodecError,
    )
    expect(() => decodeTxFetchResponse(Uint8Array.from([0x61, 0, 0, 0, 0, 7]))).to.throw(CodecError)
  })
})

describe('network/tx-fetch over real libp2p', function () {
  this.timeout(30_000)
  const nets: Network[] = []
  afterEach(() => stopAll(nets))

  async function pair(source: TxSource): Promise<[Network, Network]> {
    const server = (await startNode({ txSource: source })).net
    nets.push(server)
    const client = (await startNode({ bootstrap: server.listenAddrs() })).net
    nets.push(client)
    await waitFor(() => client.connectedPeerCount() === 1, { message: 'connected' })
    return [server, client]
  }

  const store = new Map([tx(1), tx(2)].map((t) => [toHex(txHash(t)), t]))
  const honest: TxSource = { getTx: (h) => store.get(toHex(h)) }

  it('answers with the txs it has, none for the others', async () => {
    const [server, client] = await pair(honest)
    const got = await client.fetchTxs(server.peerId, [
      txHash(tx(1)),
      txHash(tx(9)),
      txHash(tx(2)),
      txHash(tx(1)),
    ])
    expect(got).to.deep.equal([tx(1), tx(2)])
    expect(await client.fetchTxs(server.peerId, [txHash(tx(9))])).to.deep.equal([])
  })

  it('refuses an answer with a tx that was not asked for', async () => {
    const [server, client] = await pair({ getTx: () => tx(3) }) // a liar: the same tx for every hash
    const err = await client.fetchTxs(server.peerId, [txHash(tx(1))]).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).to.be.instanceOf(TxFetchError)
    expect((err as TxFetchError).kind).to.equal('protocol')
  })

  it('answers malformed requests with an error frame or closes, and keeps serving', async () => {
    const [server, client] = await pair(honest)
    const raw = await createLibp2pNode({
      privateKey: (await generateNodeKey()).privateKey,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      announce: [],
      mdns: false,
      gossip: defaultGossipOptions,
      topics: [],
    })
    await raw.start()
    try {
      const target = multiaddr(server.listenAddrs()[0] ?? '')
      const exchange = async (payload: Uint8Array[], framed = true): Promise<Uint8Array[]> => {
        const stream = await raw.dialProtocol(target, txFetchProtocol(CHAIN_ID))
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
        [Uint8Array.from([0x60, 0, 0, 0, 0])], // no hash
        [Uint8Array.from([0x60, 0, 0, 0, 2, ...new Uint8Array(32)])], // fewer hashes than counted
        [Uint8Array.from([0x99])],
        [new Uint8Array(200_000)], // over the request size limit
      ]
      for (const req of badRequests) {
        const frames = await exchange(req)
        expect(frames.length).to.be.at.most(1)
        const f = frames[0]
        if (f !== undefined) expect(decodeTxFetchResponse(f)).to.include({ type: 'error', code: 1 })
      }
      expect(await exchange([new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])], false)).to.have.length.at.most(
        1,
      )
      expect(await client.fetchTxs(server.peerId, [txHash(tx(2))])).to.deep.equal([tx(2)])
    } finally {
      await raw.stop()
    }
  })
})
