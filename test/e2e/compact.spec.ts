import { expect } from 'chai'
import { signTx } from '../../src/codec/tx-sign.js'
import { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../src/crypto/hash.js'
import type { BlockResult, ValidatorsResult } from '../../src/rpc/types.js'
import { type Exposition, parseExposition } from '../helpers/prometheus-text.js'
import { metricsUrlOf, patchConfig, rpc, startAll, TestNet, type TestNode, waitHeight } from './harness.js'

const CHAIN = 'e2e-chain'

async function scrape(node: TestNode): Promise<Exposition> {
  const res = await fetch(metricsUrlOf(node), { signal: AbortSignal.timeout(5_000) })
  return parseExposition(await res.text())
}

function failed(e: Exposition): number {
  return e.samples
    .filter((s) => s.name === 'pbft_compact_proposals_total' && s.labels.outcome === 'failed')
    .reduce((a, s) => a + s.value, 0)
}

/**
 * docs/PROTOCOL.md "Compact PRE-PREPARE": every node accepts both forms. Here the primary of view 0
 * sends full PRE-PREPAREs (p2p.compact_proposals false, as a node older than the compact form
 * does) while the others send compact ones: its blocks are final on every node.
 */
describe('e2e: a devnet whose primary sends full PRE-PREPAREs', function () {
  this.timeout(120_000)
  let net: TestNet | undefined

  before(async () => {
    net = await TestNet.create(4)
    for (const [i, n] of net.nodes.entries()) {
      patchConfig(n.home, (cfg) => {
        cfg.metrics.enabled = true
        if (i === 0) cfg.p2p = { ...(cfg.p2p as Record<string, unknown>), compact_proposals: false }
      })
    }
    await startAll(net.nodes, 3)
  })

  after(async () => {
    await net?.close()
  })

  it('finalizes blocks it proposed in the full form on every node', async () => {
    const nodes = (net as TestNet).nodes
    const url = (nodes[1] as TestNode).rpcUrl
    const signer = new Ed25519Signer(sha256(new TextEncoder().encode('compact-e2e-client')))
    for (let nonce = 0; nonce < 3; nonce++) {
      const tx = toHex(
        signTx(signer, { chainId: CHAIN, nonce, op: { type: 'set', key: `c${nonce}`, value: 'v' } }),
      )
      await rpc(url, 'broadcast_tx_commit', { tx, timeout_ms: 30_000 })
    }
    const full = await (nodes[0] as TestNode).status()
    const { validators } = await rpc<ValidatorsResult>(url, 'validators', {})
    const fullSender = validators.find((v) => v.peer_id === full.node_info.peer_id)
    expect(fullSender?.index, 'node0 is validator 0, the primary of view 0').to.equal(0)
    await waitHeight(nodes, 3)
    const tip = Math.min(...(await Promise.all(nodes.map((n) => n.height()))))
    let byFullSender = 0
    for (let height = 1; height <= tip; height++) {
      const hashes = new Set<string>()
      for (const n of nodes) {
        const block = await rpc<BlockResult>(n.rpcUrl, 'block', { height })
        hashes.add(block.hash)
        if (n === nodes[0] && block.header.proposer === fullSender?.public_key) byFullSender++
      }
      expect([...hashes], `height ${height}: one block on every node`).to.have.length(1)
    }
    // Each was proposed as a full PRE-PREPARE and the compact-sending nodes voted for it.
    expect(byFullSender).to.be.at.least(1)
    // The other direction: node0 rebuilds the compact proposals of the others, if any came.
    const e = await scrape(nodes[0] as TestNode)
    expect(failed(e)).to.equal(0)
  })
})
