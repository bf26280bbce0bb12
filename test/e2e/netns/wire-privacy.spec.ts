import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { expect } from 'chai'
import { signTx } from '../../../src/codec/tx-sign.js'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../../src/crypto/hash.js'
import { loadNodeKey } from '../../../src/crypto/node-key.js'
import { waitFor } from '../../helpers/wait.js'
import { rpc } from '../harness.js'
import { assertFinalEverywhere } from './agreement.js'
import { type Capture, HostNet, type HostNode, P2P_PORT, RPC_PORT } from './hosts.js'
import { findInCapture, parseTcpCapture } from './pcap.js'

const CHAIN = 'netns-privacy'
const utf8 = (s: string) => new TextEncoder().encode(s)

/**
 * docs/PROTOCOL.md: peers talk TCP + Noise. The cable of one host is recorded from before its node starts
 * (so the handshakes are on it) while txs carrying a canary value are finalized; neither the canary
 * nor the node's private key may appear in the recorded bytes. The same canary captured on the
 * host's loopback, where the plaintext JSON-RPC runs, proves the search finds what is there.
 */
describe('e2e/netns: wire privacy — p2p traffic on a host cable is encrypted', function () {
  this.timeout(90_000)
  let net: HostNet
  let captures: Capture[] = []

  before(async function () {
    this.timeout(60_000)
    net = await HostNet.create({ validators: 4, chainId: CHAIN })
  })

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.error(net.logsTail(40))
  })

  after(async () => {
    for (const c of captures) await c.stop().catch(() => undefined)
    await net?.close()
    expect(net?.leftovers() ?? [], 'namespaces left after teardown').to.deep.equal([])
  })

  it('neither a tx payload nor the node key shows on the cable; the same search finds them in plaintext RPC', async () => {
    const watched = net.validators[0] as HostNode
    const cable = await net.startCapture(watched, {
      iface: 'eth0',
      filter: `tcp port ${P2P_PORT}`,
      name: 'cable',
    })
    const loopback = await net.startCapture(watched, {
      iface: 'lo',
      filter: `tcp port ${RPC_PORT}`,
      name: 'rpc',
    })
    captures = [cable, loopback]
    await net.start()
    await waitFor(
      async () => {
        const st = await Promise.all(net.validators.map((n) => n.status()))
        return st.every((s) => s.n_peers >= 3)
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'every validator connected to the 3 others' },
    )

    const canary = `PLAINTEXT-CANARY-${randomBytes(8).toString('hex')}`
    const signer = new Ed25519Signer(sha256(utf8(`privacy-${canary}`)))
    const hashes: string[] = []
    // Through every node: the watched host both sends the canary out and receives it in blocks.
    for (const [i, node] of net.validators.entries()) {
      const tx = toHex(
        signTx(signer, {
          chainId: CHAIN,
          nonce: i,
          op: { type: 'set', key: `k${i}`, value: `${canary}-${i}` },
        }),
      )
      const r = await rpc<{ hash: string }>(node.rpcUrl, 'broadcast_tx_commit', { tx, timeout_ms: 30_000 })
      hashes.push(r.hash)
    }
    await waitFor(
      async () => {
        await assertFinalEverywhere(net.validators, hashes)
        return true
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'canary txs final on every node' },
    )
    // The value read back over RPC travels in clear on the watched host's loopback.
    const q = await rpc<{ value: string }>(watched.rpcUrl, 'query', { key: 'k0' })
    expect(q.value).to.equal(`${canary}-0`)

    const cableBytes = await cable.stop()
    const loopbackBytes = await loopback.stop()
    captures = []
    const onCable = parseTcpCapture(cableBytes)
    const onLoopback = parseTcpCapture(loopbackBytes)
    console.log(
      `      cable: ${onCable.packets} packets, ${onCable.payloadPackets} with payload (${onCable.payloadBytes} B) in ${onCable.streams.size} streams; loopback RPC: ${onLoopback.payloadBytes} B`,
    )

    const key = await loadNodeKey(watched.host.nodeKeyFile)
    const keyFile = JSON.parse(readFileSync(watched.host.nodeKeyFile, 'utf8')) as { private_key: string }
    const secrets: Record<string, Uint8Array> = {
      'canary (utf-8)': utf8(canary),
      'canary (hex)': utf8(Buffer.from(canary).toString('hex')),
      'node key seed (raw)': key.signer.seed,
      'node key seed (hex)': utf8(toHex(key.signer.seed).replace(/^0x/, '')),
      'node key seed (base64)': utf8(Buffer.from(key.signer.seed).toString('base64')),
      'node_key.json private_key (base64)': utf8(keyFile.private_key),
      'node_key.json private_key (raw protobuf)': Buffer.from(keyFile.private_key, 'base64'),
    }

    // Something real was recorded: libp2p connections negotiated in clear up to Noise.
    expect(onCable.payloadPackets, 'TCP segments with payload on the cable').to.be.greaterThan(20)
    expect(onCable.payloadBytes).to.be.greaterThan(10_000)
    expect(
      findInCapture(cableBytes, onCable, { noise: utf8('/noise') }),
      'multistream /noise in clear',
    ).to.deep.equal(['noise'])
    // Everything after the Noise handshake is ciphertext: not even the muxer or topic names show.
    expect(
      findInCapture(cableBytes, onCable, {
        ...secrets,
        yamux: utf8('/yamux/'),
        'gossipsub protocol': utf8('/meshsub/'),
        'tx topic': utf8(`/pbft/${CHAIN}/tx/1`),
      }),
      'plaintext found on the cable',
    ).to.deep.equal([])
    // The control: the same search over plaintext RPC finds the canary, so it can find things.
    expect(findInCapture(loopbackBytes, onLoopback, secrets), 'plaintext found on loopback RPC').to.include(
      'canary (utf-8)',
    )
  })
})
