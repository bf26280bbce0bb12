import { expect } from 'chai'
import { ConsensusWal, type WalEntry, type WalStorage } from '../../../src/chain/consensus-wal.js'
import type { WalRecord } from '../../../src/codec/consensus.js'
import type { EngineAction, EngineEvent, EngineStatus } from '../../../src/consensus/types.js'
import { ShedReporter } from '../../../src/node/consensus.js'
import { ConsensusDriver, type DriverPorts, type SteppableEngine } from '../../../src/node/driver.js'
import type { Logger } from '../../../src/node/logger.js'
import type { NodeMetrics } from '../../../src/node/metrics.js'
import { GENESIS_HASH, makeBlock, makeSigners, signPrePrepare } from '../consensus/harness.js'

const [signer] = makeSigners(1)
if (signer === undefined) throw new Error('unreachable')
const block = makeBlock(signer, 0, 1, GENESIS_HASH)
const pp = signPrePrepare(signer, 0, 0, 1, block)
const record: WalRecord = { kind: 'preprepare', msg: pp }

const STATUS: EngineStatus = {
  view: 0,
  height: 0,
  phase: 'normal',
  primary: 0,
  isPrimary: true,
  loggedMessages: 0,
}

/** An engine that answers each event with a scripted list of actions and records what it saw. */
class ScriptedEngine implements SteppableEngine {
  readonly seen: EngineEvent['type'][] = []
  constructor(private readonly script: (e: EngineEvent) => EngineAction[]) {}
  step(e: EngineEvent): EngineAction[] {
    this.seen.push(e.type)
    return this.script(e)
  }
  status(): EngineStatus {
    return STATUS
  }
}

/** WAL storage whose writes resolve when the test says so. */
class DeferredStorage implements WalStorage {
  readonly pending: (() => void)[] = []
  fail = false
  walEntries(): WalEntry[] {
    return []
  }
  walPut(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.pending.push(() => (this.fail ? reject(new Error('EIO')) : resolve())),
    )
  }
  walDelete(): Promise<void> {
    return Promise.resolve()
  }
}

function ports(wal: ConsensusWal, log: string[], extra: Partial<DriverPorts> = {}): DriverPorts {
  return {
    wal,
    timer: { start: (ms) => log.push(`timer ${ms}`), cancel: () => log.push('cancel') },
    publish: (m) => log.push(`publish ${m.kind}`),
    requestProposal: (r) => log.push(`propose ${r.height}`),
    commit: () => {
      log.push('commit')
    },
    requestSync: (h) => log.push(`sync ${h}`),
    evidence: () => log.push('evidence'),
    fatal: (err) => log.push(`fatal ${String(err)}`),
    ...extra,
  }
}

const tick = () => new Promise((r) => setImmediate(r))

