import { expect } from 'chai'
import pino from 'pino'
import { merkleRoot } from '../../../src/chain/merkle.js'
import { blockHash, txHash } from '../../../src/codec/chain.js'
import {
  compactPrePrepare,
  decodeCompactPrePrepare,
  encodeCompactPrePrepare,
  isCompactPrePrepare,
} from '../../../src/codec/compact.js'
import { type PrePrepareMsg, prePrepareSignBytes } from '../../../src/codec/consensus.js'
import type { Block } from '../../../src/codec/types.js'
import type { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { toHex } from '../../../src/crypto/hash.js'
import type { Network } from '../../../src/network/network.js'
import type { TxSource } from '../../../src/network/tx-source.js'
import { createGossipValidators } from '../../../src/network/validation/index.js'
import { type CompactOutcome, CompactProposals } from '../../../src/node/compact-proposals.js'
import type { Logger } from '../../../src/node/logger.js'
import { waitFor } from '../../helpers/wait.js'
import { CHAIN, GENESIS_HASH, makeSigners, makeValidators } from '../consensus/harness.js'
import { startNode, stopAll } from '../network/helpers.js'

const signers = makeSigners(4)
const validatorSet = makeValidators(signers)
const s = (i: number): Ed25519Signer => signers[i] as Ed25519Signer
const tx = (i: number): Uint8Array => new TextEncoder().encode(`fetched tx ${i} `.repeat(8))
const silent = pino({ level: 'silent' }) as unknown as Logger

/** A PRE-PREPARE of the primary of view 0 for a block of `txs` at `height`. */
function proposal(height: number, txs: Uint8Array[]): PrePrepareMsg {
  const block: Block = {
    header: {
      chainId: CHAIN,
      height,
      view: 0,
      timestamp: 1000 * height,
      proposer: s(0).publicKey,
      parentHash: GENESIS_HASH,
      txRoot: merkleRoot(txs.map(txHash)),
      appHash: new Uint8Array(32),
    },
    txs,
  }
  const signature = s(0).sign(prePrepareSignBytes(CHAIN, 0, height, 0, blockHash(block.header)))
  return { kind: 'preprepare', view: 0, height, sender: 0, block, signature }
}

/** One node: a real libp2p network with the real preprepare validator, and its CompactProposals. */
interface Peer {
  net: Network
  proposals: CompactProposals
  mempool: Map<string, Uint8Array>
  delivered: PrePrepareMsg[]
  outcomes: CompactOutcome[]
}

async function startPeer(bootstrap: string[], txSource?: (p: CompactProposals) => TxSource): Promise<Peer> {
  const mempool = new Map<string, Uint8Array>()
  const delivered: PrePrepareMsg[] = []
  const outcomes: CompactOutcome[] = []
  let net: Network | undefined
  const proposals = new CompactProposals({
    mempoolTx: (h) => mempool.get(toHex(h)),
    peers: () => net?.peers().map((p) => p.peerId) ?? [],
    fetchTxs: (peer, hashes, opts) =>
      net === undefined ? Promise.resolve([]) : net.fetchTxs(peer, hashes, opts),
    deliver: (msg) => delivered.push(msg),
    onOutcome: (o) => outcomes.push(o),
    log: silent,
    options: { deadlineMs: 2_000, requestTimeoutMs: 700 },
  })
  const validators = createGossipValidators({
    chainId: CHAIN,
    validators: validatorSet,
    tipHeight: () => 0,
    currentView: () => 0,
    mempool: { has: () => false, add: () => ({ status: 'added' }) },
    signatures: { has: () => false, add: () => {} },
    onTxsAdmitted: () => {},
  })
  const started = await startNode({
    bootstrap,
    txSource: txSource?.(proposals) ?? proposals,
    gossipValidators: { preprepare: validators.preprepare },
  })
  net = started.net
  net.subscribe('preprepare', (data, from) => {
    if (isCompactPrePrepare(data)) void proposals.receive(decodeCompactPrePrepare(data), from)
  })
  return { net, proposals, mempool, delivered, outcomes }
}

describe('node/compact-proposals over real libp2p', function () {
  this.timeout(30_000)
  const nets: Network[] = []
  const peers: Peer[] = []
  afterEach(async () => {
    for (const p of peers) p.proposals.stop()
    peers.length = 0
    await stopAll(nets)
  })

  /** primary, replica, replica: fully connected and in each other's preprepare mesh */
  async function cluster(): Promise<[Peer, Peer, Peer]> {
    for (let k = 0; k < 3; k++) {
      const p = await startPeer(peers.flatMap((q) => q.net.listenAddrs()))
      peers.push(p)
      nets.push(p.net)
    }
    await waitFor(() => peers.every((p) => p.net.topicPeers('preprepare').length === 2), {
      timeoutMs: 10_000,
      message: 'every node sees the two others on the preprepare topic',
    })
    return peers as [Peer, Peer, Peer]
  }

  async function publish(from: Peer, msg: PrePrepareMsg, remember = true): Promise<void> {
    const c = compactPrePrepare(msg)
    if (remember) from.proposals.remember(msg.block, c.txHashes)
    await waitFor(
      async () => (await from.net.publish('preprepare', encodeCompactPrePrepare(c))).recipients > 0,
      {
        message: 'the compact PRE-PREPARE went out',
      },
    )
  }

  it('rebuilds the block from the mempool and txs fetched from the primary, checked by hash', async () => {
    const [primary, replica, other] = await cluster()
    const txs = [tx(1), tx(2), tx(3), tx(4)]
    replica.mempool.set(toHex(txHash(tx(2))), tx(2)) // the replica lacks three of four, the other all
    const msg = proposal(1, txs)
    await publish(primary, msg)
    await waitFor(() => replica.delivered.length === 1 && other.delivered.length === 1, {
      message: 'both replicas handed the full PRE-PREPARE on',
    })
    expect(replica.delivered[0]).to.deep.equal(msg)
    expect(other.delivered[0]).to.deep.equal(msg)
    expect(replica.outcomes).to.deep.equal(['fetched'])
    // the rebuilt block's txs now serve others' fetches, also once the mempool forgot them
    expect(replica.proposals.getTx(txHash(tx(3)))).to.deep.equal(tx(3))
  })

  it('hands nothing on when the txs are found nowhere, and keeps working afterwards', async () => {
    const [primary, replica, other] = await cluster()
    // a primary that proposes a tx nobody has (it does not even serve it itself)
    await publish(primary, proposal(1, [tx(5), tx(6)]), false)
    await waitFor(() => replica.outcomes.length === 1 && other.outcomes.length === 1, {
      message: 'both replicas gave up on the proposal',
    })
    expect(replica.outcomes).to.deep.equal(['failed'])
    expect(other.outcomes).to.deep.equal(['failed'])
    expect(replica.delivered).to.deep.equal([])
    const next = proposal(2, [tx(7)])
    await publish(primary, next)
    await waitFor(() => replica.delivered.length === 1, { message: 'the next proposal went through' })
    expect(replica.delivered[0]).to.deep.equal(next)
  })

  it('an empty block needs no fetch', async () => {
    const [primary, replica] = await cluster()
    await publish(primary, proposal(1, []))
    await waitFor(() => replica.delivered.length === 1, { message: 'delivered' })
    expect(replica.outcomes).to.deep.equal(['local'])
  })
})

describe('node/compact-proposals in process', () => {
  it('keeps the txs of the last recentBlocks proposals, a tx shared by two until both are gone', () => {
    const p = new CompactProposals({
      mempoolTx: () => undefined,
      peers: () => [],
      fetchTxs: () => Promise.resolve([]),
      deliver: () => {},
      log: silent,
      options: { recentBlocks: 2 },
    })
    p.remember(proposal(1, [tx(1), tx(2)]).block)
    p.remember(proposal(2, [tx(3)]).block)
    p.remember(proposal(3, [tx(2), tx(4)]).block)
    expect(p.getTx(txHash(tx(1)))).to.equal(undefined)
    expect(p.getTx(txHash(tx(2)))).to.deep.equal(tx(2))
    expect(p.getTx(txHash(tx(3)))).to.deep.equal(tx(3))
    p.remember(proposal(4, []).block)
    p.remember(proposal(5, []).block)
    for (const i of [2, 3, 4]) expect(p.getTx(txHash(tx(i)))).to.equal(undefined)
  })

  it('rebuilds at most maxPending proposals at once and gives up when stopped', async () => {
    const delivered: PrePrepareMsg[] = []
    const p = new CompactProposals({
      mempoolTx: () => undefined,
      peers: () => ['peer-b'],
      // a peer that never answers: only the abort signal ends the request
      fetchTxs: (_peer, _hashes, opts) =>
        new Promise((_, reject) =>
          opts.signal?.addEventListener('abort', () => reject(new Error('aborted'))),
        ),
      deliver: (m) => delivered.push(m),
      log: silent,
      options: { maxPending: 1, deadlineMs: 10_000 },
    })
    const first = p.receive(compactPrePrepare(proposal(1, [tx(1)])), 'peer-a')
    expect(await p.receive(compactPrePrepare(proposal(2, [tx(2)])), 'peer-a')).to.equal('busy')
    p.stop()
    expect(await first).to.equal('failed')
    expect(delivered).to.deep.equal([])
  })

  it('asks the primary first, then the relay, and takes a tx that tx gossip brought meanwhile', async () => {
    const mempool = new Map<string, Uint8Array>()
    const asked: string[] = []
    const delivered: PrePrepareMsg[] = []
    const p = new CompactProposals({
      mempoolTx: (h) => mempool.get(toHex(h)),
      peers: () => ['relay', 'other'],
      primaryPeer: () => 'primary',
      fetchTxs: (peer) => {
        asked.push(peer)
        // nobody answers with it, but it reaches the mempool after the relay was asked
        if (peer === 'relay') mempool.set(toHex(txHash(tx(1))), tx(1))
        return Promise.resolve([])
      },
      deliver: (m) => delivered.push(m),
      log: silent,
      options: { retryDelayMs: 10 },
    })
    const msg = proposal(1, [tx(1)])
    expect(await p.receive(compactPrePrepare(msg), 'relay')).to.equal('local')
    expect(asked).to.deep.equal(['primary', 'relay'])
    expect(delivered).to.deep.equal([msg])
  })

  it('stops looking once the height is final here', async () => {
    let final = false
    const p = new CompactProposals({
      mempoolTx: () => undefined,
      peers: () => ['peer'],
      isFinal: () => final,
      fetchTxs: () => {
        final = true // the block arrived by sync meanwhile
        return Promise.resolve([])
      },
      deliver: () => expect.fail('nothing to hand on'),
      log: silent,
      options: { retryDelayMs: 10, deadlineMs: 10_000 },
    })
    const started = Date.now()
    expect(await p.receive(compactPrePrepare(proposal(1, [tx(1)])), 'peer')).to.equal('failed')
    expect(Date.now() - started).to.be.below(5_000)
  })
})
