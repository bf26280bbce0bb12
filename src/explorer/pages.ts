/**
 * The explorer's pages (docs/EXPLORER.md): each reads what it shows from the node's RPC, draws it,
 * and keeps it live from the WebSocket subscriptions while it is the page shown.
 */
import type { BlockResult, HeaderJson, ValidatorsResult } from '../rpc/types.js'
import { DecodeError, decodeTxFields, fromHex, type TxFields, toHex } from './codec.js'
import { fields, h, isoTime, link, liveAge, mono, printable, short, stat, table } from './dom.js'
import { batch, call, type Live, NOT_FOUND, RpcCallError } from './rpc.js'
import { chainRates, participation } from './stats.js'
import { type BlockCheck, sha256, verifyBlock } from './verify.js'

/** What a page gets: where to draw, and subscriptions that end when the page is left. */
export interface PageContext {
  readonly main: HTMLElement
  /** false once another page is shown: a late answer must not draw over it */
  current(): boolean
  subscribe: Live['subscribe']
  /** runs `fn` every `ms` while the page is shown */
  every(ms: number, fn: () => void): void
}

export type Page = (ctx: PageContext, arg: string) => Promise<void>

/** How many recent blocks the averages and the participation are computed over. */
const WINDOW = 100
const RECENT = 20
const HASH = /^(0x)?[0-9a-fA-F]{64}$/

/** A page's error state: what went wrong, in words, never a blank page. */
export function errorBox(title: string, detail?: string): HTMLElement {
  return h(
    'div',
    { class: 'error', 'data-test': 'error' },
    h('strong', {}, title),
    detail === undefined ? null : h('div', {}, detail),
  )
}

function draw(ctx: PageContext, ...nodes: Node[]): void {
  if (ctx.current()) ctx.main.replaceChildren(...nodes)
}

function normalHash(text: string, what: string): string {
  if (!HASH.test(text))
    throw new UserError(`not a ${what}`, `${JSON.stringify(text.slice(0, 80))} is not 64 hex digits`)
  return `0x${text.replace(/^0x/i, '').toLowerCase()}`
}

/** A problem with what the user asked for (shown as it is, no stack). */
export class UserError extends Error {
  override name = 'UserError'
  constructor(
    message: string,
    readonly detail?: string,
  ) {
    super(message)
  }
}

interface DecodedRow {
  hash: string
  fields: TxFields | null
  error?: string
  height?: number
}

async function decodeRow(tx: string, height?: number): Promise<DecodedRow> {
  const hash = toHex(await sha256(fromHex(tx)))
  try {
    return { hash, fields: decodeTxFields(tx), height }
  } catch (err) {
    if (err instanceof DecodeError)
      return { hash, fields: null, error: `undecodable tx: ${err.message}`, height }
    throw err
  }
}

function txRows(rows: DecodedRow[], withHeight: boolean): (Node | string | number | null)[][] {
  return rows.map((r) => {
    const f = r.fields
    const head = [
      link(`/tx/${r.hash}`, mono(short(r.hash), r.hash)),
      ...(withHeight ? [r.height === undefined ? '' : link(`/block/${r.height}`, String(r.height))] : []),
    ]
    if (f === null) return [...head, r.error ?? 'undecodable', '', '', '', '']
    return [
      ...head,
      link(`/account/${f.sender}`, mono(short(f.sender), f.sender)),
      f.nonce,
      f.op,
      link(`/key/${encodeURIComponent(f.key)}`, printable(f.key, 32)),
      f.value === null ? h('span', { class: 'muted' }, '—') : printable(f.value, 40),
    ]
  })
}

const TX_HEAD = ['hash', 'sender', 'nonce', 'op', 'key', 'value']

// ---------------------------------------------------------------------------------------------- home

interface Meta {
  hash: string
  header: HeaderJson
  num_txs: number
}

