import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import { encodeConsensusMessage, type PrepareMsg, prepareSignBytes } from '../../src/codec/consensus.js'
import { encodeTxBatch, signTx } from '../../src/codec/tx-sign.js'
import { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { fromHex, sha256, toHex } from '../../src/crypto/hash.js'
import { generateNodeKey } from '../../src/crypto/node-key.js'
import { createNetwork, type Network } from '../../src/network/network.js'
import { acceptAllGossip } from '../fixtures/gossip.js'
import { waitFor } from '../helpers/wait.js'
import { rpc, runCli, TestNet, type TestNode, waitHeight } from './harness.js'

const CHAIN = 'e2e-chain'

interface Receipt {
  hash: string
  height: number
  index: number
  block_hash: string
}

class Client {
  nonce = 0
  readonly signer: Ed25519Signer
  constructor(seed: number) {
    this.signer = new Ed25519Signer(sha256(new TextEncoder().encode(`e2e-client-${seed}`)))
  }
  tx(key: string, value: string): string {
    return toHex(
      signTx(this.signer, { chainId: CHAIN, nonce: this.nonce++, op: { type: 'set', key, value } }),
    )
  }
}

async function commitTx(node: TestNode, tx: string, timeoutMs = 30_000): Promise<Receipt> {
  return rpc<Receipt>(node.rpcUrl, 'broadcast_tx_commit', { tx, timeout_ms: timeoutMs })
}

async function blockHashAt(node: TestNode, height: number): Promise<string> {
  return (await rpc<{ hash: string }>(node.rpcUrl, 'block', { height })).hash
}

/** Every running node reports the same hash at every height up to `height`. */
async function expectSameChain(nodes: TestNode[], height: number): Promise<void> {
  for (let h = 1; h <= height; h++) {
    const hashes = await Promise.all(nodes.map((n) => blockHashAt(n, h)))
    expect(new Set(hashes).size, `block hashes at height ${h}`).to.equal(1)
  }
}

describe('e2e: a 4-validator devnet of real processes', function () {
  this.timeout(180_000)
  let net: TestNet
  let validators: TestNode[]
  const client = new Client(1)

  before(async () => {
    net = await TestNet.create(4, 1)
    validators = net.nodes.slice(0, 4)
    // metrics on node0, to observe gossip rejections
    const cfgPath = join(validators[0]?.home as string, 'config.json')
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as { metrics: { enabled: boolean } }
    cfg.metrics.enabled = true
    writeFileSync(cfgPath, JSON.stringify(cfg, null, 2))
    // a runtime option on node1 (docs/HOME.md "runtime"), checked in its start-up log below
    const cfg1Path = join(validators[1]?.home as string, 'config.json')
    const cfg1 = JSON.parse(readFileSync(cfg1Path, 'utf8')) as { runtime: { heap_growth_percent: number } }
    cfg1.runtime.heap_growth_percent = 50
    writeFileSync(cfg1Path, JSON.stringify(cfg1, null, 2))
    for (const n of validators) n.start()
    await waitFor(
      async () => {
        const st = await Promise.all(validators.map((n) => n.status()))
        return st.every((s) => s.n_peers >= 3)
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'all validators serving RPC with 3 peers' },
    )
  })

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.error(net.logsTail(40))
  })

  after(async () => {
    await net?.close()
  })

  it('finalizes txs sent to every node; all nodes agree on every block, tx and query', async () => {
    const receipts: Receipt[] = []
    for (const [i, node] of validators.entries()) {
      receipts.push(await commitTx(node, client.tx(`key${i}`, `value${i}`)))
    }
    const tip = Math.max(...receipts.map((r) => r.height))
    await waitHeight(validators, tip)
    await expectSameChain(validators, tip)
    for (const node of validators) {
      for (const [i, r] of receipts.entries()) {
        const tx = await rpc<{ status: string; height: number; block_hash: string }>(node.rpcUrl, 'tx', {
          hash: r.hash,
        })
        expect(tx.status).to.equal('final')
        expect(tx.height).to.equal(r.height)
        expect(tx.block_hash).to.equal(r.block_hash)
        const q = await rpc<{ value: string | null }>(node.rpcUrl, 'query', { key: `key${i}` })
        expect(q.value).to.equal(`value${i}`)
      }
      const acct = await rpc<{ nonce: number }>(node.rpcUrl, 'account', {
        address: toHex(client.signer.publicKey),
      })
      expect(acct.nonce).to.equal(client.nonce)
    }
    const st = await Promise.all(validators.map((n) => n.status()))
    expect(new Set(st.map((s) => s.sync_info.latest_app_hash)).size).to.equal(1)
  })

  it('applies runtime.heap_growth_percent from config.json at start, and only where it is set', () => {
    const started = (node: TestNode) =>
      readFileSync(node.logPath, 'utf8')
        .split('\n')
        .filter((l) => l.includes('V8 heap growth set'))
        .map((l) => JSON.parse(l) as { heap_growth_percent: number; v8_flags: string[] })
        .map(({ heap_growth_percent, v8_flags }) => ({ heap_growth_percent, v8_flags }))
    expect(started(validators[1] as TestNode)).to.deep.equal([
      { heap_growth_percent: 50, v8_flags: ['--heap-growing-percent=50'] },
    ])
    expect(started(validators[0] as TestNode)).to.deep.equal([])
  })

  it('`pbft tx send --wait` prints a receipt whose certificate verifies against genesis', async () => {
    const keyFile = join(net.dir, 'cli-key.json')
    expect((await runCli(['keys', 'generate', '--out', keyFile])).code).to.equal(0)
    const node = validators[1] as TestNode
    const genesis = join(node.home, 'genesis.json')
    const res = await runCli([
      'tx',
      'send',
      '--rpc',
      node.rpcUrl,
      '--key',
      keyFile,
      '--wait',
      '--genesis',
      genesis,
      'set',
      'cli',
      'yes',
    ])
    expect(res.code, res.stderr).to.equal(0)
    const out = JSON.parse(res.stdout) as Receipt & { certificate: { verified: boolean; signatures: number } }
    expect(out.certificate.verified).to.equal(true)
    expect(out.certificate.signatures).to.be.at.least(3)
    const get = await runCli(['get', '--rpc', node.rpcUrl, 'cli'])
    expect(JSON.parse(get.stdout).value).to.equal('yes')
  })

  it('rejects bad RPC input with the right JSON-RPC error and keeps serving', async () => {
    const url = (validators[2] as TestNode).rpcUrl
    const post = async (request: string) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: request,
      })
      const body = (res.status === 204 ? null : await res.json()) as { error: { code: number } }
      return { status: res.status, body }
    }
    expect((await post('{not json')).body.error.code).to.equal(-32700)
    expect((await post('{"jsonrpc":"2.0","id":1}')).body.error.code).to.equal(-32600)
    expect((await post('{"jsonrpc":"2.0","id":1,"method":"nope"}')).body.error.code).to.equal(-32601)
    expect(
      (await post('{"jsonrpc":"2.0","id":1,"method":"block","params":{"height":"x"}}')).body.error.code,
    ).to.equal(-32602)
    expect(
      (await post('{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{"tx":"0x0102"}}')).body
        .error.code,
    ).to.equal(-32602)
    const big = await post(
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'status', params: { pad: 'x'.repeat(2 << 20) } }),
    )
    expect(big.status).to.equal(413)
    expect(big.body.error.code).to.equal(-32600)
    const batch = JSON.stringify(
      Array.from({ length: 1000 }, (_, id) => ({ jsonrpc: '2.0', id, method: 'status' })),
    )
    expect((await post(batch)).body.error.code).to.equal(-32600)
    // a forged tx signature, and a replay of an old nonce from another signer
    const forged = fromHex(client.tx('forged', 'x'))
    client.nonce--
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 0xff
    await rpc(url, 'broadcast_tx_sync', { tx: toHex(forged) }).then(
      () => expect.fail('forged tx accepted'),
      (err: { code: number }) => expect(err.code).to.equal(-32001),
    )
    const replay = toHex(
      signTx(client.signer, { chainId: CHAIN, nonce: 0, op: { type: 'set', key: 'r', value: 'r' } }),
    )
    await rpc(url, 'broadcast_tx_sync', { tx: replay }).then(
      () => expect.fail('replayed nonce accepted'),
      (err: { code: number }) => expect(err.code).to.equal(-32002),
    )
    const st = await rpc<{ sync_info: { latest_block_height: number } }>(url, 'status')
    expect(st.sync_info.latest_block_height).to.be.greaterThan(0)
    const health = await fetch(url.replace(/\/?$/, '/health'))
    expect(health.status).to.equal(200)
  })

  it('rejects forged consensus gossip from an outsider peer, and nothing changes', async () => {
    const node0 = validators[0] as TestNode
    const peerId = (await node0.status()).node_info.peer_id
    const addrs = (await node0.status()).node_info.listen_addrs
    const before = await node0.status()
    const key = await generateNodeKey()
    const outsider: Network = await createNetwork({
      privateKey: key.privateKey,
      chainId: CHAIN,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      gossipValidators: acceptAllGossip(),
      bootstrap: addrs.map((a) => (a.includes('/p2p/') ? a : `${a}/p2p/${peerId}`)),
    })
    await outsider.start()
    try {
      await waitFor(() => outsider.topicPeers('prepare').length > 0, {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: 'outsider in the prepare mesh',
      })
      // signed by a key that is not a validator's, claiming to be validator 1
      const forged: Omit<PrepareMsg, 'signature'> = {
        kind: 'prepare',
        view: before.consensus.view,
        height: before.sync_info.latest_block_height + 1,
        blockHash: sha256(new Uint8Array([1, 2, 3])),
        sender: 1,
      }
      const msg: PrepareMsg = {
        ...forged,
        signature: key.signer.sign(
          prepareSignBytes(CHAIN, forged.view, forged.height, forged.sender, forged.blockHash),
        ),
      }
      await outsider.publish('prepare', encodeConsensusMessage(msg))
      await outsider.publish('commit', new Uint8Array([0xde, 0xad, 0xbe, 0xef]))
      // a tx batch with one forged tx (valid nonce 0 of a fresh sender): the whole batch is Rejected
      const fresh = new Client(99)
      const forgedTx = fromHex(fresh.tx('forged-in-batch', 'x'))
      forgedTx[forgedTx.length - 1] = (forgedTx[forgedTx.length - 1] as number) ^ 0x01
      await outsider.publish('tx', encodeTxBatch([fromHex(new Client(98).tx('ok', 'y')), forgedTx]))
      const metricsUrl = await metricsUrlOf(node0)
      await waitFor(
        async () => {
          const text = await (await fetch(metricsUrl)).text()
          const rejects = text
            .split('\n')
            .filter((l) => l.startsWith('pbft_gossip_messages_total') && l.includes('result="reject"'))
          const forgedTxRejected = rejects.some(
            (l) => l.includes('topic="tx"') && l.includes('invalid_signature'),
          )
          return rejects.length >= 3 && forgedTxRejected
        },
        { timeoutMs: 30_000, intervalMs: 100, message: 'gossip rejections counted on node0' },
      )
      const after = await node0.status()
      expect(after.sync_info.latest_block_hash).to.equal(before.sync_info.latest_block_hash)
      expect(after.consensus.view).to.equal(before.consensus.view)
    } finally {
      await outsider.stop()
    }
  })

  it('a late observer bootstrapped from one multiaddr syncs from genesis and follows the tip', async () => {
    const observer = net.node('observer0')
    const node2 = validators[2] as TestNode
    const idOut = await runCli(['show-node-id', '--home', node2.home])
    const addr = idOut.stdout
      .trim()
      .split('\n')
      .find((l) => l.startsWith('/ip4/127.0.0.1/'))
    expect(addr, idOut.stdout).to.be.a('string')
    observer.extraArgs.push('--bootstrap', addr as string)
    observer.start()
    const tip = await (validators[0] as TestNode).height()
    await waitHeight([observer], tip, 60_000)
    const r = await commitTx(validators[3] as TestNode, client.tx('after-observer', 'ok'))
    await waitHeight([observer], r.height)
    await expectSameChain([observer, validators[0] as TestNode], r.height)
    const st = await observer.status()
    expect(st.consensus.is_validator).to.equal(false)
    const q = await rpc<{ value: string }>(observer.rpcUrl, 'query', { key: 'after-observer' })
    expect(q.value).to.equal('ok')
  })

  it('the primary SIGKILLed: a view change keeps the chain going; restarted, it catches up and votes again', async () => {
    const st = await (validators[0] as TestNode).status()
    const primaryNode = await findByPeerId(validators, st.consensus.primary)
    await primaryNode.stop('SIGKILL')
    const others = validators.filter((n) => n !== primaryNode)
    const r = await commitTx(others[0] as TestNode, client.tx('after-primary-kill', '1'), 60_000)
    await waitHeight(others, r.height)
    const newView = (await (others[0] as TestNode).status()).consensus.view
    expect(newView).to.be.greaterThan(st.consensus.view)
    primaryNode.start()
    await waitHeight([primaryNode], r.height, 60_000)
    // It votes again: with another validator down, blocks need the restarted one's votes.
    const victim = others[1] as TestNode
    await victim.stop('SIGKILL')
    const live = validators.filter((n) => n !== victim)
    const r2 = await commitTx(others[0] as TestNode, client.tx('needs-restarted-vote', '2'), 90_000)
    await waitHeight(live, r2.height, 60_000)
    await expectSameChain(live, r2.height)
    victim.start()
    await waitHeight([victim], r2.height, 60_000)
  })

  it('a validator whose data dir was wiped rejoins from sync', async () => {
    const node = validators[3] as TestNode
    await node.stop('SIGTERM')
    rmSync(join(node.home, 'data'), { recursive: true, force: true })
    const r = await commitTx(validators[0] as TestNode, client.tx('while-wiped', '3'), 60_000)
    node.start()
    await waitHeight([node], r.height, 60_000)
    await expectSameChain([node, validators[0] as TestNode], r.height)
    const q = await rpc<{ value: string }>(node.rpcUrl, 'query', { key: 'while-wiped' })
    expect(q.value).to.equal('3')
  })
})

async function findByPeerId(nodes: TestNode[], peerId: string): Promise<TestNode> {
  for (const n of nodes) {
    if (n.running && (await n.status()).node_info.peer_id === peerId) return n
  }
  throw new Error(`no running node with peer id ${peerId}`)
}

async function metricsUrlOf(node: TestNode): Promise<string> {
  const cfg = JSON.parse(readFileSync(join(node.home, 'config.json'), 'utf8')) as {
    metrics: { laddr: string }
  }
  return `http://${cfg.metrics.laddr}/metrics`
}
