import { expect } from 'chai'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { waitFor } from '../../helpers/wait.js'
import { makeTx } from './fake-backend.js'
import { get, post, startTestServer, type TestServer, WsClient } from './helpers.js'

/**
 * The CometBFT dialect (docs/RPC.md "CometBFT dialect") on the real server over the in-memory
 * backend: CheckTx codes of refused txs, broadcast_tx_commit outcomes, the transport's own errors
 * in CometBFT's form, and the events of /comet/websocket in CometBFT's shape, only the served
 * ones (ws-session-format.spec.ts checks their order when written asynchronously).
 * test/e2e/comet.spec.ts runs cosmjs against a real devnet.
 */

const signer = new Ed25519Signer(new Uint8Array(32).fill(9))

function b64(hex: string): string {
  return Buffer.from(hex.slice(2), 'hex').toString('base64')
}

function upper(hex: string): string {
  return hex.slice(2).toUpperCase()
}

describe('rpc comet dialect on the server', () => {
  let t: TestServer
  let comet: string
  let clients: WsClient[]
  let id = 1

  async function rpc(method: string, params: object = {}) {
    return (await post(comet, { jsonrpc: '2.0', id: id++, method, params })).json
  }

  async function connect(): Promise<WsClient> {
    const client = await WsClient.connect(`${comet.replace(/^http/, 'ws')}/websocket`)
    clients.push(client)
    return client
  }

  beforeEach(async () => {
    t = await startTestServer({ defaultCommitTimeoutMs: 300, maxBodyBytes: 16 * 1024 })
    comet = `${t.url}comet`
    clients = []
  })

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await t.stop()
  })

  it('answers a refused tx with a CheckTx code, codespace pbft and the reason', async () => {
    const ok = makeTx(signer, 0)
    const admitted = (await rpc('broadcast_tx_sync', { tx: b64(ok.hex) })).result
    expect(admitted).to.deep.include({ code: 0, codespace: '', hash: upper(ok.hash) })
    t.backend.commit()
    const cases: [string, number][] = [
      [makeTx(signer, 1, 'k', 'v', 'other-chain').hex, 4],
      [makeTx(signer, 0, 'again').hex, 2],
      ['0x010203', 11],
    ]
    const forged = makeTx(signer, 1)
    cases.push([`${forged.hex.slice(0, -2)}${forged.hex.endsWith('00') ? '01' : '00'}`, 1])
    for (const [hex, code] of cases) {
      const result = (await rpc('broadcast_tx_sync', { tx: b64(hex) })).result
      expect(result.code, hex.slice(0, 20)).to.equal(code)
      expect(result.codespace).to.equal('pbft')
      expect(result.log).to.be.a('string').and.not.equal('')
    }
    const again = (await rpc('broadcast_tx_sync', { tx: b64(ok.hex) })).result
    expect(again).to.deep.include({ code: 0, log: 'tx is already final' })
    expect((await rpc('broadcast_tx_async', { tx: b64('0x0102') })).result.code).to.equal(11)
  })

  it('broadcast_tx_commit: the height once final; a drop in tx_result; a timeout as CometBFT says it', async () => {
    const tx = makeTx(signer, 0)
    const pending = rpc('broadcast_tx_commit', { tx: b64(tx.hex) })
    await waitFor(() => t.backend.mempool.length === 1, { message: 'the tx in the mempool' })
    t.backend.commit()
    const result = (await pending).result
    expect(result).to.deep.include({ hash: upper(tx.hash), height: '1' })
    expect(result.check_tx.code).to.equal(0)
    expect(result.tx_result.code).to.equal(0)

    const dropped = makeTx(signer, 1)
    const waiting = rpc('broadcast_tx_commit', { tx: b64(dropped.hex) })
    await waitFor(() => t.backend.mempool.length === 1, { message: 'the tx in the mempool' })
    t.backend.drop(dropped.hash, 'expired')
    const drop = (await waiting).result
    expect(drop).to.deep.include({ height: '0' })
    expect(drop.check_tx.code).to.equal(0)
    expect(drop.tx_result).to.deep.include({ code: 9, codespace: 'pbft' })

    const late = await rpc('broadcast_tx_commit', { tx: b64(makeTx(signer, 2).hex) })
    expect(late.error).to.deep.equal({
      code: -32603,
      message: 'Internal error',
      data: 'timed out waiting for tx to be included in a block',
    })
  })

  it("writes the transport's errors in CometBFT's form too", async () => {
    const big = await post(
      comet,
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'health', pad: 'x'.repeat(20_000) }),
    )
    expect(big.status).to.equal(413)
    expect(big.json.error).to.include({ code: -32600, message: 'Invalid Request' })
    const batch = await post(comet, [
      { jsonrpc: '2.0', id: 1, method: 'health' },
      { jsonrpc: '2.0', id: 2, method: 'nope' },
      { jsonrpc: '1.0', id: 3, method: 'health' },
    ])
    const byId = new Map(batch.json.map((r: { id: number }) => [r.id, r]))
    expect(byId.get(1)).to.deep.include({ result: {} })
    expect(byId.get(2)).to.have.nested.property('error.message', 'Method not found')
    expect(byId.get(3)).to.have.nested.property('error.message', 'Invalid Request')
    const putRoot = await fetch(comet, { method: 'PUT', body: '{}' })
    expect(putRoot.status).to.equal(405)
    expect(JSON.parse(await putRoot.text()).error.message).to.equal('Invalid Request')
    // GET /comet lists the routes, as CometBFT's GET / does
    const index = await get(t.url, '/comet')
    expect(index.status).to.equal(200)
    expect(index.headers.get('content-type')).to.match(/text\/html/)
    expect(index.text)
      .to.include('/comet/block?height=_')
      .and.include('/comet/status')
      .and.not.include('subscribe')
    // positional params, as CometBFT takes them: one per declared param, in order
    const positional = await post(comet, { jsonrpc: '2.0', id: 9, method: 'block', params: ['0'] })
    expect(positional.json.error.data).to.equal('height must be greater than 0, but got 0')
    const tooMany = await post(comet, { jsonrpc: '2.0', id: 9, method: 'block', params: [1, 2] })
    expect(tooMany.json.error).to.include({
      code: -32602,
      data: 'invalid params: expected 1 params (height), got 2',
    })
    const postRoute = await post(`${comet}/health`, { jsonrpc: '2.0', id: 1, method: 'health' })
    expect(postRoute.status).to.equal(405)
    const typo = await get(t.url, '/comet/block?heigth=1')
    expect(typo.json.error).to.include({ code: -32602, message: 'Invalid params' })
    expect(typo.json.error.data).to.match(/unknown param/)
  })

  it('pushes NewBlock and Tx events in CometBFT shape, under the subscribe id', async () => {
    const ws = await connect()
    expect((await ws.request('subscribe', { query: "tm.event='NewBlock'" }, 'nb')).result).to.deep.equal({})
    expect((await ws.request('subscribe', { query: "tm.event='Tx'" }, 'all')).result).to.deep.equal({})
    const watched = makeTx(signer, 1, 'watched')
    const byHash = `tm.event='Tx' AND tx.hash='${upper(watched.hash)}'`
    expect((await ws.request('subscribe', { query: byHash }, 'one')).result).to.deep.equal({})
    const again = await ws.request('subscribe', { query: "tm.event='NewBlock'" }, 'dup')
    expect(again.error).to.include({ code: -32603, data: 'already subscribed' })

    const first = makeTx(signer, 0, 'first')
    for (const tx of [first, watched]) await rpc('broadcast_tx_sync', { tx: b64(tx.hex) })
    t.backend.commit()
    const events = (name: string) => ws.messages.filter((m) => m.id === name && m.result?.query !== undefined)
    await waitFor(
      () => events('nb').length === 1 && events('all').length === 2 && events('one').length === 1,
      {
        message: 'the events of block 1',
      },
    )
    const txEvents = events('all')
    expect(txEvents.map((e) => e.result.data.value.TxResult.index)).to.deep.equal([0, 1])
    expect(txEvents[0].result).to.deep.include({ query: "tm.event='Tx'" })
    expect(txEvents[0].result.data.type).to.equal('tendermint/event/Tx')
    expect(txEvents[0].result.data.value.TxResult).to.deep.include({ height: '1', tx: b64(first.hex) })
    expect(txEvents[0].result.events).to.deep.equal({
      'tm.event': ['Tx'],
      'tx.hash': [upper(first.hash)],
      'tx.height': ['1'],
    })
    expect(events('one')[0].result.query).to.equal(byHash)
    const block = events('nb')[0].result
    expect(block.data.type).to.equal('tendermint/event/NewBlock')
    expect(block.data.value.block.header.height).to.equal('1')
    expect(block.data.value.block.data.txs).to.deep.equal([b64(first.hex), b64(watched.hex)])
    expect(block.data.value.block.last_commit).to.deep.include({ height: '0', signatures: [] })
    expect(block.data.value.result_finalize_block.tx_results).to.have.length(2)
    expect(block.events).to.deep.equal({ 'tm.event': ['NewBlock'] })

    // block 2 carries block 1's certificate as its last commit; a dropped tx has no event
    const dropped = makeTx(signer, 2, 'dropped')
    await rpc('broadcast_tx_sync', { tx: b64(dropped.hex) })
    t.backend.drop(dropped.hash, 'expired')
    expect((await ws.request('unsubscribe', { query: byHash }, 'u')).result).to.deep.equal({})
    expect((await ws.request('unsubscribe', { query: byHash }, 'u2')).error.data).to.equal(
      'subscription not found',
    )
    t.backend.commit()
    await waitFor(() => events('nb').length === 2, { message: 'the NewBlock of block 2' })
    const second = events('nb')[1].result.data.value
    expect(second.block.last_commit.height).to.equal('1')
    expect(second.block.last_commit.block_id).to.deep.equal(block.data.value.block_id)
    expect(
      second.block.last_commit.signatures.map((s: { block_id_flag: number }) => s.block_id_flag),
    ).to.deep.equal([2])
    expect(second.block.header.last_block_id).to.deep.equal(block.data.value.block_id)
    expect(events('all')).to.have.length(2)
    expect(events('one')).to.have.length(1)
  })
})
