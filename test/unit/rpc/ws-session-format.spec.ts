import { EventEmitter } from 'node:events'
import type { AddressInfo } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { expect } from 'chai'
import { pino } from 'pino'
import { WebSocketServer } from 'ws'
import type { RpcEventMap } from '../../../src/rpc/backend.js'
import { EventHub } from '../../../src/rpc/event-hub.js'
import { JsonRpcProcessor } from '../../../src/rpc/jsonrpc.js'
import { createMethods } from '../../../src/rpc/methods.js'
import { DEFAULT_RPC_LIMITS } from '../../../src/rpc/options.js'
import type { BlockResult } from '../../../src/rpc/types.js'
import { type EventFormat, WsSession } from '../../../src/rpc/ws-session.js'
import { waitFor } from '../../helpers/wait.js'
import { FakeBackend } from './fake-backend.js'
import { WsClient } from './helpers.js'

/**
 * A WebSocket session with a dialect's own event format (the CometBFT dialect's writes its events
 * asynchronously, docs/RPC.md "CometBFT dialect"): events go out in the order they happened even
 * when an earlier one takes longer to write, a skipped one (undefined) sends nothing, and nothing
 * is sent for a subscription removed while its event was being written.
 */

function blockAt(height: number): BlockResult {
  return { hash: `0x${'00'.repeat(32)}`, header: { height } as BlockResult['header'], txs: [], commit: null }
}

describe('rpc/ws-session with an asynchronous event format', () => {
  const logger = pino({ level: 'silent' })
  let events: EventEmitter<RpcEventMap>
  let hub: EventHub
  let wss: WebSocketServer
  let sessions: WsSession[]
  let client: WsClient
  /** writes: height 1 slowly, 3 not at all, the rest at once */
  const format: EventFormat = {
    writer: (sub) => (data) => {
      const height = (data as BlockResult).header.height
      const text = JSON.stringify({
        jsonrpc: '2.0',
        id: sub.requestId,
        result: { query: sub.query, data: { height } },
      })
      if (height === 1) return delay(100).then(() => text) // a slow write, part of the scenario
      return height === 3 ? undefined : text
    },
  }

  beforeEach(async () => {
    events = new EventEmitter<RpcEventMap>()
    hub = new EventHub(events, logger)
    hub.start()
    const limits = DEFAULT_RPC_LIMITS
    const methods = createMethods({ backend: new FakeBackend(), hub, limits, logger })
    const processor = new JsonRpcProcessor({ methods, maxBatchSize: 10, logger })
    sessions = []
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    wss.on('connection', (ws) => sessions.push(new WsSession(ws, { hub, processor, limits, logger, format })))
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
    const { port } = wss.address() as AddressInfo
    client = await WsClient.connect(`ws://127.0.0.1:${port}/`)
  })

  afterEach(async () => {
    await client.close()
    for (const s of sessions) s.terminate()
    hub.close()
    await new Promise<void>((resolve) => wss.close(() => resolve()))
  })

  const heights = () =>
    client.messages.filter((m) => m.result?.data !== undefined).map((m) => m.result.data.height)

  it('sends events in the order they happened, a slow one first, a skipped one never', async () => {
    expect((await client.request('subscribe', { event: 'NewBlock' }, 'nb')).result).to.deep.equal({
      subscription: '1',
    })
    for (const h of [1, 2, 3, 4]) events.emit('NewBlock', blockAt(h))
    await waitFor(() => heights().length === 3, { message: 'three events' })
    expect(heights()).to.deep.equal([1, 2, 4])
    // a later event once the queue is empty goes out at once
    events.emit('NewBlock', blockAt(5))
    await waitFor(() => heights().length === 4, { message: 'the fourth event' })
    expect(heights()).to.deep.equal([1, 2, 4, 5])
  })

  it('drops an event still being written when its subscription goes', async () => {
    await client.request('subscribe', { event: 'NewBlock' }, 'nb')
    events.emit('NewBlock', blockAt(1))
    expect((await client.request('unsubscribe', { event: 'NewBlock' }, 'u')).result).to.deep.equal({
      unsubscribed: 1,
    })
    await delay(200) // longer than the slow write: the event would have arrived by now
    expect(heights()).to.deep.equal([])
  })
})