export const home: Page = async (ctx) => {
  // subscribed first: a block that arrives while the page loads is kept, then applied
  const early: BlockResult[] = []
  let onBlock: ((b: BlockResult) => void) | undefined
  ctx.subscribe('NewBlock', undefined, (data) => {
    if (data.type !== 'NewBlock') return
    if (onBlock === undefined) early.push(data.value)
    else onBlock(data.value)
  })
  let status = await call('status')
  const tip = status.sync_info.latest_block_height
  let metas: Meta[] = (
    await call('blockchain', { min_height: Math.max(0, tip - WINDOW + 1), max_height: tip })
  ).block_metas
  let txs: DecodedRow[] = []
  const withTxs = metas.filter((m) => m.num_txs > 0).reverse()
  const heights: number[] = []
  let counted = 0
  for (const m of withTxs) {
    if (counted >= RECENT) break
    heights.push(m.header.height)
    counted += m.num_txs
  }
  for (const b of await batch(
    'block',
    heights.map((height) => ({ height })),
  )) {
    if (b instanceof RpcCallError) continue
    for (const tx of b.txs.slice(-RECENT).reverse()) txs.push(await decodeRow(tx, b.header.height))
  }
  txs = txs.slice(0, RECENT)
  const fresh = new Set<string>()

  const render = (): void => {
    const rates = chainRates(metas)
    const s = status.sync_info
    const blocks = [...metas].reverse().slice(0, RECENT)
    draw(
      ctx,
      h('h1', {}, 'Chain ', mono(status.node_info.chain_id)),
      h(
        'div',
        { class: 'stats' },
        stat('chain id', status.node_info.chain_id, 'chain-id'),
        stat('version', status.node_info.version),
        stat(
          'tip height',
          link(`/block/${s.latest_block_height}`, String(s.latest_block_height)),
          'tip-height',
        ),
        stat('tip hash', mono(short(s.latest_block_hash), s.latest_block_hash)),
        stat('tip age', liveAge(s.latest_block_time), 'tip-age'),
        stat(
          `block interval (last ${WINDOW})`,
          rates.intervalMs === null ? '—' : `${(rates.intervalMs / 1000).toFixed(2)} s`,
        ),
        stat(`tx/s (last ${WINDOW})`, rates.txPerSec === null ? '—' : rates.txPerSec.toFixed(2)),
        stat('view / primary', [
          String(status.consensus.view),
          ' ',
          mono(short(status.consensus.primary, 8), status.consensus.primary),
        ]),
        stat('catching up', s.catching_up ? h('span', { class: 'warn' }, 'yes') : 'no'),
        stat('mempool', link('/mempool', `${status.mempool.n_txs} txs`), 'mempool-size'),
        stat('peers', link('/peers', String(status.n_peers))),
      ),
      h(
        'div',
        { class: 'cols' },
        h(
          'section',
          { 'data-test': 'recent-blocks' },
          h('h2', {}, `Latest ${RECENT} blocks`),
          table(
            ['height', 'hash', 'age', 'txs', 'proposer'],
            blocks.map((m) => [
              link(`/block/${m.header.height}`, String(m.header.height)),
              link(`/block/${m.hash}`, mono(short(m.hash), m.hash)),
              liveAge(m.header.timestamp),
              m.num_txs,
              mono(short(m.header.proposer, 8), m.header.proposer),
            ]),
            (i) => ({ class: fresh.has((blocks[i] as Meta).hash) ? 'new' : undefined }),
          ),
        ),
        h(
          'section',
          { 'data-test': 'recent-txs' },
          h('h2', {}, `Latest ${RECENT} txs`),
          txs.length === 0
            ? h('p', { class: 'muted' }, `no txs in the last ${WINDOW} blocks`)
            : table(['hash', 'height', ...TX_HEAD.slice(1)], txRows(txs, true), (i) => ({
                class: fresh.has((txs[i] as DecodedRow).hash) ? 'new' : undefined,
                'data-tx': (txs[i] as DecodedRow).hash,
              })),
        ),
      ),
    )
  }
  render()

  let statusAsked = false
  // decoding is asynchronous (tx hashes by WebCrypto): one block after the other keeps the order
  let decoding = Promise.resolve()
  onBlock = (b) => {
    const last = metas[metas.length - 1]
    if (last !== undefined && b.header.height <= last.header.height) return
    fresh.clear()
    fresh.add(b.hash)
    metas = [...metas, { hash: b.hash, header: b.header, num_txs: b.txs.length }].slice(-WINDOW)
    status = {
      ...status,
      sync_info: {
        ...status.sync_info,
        latest_block_height: b.header.height,
        latest_block_hash: b.hash,
        latest_block_time: b.header.timestamp,
        latest_app_hash: b.header.app_hash,
      },
    }
    decoding = decoding
      .then(() =>
        Promise.all(
          b.txs
            .slice(-RECENT)
            .reverse()
            .map((tx) => decodeRow(tx, b.header.height)),
        ),
      )
      .then((rows) => {
        for (const r of rows) fresh.add(r.hash)
        txs = [...rows, ...txs].slice(0, RECENT)
        render()
      })
    // view, mempool and peers change without a block event: ask once per block at most
    if (!statusAsked) {
      statusAsked = true
      void call('status')
        .then((s) => {
          if (s.sync_info.latest_block_height >= status.sync_info.latest_block_height) status = s
          else status = { ...s, sync_info: status.sync_info }
          render()
        })
        .catch(() => {})
        .finally(() => {
          statusAsked = false
        })
    }
  }
  for (const b of early) onBlock(b)
}

