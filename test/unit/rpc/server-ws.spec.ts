import { expect } from 'chai'
import { WebSocket } from 'ws'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { RpcErrorCode } from '../../../src/rpc/errors.js'
import { waitFor } from '../../helpers/wait.js'
import { makeTx } from './fake-backend.js'
import { call, startTestServer, type TestServer, WsClient } from './helpers.js'

const signer = new Ed25519Signer(new Uint8Array(32).fill(3))

describe('rpc/server over WebSocket', () => {
  let t: TestServer
  let clients: WsClient[]

  async function connect(): Promise<WsClient> {
    const client = await WsClient.connect(t.wsUrl)
    clients.push(client)
    return client
  }

  beforeEach(async () => {
    t = await startTestServer({ maxSubscriptionsPerConnection: 3, maxBodyBytes: 64 * 1024 })
    clients = []
  })

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await t.stop()
  })

  it('serves the same methods as HTTP, single and batch', async () => {
    const ws = await connect()
    const status = await ws.request('status')
    expect(status.result.node_info.chain_id).to.be.a('string')
    ws.sendRaw(
      JSON.stringify([
        { jsonrpc: '2.0', id: 'x', method: 'num_unconfirmed_txs' },
        { jsonrpc: '2.0', id: 'y', method: 'nope' },
      ]),
    )
    await waitFor(() => ws.messages.some(Array.isArray), { timeoutMs: 5000, message: 'the batch response' })
    const batch: { id: string }[] = ws.messages.find(Array.isArray) ?? []
    expect(batch.map((r) => r.id)).to.have.members(['x', 'y'])
  })

  it('answers bad JSON with -32700 and keeps the connection', async () => {
    const ws = await connect()
    ws.sendRaw('{not json')
    await waitFor(() => ws.messages.length === 1, { timeoutMs: 5000, message: 'the error' })
    expect(ws.messages[0].error.code).to.equal(-32700)
    expect((await ws.request('status')).result).to.have.property('node_info')
  })

  it('subscribe NewBlock pushes each new block; unsubscribe stops it', async () => {
    const ws = await connect()
    const sub = await ws.request('subscribe', { event: 'NewBlock' })
    const sentinel = await ws.request('subscribe', { event: 'NewBlock' })
    const id = sub.result.subscription
    expect(id).to.be.a('string')
    const block = t.backend.commit()
    await waitFor(() => ws.notifications(id).length === 1, {
      timeoutMs: 5000,
      message: 'the NewBlock notification',
    })
    // a JSON-RPC response carrying the subscribe's own id, CometBFT's form (docs/RPC.md)
    expect(ws.notifications(id)[0]).to.deep.equal({
      jsonrpc: '2.0',
      id: sub.id,
      result: {
        query: "tm.event='NewBlock'",
        subscription: id,
        data: { type: 'NewBlock', value: block },
      },
    })
    expect((await ws.request('unsubscribe', { subscription: id })).result).to.deep.equal({ unsubscribed: 1 })
    t.backend.commit()
    await waitFor(() => ws.notifications(sentinel.result.subscription).length === 2, {
      timeoutMs: 5000,
      message: 'the sentinel',
    })
    expect(ws.notifications(id)).to.have.length(1)
  })

  it('subscribe Tx with a hash receives only that tx; without a hash every tx', async () => {
    const ws = await connect()
    const a = makeTx(signer, 0, 'a')
    const b = makeTx(signer, 1, 'b')
    const one = (await ws.request('subscribe', { event: 'Tx', hash: a.hash })).result.subscription
    const all = (await ws.request('subscribe', { event: 'Tx' })).result.subscription
    await call(t.url, 'broadcast_tx_sync', { tx: a.hex })
    await call(t.url, 'broadcast_tx_sync', { tx: b.hex })
    const block = t.backend.commit()
    await waitFor(() => ws.notifications(all).length === 2, {
      timeoutMs: 5000,
      message: 'two Tx notifications',
    })
    expect(ws.notifications(one).map((n) => n.result.data)).to.deep.equal([
      { type: 'Tx', value: { hash: a.hash, status: 'final', height: 1, index: 0, block_hash: block.hash } },
    ])
    expect(ws.notifications(one)[0].result.query).to.equal(`tm.event='Tx' AND tx.hash='${a.hash}'`)
    expect(ws.notifications(all).map((n) => n.result.data.value.hash)).to.deep.equal([a.hash, b.hash])
    expect(ws.notifications(all)[0].result.query).to.equal("tm.event='Tx'")
    expect((await ws.request('unsubscribe', { event: 'Tx', hash: a.hash })).result).to.deep.equal({
      unsubscribed: 1,
    })
    expect((await ws.request('unsubscribe_all')).result).to.deep.equal({ unsubscribed: 1 })
    expect(t.server.stats()).to.include({ txHashes: 0, streamSubscriptions: 0 })
  })

  it('events carry the exact id of their subscribe request, string or number', async () => {
    const ws = await connect()
    const byString = await ws.request('subscribe', { event: 'NewBlock' }, 'blocks-7')
    const byNumber = await ws.request('subscribe', { event: 'NewBlock' }, 42)
    const byZero = await ws.request('subscribe', { event: 'NewBlock' }, 0)
    expect(byString).to.deep.include({ id: 'blocks-7', result: { subscription: '1' } })
    t.backend.commit()
    await waitFor(() => ws.notifications().length === 3, { timeoutMs: 5000, message: 'three events' })
    const idOf = new Map(ws.notifications().map((n) => [n.result.subscription, n.id]))
    expect(idOf.get(byString.result.subscription)).to.equal('blocks-7')
    expect(idOf.get(byNumber.result.subscription)).to.equal(42)
    expect(idOf.get(byZero.result.subscription)).to.equal(0)
  })

  it('a subscribe sent as a notification (no id) gets events with id null', async () => {
    const ws = await connect()
    ws.sendRaw(JSON.stringify({ jsonrpc: '2.0', method: 'subscribe', params: { event: 'NewBlock' } }))
    await waitFor(() => t.server.stats().streamSubscriptions === 1, {
      timeoutMs: 5000,
      message: 'subscribed',
    })
    const block = t.backend.commit()
    await waitFor(() => ws.notifications().length === 1, { timeoutMs: 5000, message: 'the event' })
    expect(ws.notifications()[0]).to.deep.include({ id: null })
    expect(ws.notifications()[0].result.data.value.hash).to.equal(block.hash)
  })

  it('the answer to a subscribe comes before its events, also inside a slow batch', async () => {
    const ws = await connect()
    const tx = makeTx(signer, 0)
    ws.sendRaw(
      JSON.stringify([
        { jsonrpc: '2.0', id: 's', method: 'subscribe', params: { event: 'NewBlock' } },
        { jsonrpc: '2.0', id: 'c', method: 'broadcast_tx_commit', params: { tx: tx.hex } },
      ]),
    )
    await waitFor(() => t.server.stats().txWaits === 1, { timeoutMs: 5000, message: 'the wait' })
    // commit() emits the tx's event, then NewBlock, in one go: the block's event exists before the
    // batch's answer, and must still be sent after it
    const block = t.backend.commit()
    await waitFor(() => ws.notifications().length === 1, { timeoutMs: 5000, message: 'the held event' })
    const batchAt = ws.messages.findIndex(Array.isArray)
    const eventAt = ws.messages.findIndex((m) => !Array.isArray(m) && m.id === 's')
    expect(batchAt).to.be.at.least(0)
    expect(eventAt).to.be.greaterThan(batchAt)
    expect(ws.messages[eventAt].result.data.value.hash).to.equal(block.hash)
    t.backend.commit()
    await waitFor(() => ws.notifications().length === 2, { timeoutMs: 5000, message: 'the next event' })
  })

  it('caps subscriptions per connection and validates subscribe params', async () => {
    const ws = await connect()
    for (let i = 0; i < 3; i++) expect((await ws.request('subscribe', { event: 'NewBlock' })).result).to.exist
    const over = await ws.request('subscribe', { event: 'NewBlock' })
    expect(over.error.code).to.equal(RpcErrorCode.LIMIT_EXCEEDED)
    expect((await ws.request('subscribe', { event: 'Block' })).error.code).to.equal(-32602)
    expect(
      (await ws.request('subscribe', { event: 'NewBlock', hash: `0x${'00'.repeat(32)}` })).error.code,
    ).to.equal(-32602)
    expect((await ws.request('unsubscribe', {})).error.code).to.equal(-32602)
  })

  it('broadcast_tx_commit over WebSocket resolves on the event', async () => {
    const ws = await connect()
    const tx = makeTx(signer, 0)
    const pending = ws.request('broadcast_tx_commit', { tx: tx.hex })
    await waitFor(() => t.server.stats().txWaits === 1, { timeoutMs: 5000, message: 'the wait' })
    const block = t.backend.commit()
    expect((await pending).result).to.deep.equal({
      hash: tx.hash,
      height: 1,
      index: 0,
      block_hash: block.hash,
    })
  })

  it('a disconnect removes the connection subscriptions and waits', async () => {
    const ws = await connect()
    await ws.request('subscribe', { event: 'NewBlock' })
    await ws.request('subscribe', { event: 'Tx', hash: `0x${'12'.repeat(32)}` })
    ws.sendRaw(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 9,
        method: 'broadcast_tx_commit',
        params: { tx: makeTx(signer, 0).hex },
      }),
    )
    await waitFor(() => t.server.stats().txWaits === 1, { timeoutMs: 5000, message: 'the wait' })
    expect(t.server.stats()).to.include({ wsConnections: 1, txHashes: 2, streamSubscriptions: 1 })
    await ws.close()
    await waitFor(
      () => {
        const s = t.server.stats()
        return s.wsConnections === 0 && s.txWaits === 0 && s.txHashes === 0 && s.streamSubscriptions === 0
      },
      { timeoutMs: 5000, message: 'cleanup' },
    )
  })

  it('closes a connection that sends an oversized message (1009) and keeps serving others', async () => {
    const ws = await connect()
    ws.sendRaw('x'.repeat(100 * 1024))
    await waitFor(() => ws.closedCode !== undefined, { timeoutMs: 5000, message: 'the close' })
    expect(ws.closedCode).to.equal(1009)
    const other = await connect()
    expect((await other.request('status')).result).to.have.property('node_info')
  })

  it('refuses upgrades on other paths', async () => {
    const ws = new WebSocket(t.wsUrl.replace('/websocket', '/other'))
    const err = await new Promise<Error>((resolve) => ws.once('error', resolve))
    expect(err.message).to.contain('404')
  })

  it('events held for an unanswered subscribe count against the backlog limit', async () => {
    await t.stop()
    t = await startTestServer({ maxWsBufferedBytes: 2_000 })
    const ws = await connect()
    ws.sendRaw(
      JSON.stringify([
        { jsonrpc: '2.0', id: 's', method: 'subscribe', params: { event: 'NewBlock' } },
        { jsonrpc: '2.0', id: 'c', method: 'broadcast_tx_commit', params: { tx: makeTx(signer, 0).hex } },
      ]),
    )
    await waitFor(() => t.server.stats().txWaits === 1, { timeoutMs: 5000, message: 'the wait' })
    // the tx never lands, so the batch stays unanswered; each empty block's event is about 1 KB
    t.backend.mempool.length = 0
    for (let i = 0; i < 3; i++) t.backend.commit()
    await waitFor(() => ws.closedCode !== undefined, { timeoutMs: 5000, message: 'the disconnect' })
    expect(ws.notifications()).to.have.length(0)
    await waitFor(() => t.server.stats().wsConnections === 0, { timeoutMs: 5000, message: 'cleanup' })
  })

  it('stop() closes WebSocket clients with 1001', async () => {
    const ws = await connect()
    await ws.request('subscribe', { event: 'NewBlock' })
    await t.stop()
    await waitFor(() => ws.closedCode !== undefined, { timeoutMs: 5000, message: 'the close' })
    expect(ws.closedCode).to.equal(1001)
    t = await startTestServer()
  })
})
