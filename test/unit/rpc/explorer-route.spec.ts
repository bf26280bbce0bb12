import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { createRpcServer, type RpcServer } from '../../../src/rpc/server.js'
import { FakeBackend } from './fake-backend.js'

/** A raw GET whose path goes out exactly as written (fetch would resolve the dot segments first). */
function raw(
  port: number,
  path: string,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        body += d
      })
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

describe('rpc/explorer-route: the explorer files under /explorer/ (docs/EXPLORER.md)', () => {
  let dir: string
  let server: RpcServer
  let port: number

  before(async () => {
    // the explorer's folder, with a secret beside it and one in a subfolder that must never be served
    dir = mkdtempSync(join(tmpdir(), 'pbft-explorer-route-'))
    const root = join(dir, 'explorer')
    mkdirSync(join(root, 'sub'), { recursive: true })
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>x</title>')
    writeFileSync(join(root, 'app.js'), 'export const app = 1\n')
    writeFileSync(join(root, 'app.js.map'), '{"version":3}')
    writeFileSync(join(root, 'style.css'), 'body{}')
    writeFileSync(join(root, 'notes.txt'), 'SECRET-TXT')
    writeFileSync(join(root, 'sub', 'inner.js'), 'SECRET-SUB')
    writeFileSync(join(dir, 'secret.js'), 'SECRET-OUTSIDE')
    server = createRpcServer({ port: 0, backend: new FakeBackend(), explorerRoot: root })
    await server.start()
    port = server.address().port
  })

  after(async () => {
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves the page, its modules, stylesheet and source maps with their content types', async () => {
    const cases: [string, string, string][] = [
      ['/explorer/', 'text/html; charset=utf-8', '<!doctype html>'],
      ['/explorer/index.html', 'text/html; charset=utf-8', '<!doctype html>'],
      ['/explorer/app.js', 'text/javascript; charset=utf-8', 'export const app'],
      ['/explorer/style.css', 'text/css; charset=utf-8', 'body{}'],
      ['/explorer/app.js.map', 'application/json; charset=utf-8', '"version"'],
      ['/explorer/app.js?v=1', 'text/javascript; charset=utf-8', 'export const app'],
    ]
    for (const [path, type, start] of cases) {
      const res = await raw(port, path)
      expect(res.status, path).to.equal(200)
      expect(res.headers['content-type'], path).to.equal(type)
      expect(res.body, path).to.include(start)
      expect(res.headers['cache-control'], path).to.equal('no-cache')
      expect(res.headers['x-content-type-options'], path).to.equal('nosniff')
      expect(res.headers['content-security-policy'], path).to.include("default-src 'self'")
    }
  })

  it('never leaves its folder: dot segments, encoded slashes, subfolders, other names are 404', async () => {
    const attempts = [
      '/explorer/../secret.js',
      '/explorer/%2e%2e/secret.js',
      '/explorer/..%2fsecret.js',
      '/explorer/%2e%2e%2fsecret.js',
      '/explorer/..%5csecret.js',
      '/explorer/sub/inner.js',
      '/explorer/sub%2finner.js',
      '/explorer//etc/passwd',
      '/explorer/%2fetc%2fpasswd',
      '/explorer/notes.txt',
      '/explorer/.app.js',
      '/explorer/app.js%00.html',
      '/explorer/APP.JS',
      '/explorer/missing.js',
    ]
    for (const path of attempts) {
      const res = await raw(port, path)
      expect(res.status, path).to.equal(404)
      expect(res.body, path).to.not.match(/SECRET|root:/)
      expect(res.headers['content-type'], path).to.equal('text/plain; charset=utf-8')
    }
  })

  it('a malformed path is 400, /explorer is sent to /explorer/, POST is 405, HEAD has no body', async () => {
    const malformed = await raw(port, '/explorer/%E0%A4%A')
    expect(malformed.status).to.equal(400)
    const bare = await raw(port, '/explorer')
    expect(bare.status).to.equal(301)
    expect(bare.headers.location).to.equal('/explorer/')
    const post = await raw(port, '/explorer/', 'POST')
    expect(post.status).to.equal(405)
    expect(post.headers.allow).to.equal('GET, HEAD')
    const head = await raw(port, '/explorer/app.js', 'HEAD')
    expect(head.status).to.equal(200)
    expect(head.body).to.equal('')
    expect(head.headers['content-length']).to.equal(String('export const app = 1\n'.length))
  })

  it('says so when the explorer is not built', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'pbft-explorer-empty-'))
    const bare = createRpcServer({ port: 0, backend: new FakeBackend(), explorerRoot: empty })
    await bare.start()
    try {
      const res = await raw(bare.address().port, '/explorer/')
      expect(res.status).to.equal(404)
      expect(res.body).to.include('npm run build')
    } finally {
      await bare.stop()
      rmSync(empty, { recursive: true, force: true })
    }
  })
})
