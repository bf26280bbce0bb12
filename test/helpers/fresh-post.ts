import { request as httpRequest } from 'node:http'

/** What a POST over its own connection got: the HTTP status, the body text and the latency. */
export interface FreshPost {
  statusCode: number
  body: string
  ms: number
}

/**
 * A JSON-RPC `status` POST to 127.0.0.1:`port` over a fresh connection from `localAddress` that is
 * closed afterwards (node:http without an agent: no keep-alive pool, so the call leaves nothing behind
 * for a per-address connection count). Rejects when the server closes the connection instead of
 * answering, or when no answer comes within `timeoutMs`.
 */
export function freshStatusPost(
  port: number,
  localAddress = '127.0.0.1',
  timeoutMs = 5_000,
): Promise<FreshPost> {
  const started = performance.now()
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'status' })
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        localAddress,
        method: 'POST',
        path: '/',
        agent: false,
        headers: { 'content-type': 'application/json', connection: 'close' },
        timeout: timeoutMs,
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          text += d
        })
        res.on('end', () =>
          resolve({ statusCode: res.statusCode ?? 0, body: text, ms: performance.now() - started }),
        )
      },
    )
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)))
    req.end(body)
  })
}