// --------------------------------------------------------------------------------------------- block

function certificateView(check: BlockCheck, validators: ValidatorsResult, block: BlockResult): Node {
  const cert = check.certificate
  if (cert === null)
    return h(
      'section',
      {},
      h('h2', {}, 'Commit certificate'),
      h('p', { class: 'muted' }, 'none: the genesis block is final by definition'),
    )
  const n = validators.validators.length
  const summary = `${cert.valid} of ${n} signatures valid`
  const verdict = cert.proves_final
    ? h('span', { class: 'ok' }, `final: a quorum (${cert.quorum} of ${n}) signed this block`)
    : h(
        'span',
        { class: 'bad' },
        `NOT proven final (a quorum is ${cert.quorum} of ${n}${cert.for_this_block ? '' : '; the certificate names another block'})`,
      )
  const states = {
    valid: ['ok', 'signed, valid'],
    invalid: ['bad', 'signed, INVALID signature'],
    absent: ['muted', 'absent'],
  } as const
  return h(
    'section',
    { 'data-test': 'certificate' },
    h('h2', {}, 'Commit certificate'),
    h(
      'p',
      {},
      h('strong', { 'data-test': 'cert-summary', class: cert.valid >= cert.quorum ? 'ok' : 'bad' }, summary),
      ' — ',
      verdict,
    ),
    h(
      'p',
      { class: 'muted' },
      `Verified in this browser with WebCrypto Ed25519 over (chain ${block.header.chain_id}, view ${block.commit?.view}, height ${block.header.height}, the header's recomputed hash), against the validators' public keys.`,
    ),
    table(
      ['validator', 'peer id', 'public key', 'vote'],
      cert.votes.map((v) => {
        const info = validators.validators[v.validator]
        const [cls, text] = states[v.state]
        return [
          v.validator,
          mono(short(info?.peer_id ?? '', 12), info?.peer_id),
          mono(short(v.public_key), v.public_key),
          h('span', { class: cls, 'data-vote': v.state }, text),
        ]
      }),
    ),
    cert.unknown_validators.length === 0
      ? null
      : errorBox(`votes by unknown validator indexes: ${cert.unknown_validators.join(', ')}`),
  )
}

