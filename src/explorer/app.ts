/**
 * The explorer's entry point (docs/EXPLORER.md): hash routes (#/block/5, #/tx/0x…), one page at a
 * time, the search box, and the WebSocket every page's live updates come through.
 */
import { h, refreshAges } from './dom.js'
import {
  account,
  block,
  errorBox,
  home,
  key,
  mempoolPage,
  type Page,
  peersPage,
  search,
  tx,
  UserError,
  validatorsPage,
} from './pages.js'
import { Live, RpcCallError } from './rpc.js'

const ROUTES: Record<string, Page> = {
  '': home,
  block,
  tx,
  validators: validatorsPage,
  peers: peersPage,
  mempool: mempoolPage,
  account,
  key,
  search,
}

const main = document.getElementById('app') as HTMLElement
const liveBadge = document.getElementById('live') as HTMLElement
let generation = 0
let cleanups: (() => void)[] = []

const live = new Live((state, reconnected) => {
  liveBadge.textContent = state === 'open' ? 'live' : 'reconnecting…'
  liveBadge.className = `live ${state === 'open' ? 'on' : 'off'}`
  // events were missed while it was closed: draw the page afresh
  if (state === 'open' && reconnected) void show()
})

/** The page and its argument of a location hash: "#/block/5" → block, "5". */
export function parseRoute(hash: string): { name: string; arg: string } {
  const path = hash.replace(/^#\/?/, '')
  const slash = path.indexOf('/')
  const name = slash === -1 ? path : path.slice(0, slash)
  const raw = slash === -1 ? '' : path.slice(slash + 1)
  let arg: string
  try {
    arg = decodeURIComponent(raw)
  } catch {
    throw new UserError('malformed address', `cannot decode ${JSON.stringify(raw.slice(0, 80))}`)
  }
  return { name, arg }
}

function describe(err: unknown): HTMLElement {
  if (err instanceof UserError) return errorBox(err.message, err.detail)
  if (err instanceof RpcCallError)
    return errorBox(err.message, err.code === null ? 'Is the node running?' : `RPC error ${err.code}`)
  return errorBox('something went wrong', err instanceof Error ? err.message : String(err))
}

async function show(): Promise<void> {
  const mine = ++generation
  for (const stop of cleanups) stop()
  cleanups = []
  const ctx = {
    main,
    current: () => mine === generation,
    subscribe: (...args: Parameters<Live['subscribe']>) => {
      const stop = live.subscribe(...args)
      if (mine === generation) cleanups.push(stop)
      else stop()
      return stop
    },
    every: (ms: number, fn: () => void) => {
      if (mine !== generation) return
      const timer = setInterval(fn, ms)
      cleanups.push(() => clearInterval(timer))
    },
  }
  try {
    const { name, arg } = parseRoute(location.hash)
    const page = ROUTES[name]
    if (page === undefined || (name === '' && arg !== '')) {
      throw new UserError(
        'no such page',
        `${JSON.stringify(location.hash.slice(0, 80))}: try the home page, a block, a tx, an account or a key`,
      )
    }
    main.replaceChildren(h('p', { class: 'muted' }, 'loading…'))
    await page(ctx, arg)
  } catch (err) {
    if (ctx.current()) main.replaceChildren(describe(err), h('p', {}, h('a', { href: '#/' }, '← home')))
  }
}

document.getElementById('search')?.addEventListener('submit', (e) => {
  e.preventDefault()
  const input = document.getElementById('search-input') as HTMLInputElement
  const q = input.value.trim()
  if (q === '') return
  input.value = ''
  location.hash = `#/search/${encodeURIComponent(q)}`
})
window.addEventListener('hashchange', () => void show())
setInterval(() => refreshAges(main), 1_000)
live.connect()
void show()
