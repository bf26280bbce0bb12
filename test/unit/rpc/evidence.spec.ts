import { expect } from 'chai'
import { RpcErrorCode } from '../../../src/rpc/errors.js'
import type { EvidenceJson } from '../../../src/rpc/types.js'
import { call, startTestServer, type TestServer, WsClient } from './helpers.js'

/** A record as the backend returns it; `n` makes it distinct (its height). */
function record(n: number, index = 0): EvidenceJson {
  return {
    validator: { index, peer_id: '12D3KooWTest', public_key: `0x${'11'.repeat(32)}` },
    kind: 'prepare',
    view: 0,
    height: n,
    first: { digest: `0x${'aa'.repeat(32)}`, signature: `0x${'01'.repeat(64)}`, sign_bytes: '0x11' },
    second: { digest: `0x${'bb'.repeat(32)}`, signature: `0x${'02'.repeat(64)}`, sign_bytes: '0x11' },
    received_at: 1_700_000_000_000 + n,
  }
}

describe('rpc/server evidence', () => {
  let t: TestServer

  beforeEach(async () => {
    t = await startTestServer()
  })

  afterEach(async () => {
    await t.stop()
  })

  it('answers {total, evidence} newest first, as the backend gives it', async () => {
    expect((await call(t.url, 'evidence')).result).to.deep.equal({ total: 0, evidence: [] })
    t.backend.evidenceRecords.push(record(1), record(2))
    const res = await call(t.url, 'evidence', {})
    expect(res.result).to.deep.equal({ total: 2, evidence: [record(2), record(1)] })
  })

  it('limit defaults to 30 and is capped at 100', async () => {
    for (let n = 1; n <= 120; n++) t.backend.evidenceRecords.push(record(n))
    const def = (await call(t.url, 'evidence')).result
    expect(def.total).to.equal(120)
    expect(def.evidence).to.have.length(30)
    expect(def.evidence[0].height).to.equal(120)
    expect(t.backend.lastEvidenceQuery).to.deep.equal({ limit: 30, validator: undefined })
    expect((await call(t.url, 'evidence', { limit: 2 })).result.evidence).to.have.length(2)
    expect((await call(t.url, 'evidence', { limit: 1000 })).result.evidence).to.have.length(100)
  })

  it('validator is an index or a peer id; an unknown one is -32602', async () => {
    t.backend.evidenceRecords.push(record(1))
    expect((await call(t.url, 'evidence', { validator: 0 })).result.total).to.equal(1)
    expect(t.backend.lastEvidenceQuery).to.deep.equal({ limit: 30, validator: 0 })
    expect((await call(t.url, 'evidence', { validator: '12D3KooWTest', limit: 5 })).result.total).to.equal(1)
    expect(t.backend.lastEvidenceQuery).to.deep.equal({ limit: 5, validator: '12D3KooWTest' })
    const unknown = await call(t.url, 'evidence', { validator: 7 })
    expect(unknown.error.code).to.equal(RpcErrorCode.INVALID_PARAMS)
    expect(unknown.error.message).to.contain('7')
  })

  it('malformed params are -32602 naming the field', async () => {
    const bad: [unknown, string][] = [
      [{ limit: 0 }, 'limit'],
      [{ limit: 1.5 }, 'limit'],
      [{ limit: '3' }, 'limit'],
      [{ validator: -1 }, 'validator'],
      [{ validator: 0.5 }, 'validator'],
      [{ validator: '' }, 'validator'],
      [{ validator: 'x'.repeat(129) }, 'validator'],
      [{ validator: null }, 'validator'],
      [{ kind: 'prepare' }, 'kind'],
      [[5], 'named object'],
    ]
    for (const [params, field] of bad) {
      const res = await call(t.url, 'evidence', params)
      expect(res.error?.code, JSON.stringify(params)).to.equal(RpcErrorCode.INVALID_PARAMS)
      expect(res.error.message, JSON.stringify(params)).to.contain(field)
    }
  })

  it('is served over WebSocket too', async () => {
    t.backend.evidenceRecords.push(record(1))
    const ws = await WsClient.connect(t.wsUrl)
    try {
      expect((await ws.request('evidence', { limit: 1 })).result).to.deep.equal({
        total: 1,
        evidence: [record(1)],
      })
    } finally {
      await ws.close()
    }
  })
})
