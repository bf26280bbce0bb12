/**
 * The block explorer's files (docs/EXPLORER.md), served by the RPC server under `/explorer/`: the
 * page, its stylesheet and its ES modules, read from dist/explorer (what `npm run build` writes).
 * Only names of the form [a-z0-9-]+.(html|css|js|js.map) directly in that folder are served, so no
 * path can leave it; anything else is a 404. `GET /` from a browser is sent here by server.ts.
 */
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'

export const EXPLORER_PATH = '/explorer/'

/** Where the built explorer is: dist/explorer beside dist/rpc (this module's own folder's sibling). */
export const DEFAULT_EXPLORER_ROOT = fileURLToPath(new URL('../explorer/', import.meta.url))

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  map: 'application/json; charset=utf-8',
}

/** One flat folder of files with plain names: nothing with a slash, a dot-dot or an escape gets through. */
const FILE_NAME = /^[a-z0-9][a-z0-9-]*\.(html|css|js|js\.map)$/

/** Served with every explorer response: the page loads only its own files and talks only to this node. */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy':
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
}

export interface ExplorerRoute {
  /** Whether `path` is the explorer's (then it has answered), or not (the caller goes on routing). */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean>
}

function sendText(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.headersSent) return
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    ...SECURITY_HEADERS,
    ...headers,
  })
  res.end(body)
}

export function createExplorerRoute(root: string = DEFAULT_EXPLORER_ROOT): ExplorerRoute {
  const base = root.endsWith('/') ? root : `${root}/`
  return {
    async handle(req, res, path) {
      if (path === '/explorer') {
        sendText(res, 301, `moved to ${EXPLORER_PATH}\n`, { location: EXPLORER_PATH })
        return true
      }
      if (!path.startsWith(EXPLORER_PATH)) return false
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendText(res, 405, 'the explorer is read with GET\n', { allow: 'GET, HEAD' })
        return true
      }
      let name: string
      try {
        name = decodeURIComponent(path.slice(EXPLORER_PATH.length)) || 'index.html'
      } catch {
        sendText(res, 400, 'malformed path\n')
        return true
      }
      const match = FILE_NAME.exec(name)
      if (match === null) {
        sendText(res, 404, `not found: ${EXPLORER_PATH}${name.slice(0, 100)}\n`)
        return true
      }
      let body: Buffer
      try {
        body = await readFile(base + name)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'ENOENT' || code === 'EISDIR') {
          const hint = name === 'index.html' ? ' (the explorer is not built: run npm run build)' : ''
          sendText(res, 404, `not found: ${EXPLORER_PATH}${name}${hint}\n`)
          return true
        }
        throw err
      }
      if (res.destroyed || res.headersSent) return true
      const ext = name.endsWith('.js.map') ? 'map' : (match[1] as string)
      res.writeHead(200, {
        'content-type': CONTENT_TYPES[ext] as string,
        'content-length': String(body.length),
        // the files change only with a new build of the node: revalidate, never serve a stale module
        'cache-control': 'no-cache',
        ...SECURITY_HEADERS,
      })
      res.end(req.method === 'HEAD' ? undefined : body)
      return true
    },
  }
}