export const block: Page = async (ctx, arg) => {
  const ref = /^\d+$/.test(arg) ? { height: Number(arg) } : { hash: normalHash(arg, 'height or block hash') }
  if ('height' in ref && !Number.isSafeInteger(ref.height)) throw new UserError('not a height', arg)
  const [b, validators, status] = await Promise.all([call('block', ref), call('validators'), call('status')])
  const check = await verifyBlock(
    b,
    validators.validators.map((v) => v.public_key),
  )
  const rows = await Promise.all(b.txs.map((tx) => decodeRow(tx)))
  const height = b.header.height
  const nav = h('p', { 'data-test': 'block-nav' })
  const drawNav = (tip: number): void => {
    nav.replaceChildren(
      height > 0
        ? link(`/block/${height - 1}`, `← block ${height - 1}`)
        : h('span', { class: 'muted' }, '← (genesis)'),
      ' · ',
      height < tip
        ? link(`/block/${height + 1}`, `block ${height + 1} →`)
        : h('span', { class: 'muted' }, 'next: not yet (this is the tip)'),
    )
  }
  drawNav(status.sync_info.latest_block_height)
  const mark = (ok: boolean, yes: string, no: string) =>
    h('span', { class: ok ? 'ok' : 'bad' }, ok ? yes : no)
  const hd = b.header
  draw(
    ctx,
    h('h1', {}, `Block ${height}`),
    nav,
    h(
      'section',
      {},
      fields([
        [
          'hash',
          [
            mono(b.hash),
            ' ',
            mark(
              check.hash_matches,
              '✓ recomputed from the header',
              `✗ the header hashes to ${check.computed_hash}`,
            ),
          ],
        ],
        ['chain', hd.chain_id],
        ['time', [isoTime(hd.timestamp), ' (', liveAge(hd.timestamp), ')']],
        ['view', hd.view],
        ['proposer', mono(hd.proposer)],
        [
          'parent',
          height > 0 ? link(`/block/${hd.parent_hash}`, mono(hd.parent_hash)) : mono(hd.parent_hash),
        ],
        [
          'tx root',
          [
            mono(hd.tx_root),
            ' ',
            mark(check.tx_root_matches, '✓ recomputed from the txs', '✗ does not match the txs'),
          ],
        ],
        ['app hash', mono(hd.app_hash)],
        ['txs', b.txs.length],
      ]),
    ),
    h(
      'section',
      { 'data-test': 'block-txs' },
      h('h2', {}, `Transactions (${b.txs.length})`),
      rows.length === 0 ? h('p', { class: 'muted' }, 'none') : table(TX_HEAD, txRows(rows, false)),
    ),
    certificateView(check, validators, b),
  )
  ctx.subscribe('NewBlock', undefined, (data) => {
    if (data.type === 'NewBlock') drawNav(data.value.header.height)
  })
}

// ------------------------------------------------------------------------------------------------ tx