describe('node/driver: ConsensusDriver', () => {
  it('sends a vote only once its WAL record is durable (persist before send)', async () => {
    const storage = new DeferredStorage()
    const wal = new ConsensusWal(storage)
    const log: string[] = []
    const engine = new ScriptedEngine(() => [
      { type: 'persist', record },
      { type: 'broadcast', msg: pp },
    ])
    const driver = new ConsensusDriver(engine, ports(wal, log))
    driver.submit({ type: 'start' })
    await tick()
    expect(log).to.deep.equal([]) // the write has not completed: nothing sent
    storage.pending.shift()?.()
    await tick()
    expect(log).to.deep.equal(['publish preprepare'])
  })

  it('runs each event to completion before stepping the next one', async () => {
    const storage = new DeferredStorage()
    const wal = new ConsensusWal(storage)
    const log: string[] = []
    const engine = new ScriptedEngine((e) =>
      e.type === 'start'
        ? [
            { type: 'persist', record },
            { type: 'start_timer', view: 0, height: 1, ms: 5 },
          ]
        : [],
    )
    const driver = new ConsensusDriver(engine, ports(wal, log))
    driver.submit({ type: 'start' })
    driver.submit({ type: 'txs_available' })
    await tick()
    expect(engine.seen).to.deep.equal(['start']) // the second event waits for the first step's write
    storage.pending.shift()?.()
    await tick()
    expect(engine.seen).to.deep.equal(['start', 'txs_available'])
    expect(log).to.deep.equal(['timer 5'])
  })

  it('with ports that answer at once, a step runs synchronously (the simulator)', () => {
    const log: string[] = []
    const storage: WalStorage = { walEntries: () => [], walPut: () => {}, walDelete: () => {} }
    const engine = new ScriptedEngine(() => [
      { type: 'persist', record },
      { type: 'broadcast', msg: pp },
      { type: 'request_sync', height: 9 },
    ])
    const driver = new ConsensusDriver(engine, ports(new ConsensusWal(storage), log))
    driver.submit({ type: 'start' })
    expect(log).to.deep.equal(['publish preprepare', 'sync 9'])
  })

  it('a failed write stops the driver for good: nothing after it is sent, queued events are released', async () => {
    const storage = new DeferredStorage()
    storage.fail = true
    const log: string[] = []
    const engine = new ScriptedEngine(() => [
      { type: 'persist', record },
      { type: 'broadcast', msg: pp },
    ])
    const driver = new ConsensusDriver(engine, ports(new ConsensusWal(storage), log))
    let released = false
    driver.submit({ type: 'start' })
    driver.submit({ type: 'txs_available' }, () => {
      released = true
    })
    storage.pending.shift()?.()
    await tick()
    expect(log).to.deep.equal(['cancel', 'fatal Error: EIO'])
    expect(released).to.equal(true)
    expect(driver.isStopped).to.equal(true)
    driver.submit({ type: 'txs_available' })
    expect(engine.seen).to.deep.equal(['start'])
  })

  it('a crash point before an action (the simulator) stops the step there', () => {
    const log: string[] = []
    const storage: WalStorage = { walEntries: () => [], walPut: () => {}, walDelete: () => {} }
    const engine = new ScriptedEngine(() => [
      { type: 'persist', record },
      { type: 'broadcast', msg: pp },
    ])
    const driver = new ConsensusDriver(
      engine,
      ports(new ConsensusWal(storage), log, {
        beforeAction: (a) => {
          if (a.type === 'broadcast') throw new Error('crash')
        },
      }),
    )
    driver.submit({ type: 'start' })
    expect(log).to.deep.equal(['cancel', 'fatal Error: crash'])
  })

  it('a timer fires back into the driver as a timeout event', () => {
    const log: string[] = []
    let fire: (() => void) | undefined
    const storage: WalStorage = { walEntries: () => [], walPut: () => {}, walDelete: () => {} }
    const engine = new ScriptedEngine((e) =>
      e.type === 'start' ? [{ type: 'start_timer', view: 2, height: 7, ms: 10 }] : [],
    )
    const driver = new ConsensusDriver(
      engine,
      ports(new ConsensusWal(storage), log, { timer: { start: (_ms, f) => (fire = f), cancel: () => {} } }),
    )
    driver.submit({ type: 'start' })
    fire?.()
    expect(engine.seen).to.deep.equal(['start', 'timeout'])
  })

  it('a timeout queued behind a step that restarts the timer is not stepped (it was the old timer)', async () => {
    const storage = new DeferredStorage()
    const fires: (() => void)[] = []
    const engine = new ScriptedEngine((e) => {
      if (e.type === 'start') return [{ type: 'start_timer', view: 0, height: 1, ms: 10 }]
      // e.g. a valid PRE-PREPARE: the PREPARE is persisted, then the timer restarts
      if (e.type === 'message')
        return [
          { type: 'persist', record },
          { type: 'start_timer', view: 0, height: 1, ms: 10 },
        ]
      if (e.type === 'txs_available') return [{ type: 'persist', record }, { type: 'cancel_timer' }]
      return []
    })
    const log: string[] = []
    const driver = new ConsensusDriver(
      engine,
      ports(new ConsensusWal(storage), log, {
        timer: { start: (_ms, f) => fires.push(f), cancel: () => {} },
      }),
    )
    driver.submit({ type: 'start' })
    driver.submit({ type: 'message', msg: pp })
    await tick()
    expect(storage.pending).to.have.length(1) // the step awaits its WAL write
    fires[0]?.() // the first timer runs out meanwhile: its timeout waits behind the step
    storage.pending.shift()?.()
    await tick()
    expect(fires).to.have.length(2)
    expect(engine.seen).to.deep.equal(['start', 'message']) // the old timer's timeout was dropped
    fires[1]?.() // the restarted timer does fire
    expect(engine.seen).to.deep.equal(['start', 'message', 'timeout'])
    // and a cancel drops a timeout queued before it in the same way
    driver.submit({ type: 'message', msg: pp })
    storage.pending.shift()?.()
    await tick()
    expect(fires).to.have.length(3)
    driver.submit({ type: 'txs_available' }) // awaits its WAL write, then cancels the timer
    await tick()
    fires[2]?.()
    storage.pending.shift()?.()
    await tick()
    expect(engine.seen).to.deep.equal(['start', 'message', 'timeout', 'message', 'txs_available'])
    fires[1]?.() // a timer fired twice (or late) after it was replaced is not stepped either
    expect(engine.seen).to.have.length(5)
  })

  it('stop() waits for the running step and skips what is queued', async () => {
    const storage = new DeferredStorage()
    const log: string[] = []
    const engine = new ScriptedEngine(() => [
      { type: 'persist', record },
      { type: 'broadcast', msg: pp },
    ])
    const driver = new ConsensusDriver(engine, ports(new ConsensusWal(storage), log))
    driver.submit({ type: 'start' })
    driver.submit({ type: 'txs_available' })
    let stopped = false
    const stopping = driver.stop().then(() => {
      stopped = true
    })
    await tick()
    expect(stopped).to.equal(false) // the WAL write of the running step is still in flight
    storage.pending.shift()?.()
    await stopping
    expect(engine.seen).to.deep.equal(['start'])
    // stopped before the send (never a send without its record, none after stop); the timer is cancelled
    expect(log).to.deep.equal(['cancel'])
  })

  it('holds at most maxQueuedMessages peer messages: the oldest goes, counted; other events stay', async () => {
    const storage = new DeferredStorage()
    const log: string[] = []
    const stepped: string[] = []
    const engine = new ScriptedEngine((e) => {
      if (e.type === 'message') stepped.push(`${e.msg.kind}/${e.msg.sender}`)
      return e.type === 'start' ? [{ type: 'persist', record }] : []
    })
    const shed: string[] = []
    const released: string[] = []
    const driver = new ConsensusDriver(
      engine,
      ports(new ConsensusWal(storage), log, { shed: (m) => shed.push(`${m.kind}/${m.sender}`) }),
      { maxQueuedMessages: 3 },
    )
    driver.submit({ type: 'start' }) // its WAL write holds the queue
    const msg = (sender: number) => ({ ...pp, sender })
    for (const sender of [1, 2, 3])
      driver.submit({ type: 'message', msg: msg(sender) }, () => released.push(`${sender}`))
    driver.submit({ type: 'timeout', view: 0, height: 1 })
    expect(driver.queuedMessageCount).to.equal(3)
    expect(shed).to.deep.equal([])
    driver.submit({ type: 'message', msg: msg(4) }, () => released.push('4'))
    driver.submit({ type: 'message', msg: msg(5) }, () => released.push('5'))
    // full: each newcomer let the oldest waiting message go (its waiter released), never the timeout
    expect(shed).to.deep.equal(['preprepare/1', 'preprepare/2'])
    expect(released).to.deep.equal(['1', '2'])
    expect(driver.queuedMessageCount).to.equal(3)
    storage.pending.shift()?.()
    await driver.submitAndWait({ type: 'txs_available' })
    expect(stepped).to.deep.equal(['preprepare/3', 'preprepare/4', 'preprepare/5'])
    expect(engine.seen).to.deep.equal(['start', 'message', 'timeout', 'message', 'message', 'txs_available'])
    expect(driver.queuedMessageCount).to.equal(0)
    expect(released).to.deep.equal(['1', '2', '3', '4', '5'])
  })

  it('a bound below one message is refused', () => {
    const wal = new ConsensusWal(new DeferredStorage())
    const engine = new ScriptedEngine(() => [])
    expect(() => new ConsensusDriver(engine, ports(wal, []), { maxQueuedMessages: 0 })).to.throw(RangeError)
  })
})

describe('node/consensus: ShedReporter', () => {
  it('counts every message let go and logs at most once per interval, with how many went', () => {
    let t = 0
    let count = 0
    const lines: { shed: number }[] = []
    const reporter = new ShedReporter(
      { consensusShed: { inc: () => count++ } as unknown as NodeMetrics['consensusShed'] },
      { warn: (o: unknown) => lines.push(o as { shed: number }) } as unknown as Logger,
      () => t,
      10_000,
    )
    reporter.shed(pp)
    for (let i = 0; i < 5; i++) {
      t += 1_000
      reporter.shed(pp)
    }
    expect(count).to.equal(6)
    expect(lines.map((l) => l.shed)).to.deep.equal([1])
    t += 10_000
    reporter.shed(pp)
    expect(lines.map((l) => l.shed)).to.deep.equal([1, 6])
  })
})
