import { expect } from 'chai'
import {
  type MeshEvent,
  type MeshKnobs,
  REACH_IDS_KEPT,
  Reachability,
  RelayController,
  RelayPolicy,
  type RelayPorts,
  signsOwnCopies,
} from '../../../src/network/relays.js'
import { TOPIC_KINDS } from '../../../src/network/topics.js'

const TIMINGS = { joinAfterMs: 2_000, leaveAfterMs: 30_000, startupLeaveAfterMs: 5_000 }
/** `n` validators without a connection */
const off = (n: number) => ({ disconnected: n, indirect: 0 })

describe('network/relays: RelayPolicy', () => {
  /** a policy past its start: every validator reachable from 0 on, so it left at startupLeaveAfterMs */
  function settled(): RelayPolicy {
    const p = new RelayPolicy(TIMINGS)
    expect(p.tick(0, off(0))).to.equal(null)
    expect(p.tick(5_000, off(0))).to.equal('leave')
    return p
  }

  it('starts relayed and leaves once every validator has been reachable for startupLeaveAfterMs', () => {
    const p = new RelayPolicy(TIMINGS)
    expect(p.mode).to.equal('relayed')
    expect(p.tick(0, off(2))).to.equal(null) // peers still connecting
    expect(p.tick(1_000, off(0))).to.equal(null)
    expect(p.tick(5_999, off(0))).to.equal(null)
    expect(p.tick(6_000, off(0))).to.equal('leave')
    expect(p.mode).to.equal('direct')
    for (let t = 6_000; t <= 60_000; t += 700) expect(p.tick(t, off(0))).to.equal(null)
  })

  it('joins after a validator has been missing joinAfterMs, leaves after all were there leaveAfterMs', () => {
    const p = settled()
    expect(p.tick(10_000, off(1))).to.equal(null)
    expect(p.tick(11_999, off(1))).to.equal(null)
    expect(p.tick(12_000, off(1))).to.equal('join')
    expect(p.mode).to.equal('relayed')
    expect(p.tick(15_000, off(2))).to.equal(null) // already relayed
    expect(p.tick(16_000, off(0))).to.equal(null)
    expect(p.tick(45_999, off(0))).to.equal(null) // after the start, the settling takes leaveAfterMs
    expect(p.tick(46_000, off(0))).to.equal('leave')
    expect(p.mode).to.equal('direct')
    expect(p.tick(90_000, off(0))).to.equal(null)
  })

  it('a link back before joinAfterMs, or lost again before leaveAfterMs, restarts the clock', () => {
    const p = settled()
    expect(p.tick(29_000, off(1))).to.equal(null)
    expect(p.tick(30_500, off(0))).to.equal(null) // back within 1.5 s: no join
    expect(p.tick(31_000, off(1))).to.equal(null) // missing again: 0 ms of it so far
    expect(p.tick(32_900, off(1))).to.equal(null)
    expect(p.tick(33_000, off(1))).to.equal('join')
    expect(p.tick(40_000, off(0))).to.equal(null)
    expect(p.tick(60_000, off(1))).to.equal(null) // not yet settled: still relayed, and no second join
    expect(p.tick(61_000, off(0))).to.equal(null)
    expect(p.tick(91_000, off(0))).to.equal('leave')
  })

  it('joins at once on a connected validator whose votes come relayed (a link that died silently)', () => {
    const p = settled()
    expect(p.tick(6_000, off(0))).to.equal(null)
    expect(p.tick(6_700, { disconnected: 0, indirect: 1 })).to.equal('join')
    expect(p.tick(7_400, { disconnected: 0, indirect: 1 })).to.equal(null)
    expect(p.tick(10_000, off(0))).to.equal(null)
    expect(p.tick(40_000, off(0))).to.equal('leave')
  })
})