export const tx: Page = async (ctx, arg) => {
  const hash = normalHash(arg, 'tx hash')
  let latest = 0
  const render = async (): Promise<void> => {
    const mine = ++latest
    let result: Awaited<ReturnType<typeof call<'tx'>>> | null = null
    try {
      result = await call('tx', { hash })
    } catch (err) {
      if (!(err instanceof RpcCallError) || err.code !== NOT_FOUND) throw err
    }
    // a later read (started by a later event) has newer news: this one draws nothing
    if (mine !== latest) return
    if (result === null) {
      draw(
        ctx,
        h('h1', {}, 'Transaction'),
        h('p', {}, mono(hash)),
        errorBox(
          'not known to this node',
          'It may not have reached this node yet; this page updates if it does.',
        ),
      )
      return
    }
    const decoded = await decodeRow(result.tx)
    if (mine !== latest) return
    const cls = { pending: 'warn', final: 'ok', dropped: 'bad' }[result.status]
    const rows: [string, Node | string | number | (Node | string)[]][] = [
      ['hash', mono(result.hash)],
      ['status', h('span', { class: `pill ${cls}`, 'data-test': 'tx-status' }, result.status)],
    ]
    if (result.status === 'final' && result.height !== null) {
      rows.push(
        ['block', link(`/block/${result.height}`, String(result.height))],
        ['index in block', result.index ?? ''],
      )
    }
    if (result.status === 'dropped')
      rows.push(['reason', h('span', { class: 'bad', 'data-test': 'tx-reason' }, result.reason ?? 'dropped')])
    const f = decoded.fields
    if (f === null) rows.push(['tx', decoded.error ?? 'undecodable'])
    else {
      rows.push(
        ['sender', link(`/account/${f.sender}`, mono(f.sender))],
        ['nonce', f.nonce],
        ['op', f.op],
        ['key', link(`/key/${encodeURIComponent(f.key)}`, printable(f.key, 256))],
      )
      if (f.value !== null) rows.push(['value', printable(f.value, 4096)])
      rows.push(['chain', f.chain_id], ['signature', mono(f.signature)])
    }
    draw(
      ctx,
      h('h1', {}, 'Transaction'),
      h('section', {}, fields(rows)),
      h('details', {}, h('summary', {}, 'encoded'), mono(result.tx)),
    )
  }
  // subscribed before the first read: an outcome between the two is not missed
  ctx.subscribe('Tx', hash, () => {
    void render().catch((err: unknown) => draw(ctx, errorBox('cannot read the tx', String(err))))
  })
  await render()
}

// -------------------------------------------------------------------------------------- validators

export const validatorsPage: Page = async (ctx) => {
  const [vals, status, net] = await Promise.all([call('validators'), call('status'), call('net_info')])
  const tip = status.sync_info.latest_block_height
  const heights: number[] = []
  for (let height = Math.max(1, tip - WINDOW + 1); height <= tip; height++) heights.push(height)
  const blocks = (
    await batch(
      'block',
      heights.map((height) => ({ height })),
    )
  ).filter((b): b is BlockResult => !(b instanceof RpcCallError))
  const signed = participation(blocks.map((b) => b.commit))
  const peers = new Set(net.peers.map((p) => p.peer_id))
  draw(
    ctx,
    h('h1', {}, 'Validators'),
    h(
      'p',
      {},
      `view ${vals.view}, primary `,
      mono(vals.primary),
      ` · participation = signatures in the commit certificates of the last ${blocks.length} blocks`,
    ),
    h(
      'section',
      { 'data-test': 'validators' },
      table(
        ['index', 'peer id', 'public key', 'role', 'connection', 'participation'],
        vals.validators.map((v) => {
          const n = signed.get(v.index) ?? 0
          const conn: [string, string, string] =
            v.peer_id === status.node_info.peer_id
              ? ['self', 'ok', 'this node']
              : peers.has(v.peer_id)
                ? ['connected', 'ok', 'connected']
                : ['disconnected', 'bad', 'not connected']
          const connection = h('span', { class: conn[1], 'data-conn': conn[0] }, conn[2])
          return [
            v.index,
            mono(short(v.peer_id, 14), v.peer_id),
            link(`/account/${v.public_key}`, mono(short(v.public_key), v.public_key)),
            v.peer_id === vals.primary ? h('strong', { 'data-role': 'primary' }, 'primary') : 'backup',
            connection,
            blocks.length === 0
              ? '—'
              : `${n} of ${blocks.length} (${Math.round((100 * n) / blocks.length)}%)`,
          ]
        }),
      ),
    ),
  )
}

// -------------------------------------------------------------------------------------- peers, mempool

export const peersPage: Page = async (ctx) => {
  const net = await call('net_info')
  draw(
    ctx,
    h('h1', {}, 'Peers'),
    h(
      'section',
      {},
      fields([
        ['listening', net.listening ? 'yes' : 'no'],
        ['listeners', net.listeners.map((l) => h('div', {}, mono(l)))],
        ['peers', net.n_peers],
      ]),
    ),
    h(
      'section',
      { 'data-test': 'peers' },
      table(
        ['peer id', 'direction', 'addresses'],
        net.peers.map((p) => [mono(p.peer_id), p.direction, p.addrs.map((a) => h('div', {}, mono(a)))]),
      ),
    ),
  )
}

