import { EventEmitter } from 'node:events'
import { expect } from 'chai'
import { pino } from 'pino'
import type { RpcEventMap } from '../../../src/rpc/backend.js'
import { RpcError, RpcErrorCode } from '../../../src/rpc/errors.js'
import { EventHub } from '../../../src/rpc/event-hub.js'
import type { TxEvent } from '../../../src/rpc/types.js'

const hashA = `0x${'aa'.repeat(32)}`
const hashB = `0x${'bb'.repeat(32)}`

function final(hash: string): TxEvent {
  return { hash, status: 'final', height: 1, index: 0, block_hash: `0x${'cc'.repeat(32)}` }
}

describe('rpc/event-hub', () => {
  let events: EventEmitter<RpcEventMap>
  let hub: EventHub

  beforeEach(() => {
    events = new EventEmitter<RpcEventMap>()
    hub = new EventHub(events, pino({ level: 'silent' }))
    hub.start()
  })

  afterEach(() => hub.close())

  it('routes a Tx event to the waits of its hash only', async () => {
    const a = hub.waitForTx(hashA, 5000)
    const b = hub.waitForTx(hashB, 5000)
    events.emit('Tx', final(hashA))
    expect(await a.promise).to.deep.equal(final(hashA))
    expect(hub.stats()).to.include({ txHashes: 1, txWaits: 1 })
    b.cancel()
    expect(hub.stats()).to.include({ txHashes: 0, txWaits: 0 })
  })

  it('a throwing listener neither throws into the emitter nor starves the others', () => {
    const seen: string[] = []
    hub.onTx(undefined, () => {
      throw new Error('boom')
    })
    hub.onTx(undefined, (e) => seen.push(e.hash))
    expect(() => events.emit('Tx', final(hashA))).to.not.throw()
    expect(seen).to.deep.equal([hashA])
  })

  it('serialises an event once however many subscribers read it', () => {
    let serialisations = 0
    const block = {
      toJSON() {
        serialisations++
        return { height: 1 }
      },
    }
    const texts: string[] = []
    for (let i = 0; i < 10; i++) hub.onNewBlock((_b, json) => texts.push(json()))
    // biome-ignore lint/suspicious/noExplicitAny: a stand-in block that counts its serialisations
    events.emit('NewBlock', block as any)
    expect(texts).to.have.length(10)
    expect(new Set(texts)).to.deep.equal(new Set(['{"height":1}']))
    expect(serialisations).to.equal(1)
  })

  it('times out a wait with TIMEOUT and close() fails the rest with UNAVAILABLE', async () => {
    const short = hub.waitForTx(hashA, 20)
    const long = hub.waitForTx(hashB, 60_000)
    const timedOut = await short.promise.catch((e: unknown) => e)
    expect(timedOut).to.be.instanceOf(RpcError).with.property('code', RpcErrorCode.TIMEOUT)
    hub.close()
    const closed = await long.promise.catch((e: unknown) => e)
    expect(closed).to.be.instanceOf(RpcError).with.property('code', RpcErrorCode.UNAVAILABLE)
    expect(events.listenerCount('Tx')).to.equal(0)
    expect(hub.stats()).to.deep.equal({ txHashes: 0, txWaits: 0, allTx: 0, newBlock: 0 })
  })

  it('attaches one listener per event name, whatever the number of waits', () => {
    for (let i = 0; i < 100; i++) hub.waitForTx(`0x${i.toString(16).padStart(64, '0')}`, 60_000)
    hub.start()
    expect(events.listenerCount('Tx')).to.equal(1)
    expect(events.listenerCount('NewBlock')).to.equal(1)
  })
})