describe('network/relays: RelayController', () => {
  function ports(missing: { n: number }) {
    let now = 0
    const knobs: MeshKnobs = { D: 2, Dlo: 2, Dhi: 3, Dout: 1 }
    const pruned: string[] = []
    const logs: string[] = []
    let meshListener: ((e: MeshEvent) => void) | undefined
    const p: RelayPorts = {
      knobs,
      unreachedValidators: () => off(missing.n),
      onHeartbeat: () => () => {},
      onMeshEvent: (l) => {
        meshListener = l
        return () => {}
      },
      prune: (topic, peer) => pruned.push(`${topic}:${peer}`),
      now: () => now,
      log: (d, u, n) => logs.push(`${d} missing=${u.disconnected} pruned=${n}`),
    }
    return {
      p,
      knobs,
      pruned,
      logs,
      at: (t: number) => {
        now = t
      },
      mesh: (e: MeshEvent) => meshListener?.(e),
    }
  }

  it('keeps no mesh of its own while direct, the configured one while relayed, and prunes only its own grafts', () => {
    const missing = { n: 0 }
    const w = ports(missing)
    const c = new RelayController(w.p, TIMINGS)
    c.start()
    // relayed at start: the configured knobs
    expect(c.mode).to.equal('relayed')
    expect(w.knobs).to.deep.equal({ D: 2, Dlo: 2, Dhi: 3, Dout: 1 })
    const tickAt = (...times: number[]) => {
      for (const t of times) {
        w.at(t)
        c.tick()
      }
    }
    w.mesh({ kind: 'graft', direction: 'outbound', topic: 't', peer: 'b' }) // grafted at start
    tickAt(0, 5_000)
    // direct: no grafting of its own, GRAFTs of others accepted up to Dhi, its start-up graft pruned
    expect(c.mode).to.equal('direct')
    expect(w.knobs).to.deep.equal({ D: 2, Dlo: 0, Dhi: 3, Dout: 0 })
    expect(w.pruned).to.deep.equal(['t:b'])
    w.pruned.length = 0
    missing.n = 1
    tickAt(10_000, 12_000)
    expect(c.mode).to.equal('relayed')
    expect(w.knobs).to.deep.equal({ D: 2, Dlo: 2, Dhi: 3, Dout: 1 })
    // gossipsub's heartbeat grafts two peers; a third peer grafts this node; one graft is undone by a PRUNE
    w.mesh({ kind: 'graft', direction: 'outbound', topic: 't', peer: 'c' })
    w.mesh({ kind: 'graft', direction: 'outbound', topic: 't', peer: 'd' })
    w.mesh({ kind: 'graft', direction: 'outbound', topic: 'u', peer: 'c' })
    w.mesh({ kind: 'graft', direction: 'inbound', topic: 't', peer: 'e' })
    w.mesh({ kind: 'prune', direction: 'inbound', topic: 'u', peer: 'c' })
    expect(c.grafted('t')).to.have.members(['c', 'd'])
    expect(c.grafted('u')).to.deep.equal([])
    missing.n = 0
    tickAt(13_000, 43_000)
    expect(c.mode).to.equal('direct')
    expect(w.pruned).to.have.members(['t:c', 't:d']) // not e, which grafted this node
    expect(w.knobs).to.deep.equal({ D: 2, Dlo: 0, Dhi: 3, Dout: 0 })
    expect(w.logs).to.deep.equal([
      'leave missing=0 pruned=1',
      'join missing=1 pruned=0',
      'leave missing=0 pruned=2',
    ])
    expect(c.grafted('t')).to.deep.equal([])
    // once direct, a graft of its own (joining a topic grafts D peers) goes at the next heartbeat
    w.mesh({ kind: 'graft', direction: 'outbound', topic: 'v', peer: 'd' })
    c.tick()
    expect(w.pruned).to.include('v:d')
    expect(c.mode).to.equal('direct')
  })
})

describe('network/relays: Reachability', () => {
  const validators = ['a', 'b', 'c']
  it('counts validators not connected, and connected ones whose vote came first from someone else', () => {
    const r = new Reachability(10_000)
    const connected = new Set(['a', 'b', 'c'])
    const at = (now: number) => r.unreached(validators, (id) => connected.has(id), now)
    expect(at(0)).to.deep.equal({ disconnected: 0, indirect: 0 })
    r.firstCopy('m1', 'a', 'a', 100) // from its author: the direct link works
    expect(at(100)).to.deep.equal({ disconnected: 0, indirect: 0 })
    r.firstCopy('m2', 'b', 'c', 200) // b's vote relayed by c: b's link to this node is not working
    expect(at(200)).to.deep.equal({ disconnected: 0, indirect: 1 })
    connected.delete('c')
    expect(at(300)).to.deep.equal({ disconnected: 1, indirect: 1 })
    connected.delete('b') // not connected at all: counted once, as disconnected
    expect(at(400)).to.deep.equal({ disconnected: 2, indirect: 0 })
    connected.add('b')
    connected.add('c')
    expect(at(10_199)).to.deep.equal({ disconnected: 0, indirect: 1 })
    expect(at(10_200)).to.deep.equal({ disconnected: 0, indirect: 0 }) // no relayed copy for 10 s
    r.firstCopy('m3', 'b', 'a', 20_000)
    r.firstCopy('m4', 'b', 'c', 25_000) // each relayed first copy extends it
    expect(at(34_999)).to.deep.equal({ disconnected: 0, indirect: 1 })
    expect(at(35_000)).to.deep.equal({ disconnected: 0, indirect: 0 })
  })

  it('does not take a message it looked at before for a first copy (IHAVE brings it again after the seen cache)', () => {
    const r = new Reachability(10_000)
    const at = (now: number) => r.unreached(validators, () => true, now)
    expect(r.firstCopy('vc', 'b', 'b', 0)).to.equal(false) // b's VIEW-CHANGE, from b
    expect(r.firstCopy('vc', 'b', 'c', 2_000)).to.equal(false) // the same one again, fetched from c
    expect(at(2_000)).to.deep.equal({ disconnected: 0, indirect: 0 })
    expect(r.firstCopy('vc2', 'b', 'c', 3_000)).to.equal(true) // a new one, first from c
    expect(at(3_000)).to.deep.equal({ disconnected: 0, indirect: 1 })
    // it remembers the last REACH_IDS_KEPT ids
    for (let i = 0; i < REACH_IDS_KEPT; i++) r.firstCopy(`m${i}`, 'a', 'a', 4_000)
    expect(r.firstCopy('vc', 'b', 'c', 20_000)).to.equal(true) // forgotten, and b's mark ran out
    expect(r.firstCopy(`m${REACH_IDS_KEPT - 1}`, 'a', 'c', 20_000)).to.equal(false) // still kept
  })

  it('takes as a sign only kinds their signer alone publishes: the votes and VIEW-CHANGE', () => {
    // VIEW-CHANGE counts: when the cut link's far end is the primary, a failing view change sends
    // no vote, and its VIEW-CHANGEs are all that shows the link is dead. NEW-VIEW does not:
    // replicas in the new view re-send the primary's to one that missed it.
    expect(TOPIC_KINDS.filter(signsOwnCopies)).to.deep.equal([
      'preprepare',
      'prepare',
      'commit',
      'viewchange',
      'reject',
    ])
  })
})