export const mempoolPage: Page = async (ctx) => {
  const render = async (): Promise<void> => {
    const pool = await call('unconfirmed_txs', { limit: 100 })
    const rows = await Promise.all(pool.txs.map((t) => decodeRow(t)))
    draw(
      ctx,
      h('h1', {}, 'Mempool'),
      h(
        'p',
        { 'data-test': 'mempool-total' },
        `${pool.total} pending txs, ${pool.total_bytes} bytes; showing ${pool.n_txs}`,
      ),
      h(
        'section',
        {},
        rows.length === 0 ? h('p', { class: 'muted' }, 'empty') : table(TX_HEAD, txRows(rows, false)),
      ),
    )
  }
  await render()
  // the mempool has no event of its own: on each block, and every 2 s between blocks
  let busy = false
  const refresh = (): void => {
    if (busy) return
    busy = true
    void render()
      .catch(() => {})
      .finally(() => {
        busy = false
      })
  }
  ctx.subscribe('NewBlock', undefined, refresh)
  ctx.every(2_000, refresh)
}

// ------------------------------------------------------------------------------------- account, key

export const account: Page = async (ctx, arg) => {
  const address = normalHash(arg, 'address (a 32-byte public key)')
  const [acct, vals] = await Promise.all([call('account', { address }), call('validators')])
  const validator = vals.validators.find((v) => v.public_key === address)
  draw(
    ctx,
    h('h1', {}, 'Account'),
    h(
      'section',
      { 'data-test': 'account' },
      fields([
        ['address', mono(acct.address)],
        ['nonce', `${acct.nonce} (the next nonce in the final state)`],
        ['pending nonce', `${acct.pending_nonce} (the nonce to sign next, counting the node's mempool)`],
        ...(validator === undefined
          ? []
          : [['validator', `index ${validator.index}, peer ${validator.peer_id}`] as [string, string]]),
      ]),
    ),
  )
}

export const key: Page = async (ctx, arg) => {
  if (arg === '') throw new UserError('no key given')
  const render = async (): Promise<void> => {
    const q = await call('query', { key: arg })
    draw(
      ctx,
      h('h1', {}, 'Key'),
      h(
        'section',
        { 'data-test': 'key' },
        fields([
          ['key', printable(q.key, 256)],
          ['value', q.value === null ? h('span', { class: 'muted' }, '(absent)') : printable(q.value, 4096)],
          ['at height', link(`/block/${q.height}`, String(q.height))],
        ]),
      ),
    )
  }
  await render()
  ctx.subscribe('NewBlock', undefined, () => {
    void render().catch(() => {})
  })
}

// -------------------------------------------------------------------------------------------- search

/** Where a search goes: a height, a block / tx hash or an address (64 hex digits, tried in that order), else a key. */
export async function resolveSearch(query: string): Promise<string> {
  const q = query.trim()
  if (q === '') throw new UserError('nothing to search for')
  if (/^\d+$/.test(q)) return `/block/${q}`
  if (HASH.test(q)) {
    const hash = normalHash(q, 'hash')
    const found = async (p: Promise<unknown>): Promise<boolean> => {
      try {
        await p
        return true
      } catch (err) {
        if (err instanceof RpcCallError && err.code === NOT_FOUND) return false
        throw err
      }
    }
    if (await found(call('block', { hash }))) return `/block/${hash}`
    if (await found(call('tx', { hash }))) return `/tx/${hash}`
    return `/account/${hash}`
  }
  return `/key/${encodeURIComponent(q)}`
}

export const search: Page = async (ctx, arg) => {
  const target = await resolveSearch(arg)
  if (ctx.current()) location.replace(`#${target}`)
}
