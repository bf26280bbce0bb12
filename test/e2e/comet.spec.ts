import { Comet38Client, type CometClient, type comet38, connectComet } from '@cosmjs/tendermint-rpc'
import { expect } from 'chai'
import { WebSocket } from 'ws'
import { txHash } from '../../src/codec/chain.js'
import { signTx } from '../../src/codec/tx-sign.js'
import { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { sha256 } from '../../src/crypto/hash.js'
import { waitFor, waitForValue } from '../helpers/wait.js'
import { TestNet, type TestNode } from './harness.js'

/**
 * The CometBFT dialect under /comet (docs/RPC.md "CometBFT dialect"), driven by CometBFT's own
 * TypeScript client, @cosmjs/tendermint-rpc, against a 4-validator devnet of real processes: it
 * decodes every answer with its strict CometBFT 0.38 decoders, so a wrong encoding fails here.
 */

const CHAIN = 'e2e-chain'

class Signer {
  private nonce = 0
  readonly signer: Ed25519Signer
  constructor(name: string) {
    this.signer = new Ed25519Signer(sha256(new TextEncoder().encode(`comet-e2e-${name}`)))
  }
  tx(key: string, value: string): Uint8Array {
    return signTx(this.signer, { chainId: CHAIN, nonce: this.nonce++, op: { type: 'set', key, value } })
  }
}

function upperHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase()
}

interface JsonRpcAnswer {
  status: number
  // biome-ignore lint/suspicious/noExplicitAny: the test reads arbitrary CometBFT JSON shapes
  body: any
}

async function get(url: string): Promise<JsonRpcAnswer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  return { status: res.status, body: JSON.parse(await res.text()) }
}

async function post(url: string, body: string): Promise<JsonRpcAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(10_000),
  })
  return { status: res.status, body: JSON.parse(await res.text()) }
}

/** One request over a fresh WebSocket and its answer (the socket is closed after). */
async function wsCall(url: string, request: object): Promise<JsonRpcAnswer['body']> {
  const ws = new WebSocket(url)
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    const answer = new Promise<unknown>((resolve) =>
      ws.once('message', (data) => resolve(JSON.parse(String(data)))),
    )
    ws.send(JSON.stringify(request))
    return await answer
  } finally {
    ws.close()
    await new Promise<void>((resolve) =>
      ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve()),
    )
  }
}

/**
 * Disconnects a cosmjs WebSocket client for good. In cosmjs 0.39 its ReconnectingSocket answers
 * its own disconnect() (which marks the socket Disconnected) by scheduling a reconnect, so a
 * "disconnected" client reconnects forever and keeps the process alive; its internal reconnect is
 * switched off first. (The same is why the WebSocket client is made with Comet38Client.connect,
 * not connectComet, whose probing client over a ws:// URL is disconnected that way internally.)
 */
function disconnectWs(client: Comet38Client): void {
  const inner = (client as unknown as { client: { socket?: { socket?: { reconnect?: () => void } } } }).client
  const queueing = inner.socket?.socket
  if (queueing?.reconnect === undefined)
    throw new Error('cosmjs internals changed: no socket.socket.reconnect')
  queueing.reconnect = () => {}
  client.disconnect()
}

