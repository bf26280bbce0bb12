import { expect } from 'chai'
import { WebSocket } from 'ws'
import { originProblem } from '../../../src/rpc/cors.js'
import { get, startTestServer, type TestServer, WsClient } from './helpers.js'

const APP = 'http://localhost:3000'
const OTHER = 'https://evil.example'

/** Opens a WebSocket with the given Origin (none when undefined): 'open', or the refusal's status. */
async function wsOutcome(url: string, origin: string | undefined): Promise<'open' | number> {
  const ws = new WebSocket(url, origin === undefined ? {} : { origin })
  return await new Promise((resolve) => {
    ws.once('open', () => {
      ws.close()
      resolve('open')
    })
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      ws.terminate()
    })
    ws.once('error', () => resolve(0))
  })
}

function post(t: TestServer, origin?: string): Promise<Response> {
  return fetch(t.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(origin === undefined ? {} : { origin }) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'status' }),
  })
}

function preflight(t: TestServer, origin: string, path = '/'): Promise<Response> {
  return fetch(new URL(path, t.url), {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    },
  })
}

describe('rpc/server CORS and browser origins', () => {
  let t: TestServer

  afterEach(async () => {
    await t.stop()
  })

  describe('none configured (the default)', () => {
    beforeEach(async () => {
      t = await startTestServer()
    })

    it('adds no CORS header to any answer, whatever the Origin', async () => {
      for (const origin of [undefined, APP, OTHER]) {
        const res = await post(t, origin)
        expect(res.status).to.equal(200)
        expect(res.headers.get('access-control-allow-origin')).to.equal(null)
        expect(res.headers.get('vary')).to.equal(null)
        await res.text()
      }
      const pre = await preflight(t, APP)
      expect(pre.status).to.equal(204)
      expect(pre.headers.get('access-control-allow-origin')).to.equal(null)
      expect(pre.headers.get('allow')).to.equal('GET, HEAD, POST, OPTIONS')
    })

    it('WebSocket: clients without Origin and pages of the node itself connect; other pages get 403', async () => {
      expect(await wsOutcome(t.wsUrl, undefined)).to.equal('open')
      expect(await wsOutcome(t.wsUrl, OTHER)).to.equal(403)
      expect(await wsOutcome(t.wsUrl, APP)).to.equal(403)
      expect(await wsOutcome(t.wsUrl, 'null')).to.equal(403)
      const { port } = t.server.address()
      expect(await wsOutcome(t.wsUrl, `http://127.0.0.1:${port}`)).to.equal('open')
      expect(await wsOutcome(t.wsUrl, `http://127.0.0.1:${port + 1}`)).to.equal(403)
      // the refused handshakes left nothing behind, and the server still serves
      const ws = await WsClient.connect(t.wsUrl)
      expect((await ws.request('status')).result).to.have.property('node_info')
      await ws.close()
    })
  })

  describe('a list of origins', () => {
    beforeEach(async () => {
      t = await startTestServer({ corsAllowedOrigins: [APP, 'https://app.example:8443'] })
    })

    it('answers a preflight from an allowed origin with the methods, headers and max age', async () => {
      for (const path of ['/', '/status', '/health']) {
        const res = await preflight(t, APP, path)
        expect(res.status, path).to.equal(204)
        expect(res.headers.get('access-control-allow-origin')).to.equal(APP)
        expect(res.headers.get('access-control-allow-methods')).to.equal('GET, POST, OPTIONS')
        expect(res.headers.get('access-control-allow-headers')).to.equal('content-type')
        expect(Number(res.headers.get('access-control-max-age'))).to.be.greaterThan(0)
        expect(res.headers.get('vary')).to.equal('Origin')
      }
      expect((await preflight(t, APP, '/nope')).status).to.equal(404)
    })

    it('a preflight from another origin gets no CORS header, so the browser stops there', async () => {
      const res = await preflight(t, OTHER)
      expect(res.status).to.equal(204)
      expect(res.headers.get('access-control-allow-origin')).to.equal(null)
      expect(res.headers.get('access-control-allow-methods')).to.equal(null)
      expect(res.headers.get('vary')).to.equal('Origin')
    })

    it('echoes an allowed origin on POST, GET routes, /health and errors; nothing for others', async () => {
      const allowed = await post(t, 'https://app.example:8443')
      expect(allowed.headers.get('access-control-allow-origin')).to.equal('https://app.example:8443')
      expect(allowed.headers.get('vary')).to.equal('Origin')
      await allowed.text()
      for (const path of ['/status', '/health', '/block?height=x', '/nope']) {
        const res = await get(t.url, path, { headers: { origin: APP } })
        expect(res.headers.get('access-control-allow-origin'), path).to.equal(APP)
        expect(res.headers.get('vary'), path).to.equal('Origin')
      }
      const page = await get(t.url, '/', { headers: { origin: APP, accept: 'text/html' } })
      expect(page.headers.get('access-control-allow-origin')).to.equal(APP)
      expect(page.headers.get('vary')).to.equal('Origin, Accept')
      for (const origin of [OTHER, 'http://localhost:3001', 'http://LOCALHOST:3000']) {
        const denied = await post(t, origin)
        expect(denied.status).to.equal(200)
        expect(denied.headers.get('access-control-allow-origin'), origin).to.equal(null)
        expect(denied.headers.get('vary')).to.equal('Origin')
        await denied.text()
      }
      const none = await post(t)
      expect(none.headers.get('access-control-allow-origin')).to.equal(null)
      await none.text()
    })

    it('WebSocket: a listed origin connects, another gets 403, no Origin connects', async () => {
      expect(await wsOutcome(t.wsUrl, APP)).to.equal('open')
      expect(await wsOutcome(t.wsUrl, OTHER)).to.equal(403)
      expect(await wsOutcome(t.wsUrl, undefined)).to.equal('open')
    })
  })

  describe('"*"', () => {
    beforeEach(async () => {
      t = await startTestServer({ corsAllowedOrigins: ['*'] })
    })

    it('allows every origin: echoed on answers and preflights, and WebSockets open', async () => {
      for (const origin of [APP, OTHER]) {
        const res = await post(t, origin)
        expect(res.headers.get('access-control-allow-origin')).to.equal(origin)
        await res.text()
        expect((await preflight(t, origin)).headers.get('access-control-allow-origin')).to.equal(origin)
        expect(await wsOutcome(t.wsUrl, origin)).to.equal('open')
      }
    })
  })
})

describe('rpc/cors originProblem', () => {
  it('* and browser-form origins pass; anything else says what to write', () => {
    for (const ok of ['*', APP, 'https://app.example', 'http://[::1]:8080', 'http://127.0.0.1:26657']) {
      expect(originProblem(ok), ok).to.equal(undefined)
    }
    expect(originProblem('http://localhost:3000/')).to.contain('write "http://localhost:3000"')
    expect(originProblem('http://LocalHost:3000')).to.contain('write "http://localhost:3000"')
    expect(originProblem('https://app.example:443')).to.contain('write "https://app.example"')
    expect(originProblem('http://localhost:3000/path')).to.contain('write "http://localhost:3000"')
    expect(originProblem('localhost:3000')).to.contain('not an http or https origin')
    expect(originProblem('ftp://files.example')).to.contain('not an http or https origin')
    expect(originProblem('localhost')).to.contain('is not an origin')
    expect(originProblem('')).to.contain('is not an origin')
    expect(originProblem('*.example.com')).to.contain('is not an origin')
  })
})