describe('e2e: the CometBFT dialect under /comet, driven by @cosmjs/tendermint-rpc', function () {
  this.timeout(180_000)
  let net: TestNet
  let node: TestNode
  let comet: string
  let picked: CometClient
  let http: Comet38Client
  let ws: Comet38Client | undefined
  const alice = new Signer('alice')
  const mallory = new Signer('mallory')
  let committedHash: Uint8Array
  let committedHeight: number

  before(async () => {
    net = await TestNet.create(4)
    for (const n of net.nodes) n.start()
    await waitFor(
      async () => (await Promise.all(net.nodes.map((n) => n.status()))).every((s) => s.n_peers >= 3),
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: 'all validators serving RPC with 3 peers',
      },
    )
    node = net.nodes[1] as TestNode
    comet = `${node.rpcUrl}/comet`
    picked = await connectComet(comet)
    if (!(picked instanceof Comet38Client)) throw new Error('connectComet did not pick the 0.38 client')
    http = picked
  })

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.error(net.logsTail(40))
  })

  after(async () => {
    picked?.disconnect()
    if (ws !== undefined) disconnectWs(ws)
    await net?.close()
  })

  it('connectComet picks the CometBFT 0.38 client from status, which decodes', async () => {
    expect(picked).to.be.instanceOf(Comet38Client)
    const status = await http.status()
    expect(status.nodeInfo.network).to.equal(CHAIN)
    expect(status.nodeInfo.version).to.equal('0.38.0')
    expect(status.nodeInfo.id).to.have.length(20)
    expect(status.validatorInfo.pubkey?.algorithm).to.equal('ed25519')
    expect(status.validatorInfo.votingPower).to.equal(1n)
    expect(status.syncInfo.catchingUp).to.equal(false)
    expect(status.syncInfo.latestBlockHash).to.have.length(32)
  })

  it('broadcastTxSync and broadcastTxCommit take txs signed by our codec', async () => {
    const synced = alice.tx('comet-sync', 'one')
    const sync = await http.broadcastTxSync({ tx: synced })
    expect(sync.code).to.equal(0)
    expect(upperHex(sync.hash)).to.equal(upperHex(txHash(synced)))

    const committed = alice.tx('comet-commit', 'two')
    const commit = await http.broadcastTxCommit({ tx: committed })
    expect(commit.checkTx.code).to.equal(0)
    expect(commit.txResult?.code).to.equal(0)
    expect(commit.height).to.be.greaterThan(0)
    expect(upperHex(commit.hash)).to.equal(upperHex(txHash(committed)))
    committedHash = commit.hash
    committedHeight = commit.height

    // a refusal is a CheckTx code with its reason, not a JSON-RPC error
    const forged = mallory.tx('comet-forged', 'x')
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1
    const refused = await http.broadcastTxSync({ tx: forged })
    expect(refused.code).to.equal(1)
    expect(refused.codespace).to.equal('pbft')
    expect(refused.log).to.match(/signature/)
    const garbage = await http.broadcastTxSync({ tx: new Uint8Array([1, 2, 3]) })
    expect(garbage.code).to.equal(11)
    expect(garbage.log).to.match(/decode/)
  })

  it('block, blockchain, tx, validators and abciQuery decode and agree', async () => {
    const block = await http.block(committedHeight)
    expect(block.block.header.height).to.equal(committedHeight)
    expect(block.block.header.chainId).to.equal(CHAIN)
    expect(block.block.txs.some((t) => upperHex(sha256(t)) === upperHex(committedHash))).to.equal(true)
    expect(block.blockId.parts.total).to.equal(1)
    expect(block.block.header.proposerAddress).to.have.length(20)
    // last_commit: the parent's certificate, 2f+1 = 3 of 4 signatures at least
    if (committedHeight > 1) {
      const commit = block.block.lastCommit
      expect(commit?.height).to.equal(committedHeight - 1)
      expect(commit?.signatures.filter((s) => s.blockIdFlag === 2).length).to.be.at.least(3)
      const parent = await http.block(committedHeight - 1)
      expect(upperHex(block.block.header.lastBlockId?.hash ?? new Uint8Array())).to.equal(
        upperHex(parent.blockId.hash),
      )
    }
    const latest = await http.block()
    expect(latest.block.header.height).to.be.at.least(committedHeight)

    const chain = await http.blockchain(1, committedHeight)
    expect(chain.lastHeight).to.be.at.least(committedHeight)
    expect(chain.blockMetas[0]?.header.height).to.equal(committedHeight)
    expect(upperHex(chain.blockMetas[0]?.blockId.hash ?? new Uint8Array())).to.equal(
      upperHex(block.blockId.hash),
    )

    const tx = await http.tx({ hash: committedHash, prove: true })
    expect(tx.height).to.equal(committedHeight)
    // the proof is against the header's data_hash (the PBFT tx_root, a CometBFT-style Merkle root)
    expect(upperHex(tx.proof?.rootHash ?? new Uint8Array())).to.equal(upperHex(block.block.header.dataHash))
    expect(upperHex(sha256(tx.proof?.data ?? new Uint8Array()))).to.equal(upperHex(committedHash))
    expect(tx.proof?.proof.total).to.equal(block.block.txs.length)
    expect(tx.result.code).to.equal(0)
    expect(upperHex(tx.hash)).to.equal(upperHex(committedHash))

    const search = await http.txSearch({ query: `tx.height=${committedHeight}` })
    expect(search.txs.map((t) => upperHex(t.hash))).to.include(upperHex(committedHash))

    const validators = await http.validators({})
    expect(validators.total).to.equal(4)
    expect(validators.validators.every((v) => v.votingPower === 1n && v.address.length === 20)).to.equal(true)

    const query = await http.abciQuery({ path: '/key', data: new TextEncoder().encode('comet-commit') })
    expect(query.code).to.equal(0)
    expect(new TextDecoder().decode(query.value)).to.equal('two')
    const absent = await http.abciQuery({ path: '/key', data: new TextEncoder().encode('no-such-key') })
    expect(absent.value).to.have.length(0)
    expect(absent.log).to.equal('does not exist')

    const info = await http.abciInfo()
    expect(info.lastBlockHeight).to.be.at.least(committedHeight)

    const results = await http.blockResults(committedHeight)
    expect(results.height).to.equal(committedHeight)
    expect(results.results.length).to.equal(block.block.txs.length)
    expect(results.results.every((r) => r.code === 0)).to.equal(true)

    // commit?height=h is block h's own certificate, signed over block h's id
    const commit = await http.commit(committedHeight)
    expect(commit.commit.height).to.equal(committedHeight)
    expect(upperHex(commit.commit.blockId.hash)).to.equal(upperHex(block.blockId.hash))
    expect(commit.header.height).to.equal(committedHeight)

    const byHash = await http.txSearch({ query: `tx.hash='${upperHex(committedHash)}'` })
    expect(byHash.totalCount).to.equal(1)
    expect(byHash.txs[0]?.height).to.equal(committedHeight)

    expect((await http.numUnconfirmedTxs()).total).to.be.a('number')
    expect(await http.health()).to.equal(null)

    const async = await http.broadcastTxAsync({ tx: alice.tx('comet-async', 'four') })
    expect(async.hash).to.have.length(32)
  })

  it('subscribeNewBlock and subscribeTx deliver events over /comet/websocket', async () => {
    const wsUrl = `${comet.replace(/^http/, 'ws')}`
    ws = await Comet38Client.connect(wsUrl)
    const blocks: comet38.NewBlockEvent[] = []
    const txs: comet38.TxEvent[] = []
    const allTxs: comet38.TxEvent[] = []
    const errors: unknown[] = []
    const tx = alice.tx('comet-watched', 'three')
    const hash = txHash(tx)
    const blockSub = ws
      .subscribeNewBlock()
      .subscribe({ next: (e) => blocks.push(e), error: (e) => errors.push(e) })
    const txSub = ws
      .subscribeTx(`tx.hash='${upperHex(hash)}'`)
      .subscribe({ next: (e) => txs.push(e), error: (e) => errors.push(e) })
    const allSub = ws.subscribeTx().subscribe({ next: (e) => allTxs.push(e), error: (e) => errors.push(e) })
    try {
      // the subscriptions are answered before the tx goes in: status over the same socket comes after them
      await ws.status()
      const sync = await http.broadcastTxSync({ tx })
      expect(sync.code).to.equal(0)
      const event = await waitForValue(() => txs[0], {
        timeoutMs: 30_000,
        message: 'the Tx event of the watched tx',
      })
      expect(upperHex(event.hash)).to.equal(upperHex(hash))
      expect(event.result.code).to.equal(0)
      await waitFor(() => blocks.some((b) => b.header.height >= event.height), {
        timeoutMs: 30_000,
        message: 'a NewBlock event at the height of the tx',
      })
      const carrying = blocks.find((b) => b.header.height === event.height)
      expect(carrying?.txs.some((t) => upperHex(sha256(t)) === upperHex(hash))).to.equal(true)
      await waitFor(() => allTxs.some((e) => upperHex(e.hash) === upperHex(hash)), {
        message: "the watched tx on tm.event='Tx' too",
      })
      expect(errors).to.deep.equal([])
    } finally {
      blockSub.unsubscribe()
      txSub.unsubscribe()
      allSub.unsubscribe()
    }
  })

  it('GET routes follow CometBFT URI conventions', async () => {
    const status = await get(`${comet}/status`)
    expect(status.status).to.equal(200)
    expect(status.body.id).to.equal(-1)
    expect(status.body.result.node_info.version).to.equal('0.38.0')
    expect(status.body.result.sync_info.latest_block_height).to.be.a('string')

    const block = await get(`${comet}/block?height=${committedHeight}`)
    expect(block.body.result.block.header.height).to.equal(String(committedHeight))
    expect(block.body.result.block.header.time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
    const quoted = await get(`${comet}/block?height="${committedHeight}"`)
    expect(quoted.body.result.block_id.hash).to.equal(block.body.result.block_id.hash)

    const tx = await get(`${comet}/tx?hash=0x${upperHex(committedHash)}`)
    expect(tx.body.result.hash).to.equal(upperHex(committedHash))
    expect(tx.body.result.tx).to.match(/^[A-Za-z0-9+/]+=*$/)

    const byHash = await get(`${comet}/tx_search?query="tx.hash='${upperHex(committedHash)}'"`)
    expect(byHash.body.result.total_count).to.equal('1')

    const query = await get(`${comet}/abci_query?path="/key"&data="comet-commit"`)
    expect(Buffer.from(query.body.result.response.value, 'base64').toString()).to.equal('two')
    const hexKey = Buffer.from('comet-commit').toString('hex')
    const byHex = await get(`${comet}/abci_query?data=0x${hexKey}`)
    expect(byHex.body.result.response.value).to.equal(query.body.result.response.value)

    expect((await get(`${comet}/health`)).body.result).to.deep.equal({})
    expect((await get(`${comet}/num_unconfirmed_txs`)).body.result.total).to.be.a('string')
    expect((await get(`${comet}/net_info`)).body.result.n_peers).to.equal('3')
    const results = await get(`${comet}/block_results?height=${committedHeight}`)
    expect(results.body.result.txs_results.length).to.be.at.least(1)

    // the native RPC beside it is unchanged
    const native = await post(`${node.rpcUrl}/`, '{"jsonrpc":"2.0","id":1,"method":"status"}')
    expect(native.body.result.sync_info.latest_block_height).to.be.a('number')
  })

  it('bad input gets a clear error in the CometBFT form, and nothing crashes', async () => {
    const badInt = await get(`${comet}/block?height=abc`)
    expect(badInt.body.error).to.include({ code: -32602, message: 'Invalid params' })
    expect(badInt.body.error.data).to.match(/height/)

    const badEncoding = await get(`${comet}/block?height=%zz`)
    expect(badEncoding.body.error.code).to.equal(-32602)

    const unquoted = await get(`${comet}/abci_query?path=/key&data=0x6b`)
    expect(unquoted.body.error.code).to.equal(-32602)
    expect(unquoted.body.error.data).to.match(/quoted/)

    const unknownRoute = await get(`${comet}/no_such_method`)
    expect(unknownRoute.status).to.equal(404)
    expect(unknownRoute.body.error).to.include({ code: -32601, message: 'Method not found' })

    const unknownMethod = await post(comet, '{"jsonrpc":"2.0","id":7,"method":"no_such_method"}')
    expect(unknownMethod.body).to.deep.include({ id: 7 })
    expect(unknownMethod.body.error.code).to.equal(-32601)

    const notJson = await post(comet, '{"jsonrpc":')
    expect(notJson.body.error).to.include({ code: -32700, message: 'Parse error. Invalid JSON' })

    const nonUtf8 = await get(`${comet}/abci_query?path="/key"&data=0xff`)
    expect(nonUtf8.body.error.code).to.equal(-32602)
    expect(nonUtf8.body.error.data).to.match(/UTF-8/)

    const aboveTip = await get(`${comet}/block?height=999999`)
    expect(aboveTip.body.error.code).to.equal(-32603)
    expect(aboveTip.body.error.data).to.match(/must be less than or equal to the current blockchain height/)

    const overHttp = await post(
      comet,
      `{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"query":"tm.event='NewBlock'"}}`,
    )
    expect(overHttp.body.error.code).to.equal(-32601)

    const wsUrl = `${comet.replace(/^http/, 'ws')}/websocket`
    const unknownEvent = await wsCall(wsUrl, {
      jsonrpc: '2.0',
      id: 1,
      method: 'subscribe',
      params: { query: "tm.event='Vote'" },
    })
    expect(unknownEvent.error.code).to.equal(-32602)
    expect(unknownEvent.error.data).to.match(/not served/)
    const malformed = await wsCall(wsUrl, {
      jsonrpc: '2.0',
      id: 2,
      method: 'subscribe',
      params: { query: "tm.event='NewBlock' AND" },
    })
    expect(malformed.error.code).to.equal(-32602)
    expect(malformed.error.data).to.match(/malformed query/)

    // the node still serves
    expect((await http.status()).syncInfo.catchingUp).to.equal(false)
  })
})
