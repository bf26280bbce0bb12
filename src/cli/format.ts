/** The text (`--output text`) form of each read command's result: what people see in a terminal. */
import type { DecodedTx } from '../rpc/describe-tx.js'
import type {
  AccountResult,
  BlockchainResult,
  BlockResult,
  NetInfoResult,
  QueryResult,
  StatusResult,
  TxResult,
  ValidatorsResult,
} from '../rpc/types.js'
import { fields, isoTime, printable, shortHex, table } from './output.js'

export type TxDescription = DecodedTx | { error: string }

const yesNo = (b: boolean): string => (b ? 'yes' : 'no')

/** One table row per tx: index, hash, sender, nonce, op, key, value. */
export function txTable(decoded: readonly TxDescription[]): string {
  return table(
    ['#', 'hash', 'sender', 'nonce', 'op', 'key', 'value'],
    decoded.map((d, i) =>
      'error' in d
        ? [i, d.error, '', '', '', '', '']
        : [i, d.hash, shortHex(d.sender), d.nonce, d.op, printable(d.key, 32), printable(d.value ?? '', 40)],
    ),
  )
}

/** The fields of one decoded tx, for `tx get` and `tx sign`. */
export function txFields(d: TxDescription): [string, string | number][] {
  if ('error' in d) return [['tx', d.error]]
  const rows: [string, string | number][] = [
    ['sender', d.sender],
    ['nonce', d.nonce],
    ['op', d.op],
    ['key', printable(d.key)],
  ]
  if (d.value !== null) rows.push(['value', printable(d.value)])
  rows.push(['chain', d.chain_id])
  return rows
}

export function formatStatus(s: StatusResult): string {
  const sync = s.sync_info
  return fields([
    ['peer id', `${s.node_info.peer_id} (${s.consensus.is_validator ? 'validator' : 'observer'})`],
    ['chain', s.node_info.chain_id],
    ['version', s.node_info.version],
    ['height', sync.latest_block_height],
    ['block hash', sync.latest_block_hash],
    ['block time', isoTime(sync.latest_block_time)],
    ['app hash', sync.latest_app_hash],
    ['catching up', yesNo(sync.catching_up)],
    ['view', `${s.consensus.view} (primary ${s.consensus.primary})`],
    ['mempool', `${s.mempool.n_txs} txs, ${s.mempool.total_bytes} bytes`],
    ['peers', s.n_peers],
    ['listening', s.node_info.listen_addrs.join(', ') || '(none)'],
  ])
}

export function formatBlock(b: BlockResult, decoded: readonly TxDescription[]): string {
  const h = b.header
  const commit =
    b.commit === null
      ? 'none (the genesis block)'
      : `${b.commit.votes.length} signatures in view ${b.commit.view} (validators ${b.commit.votes
          .map((v) => v.validator)
          .join(', ')})`
  return [
    fields([
      ['height', h.height],
      ['hash', b.hash],
      ['chain', h.chain_id],
      ['time', isoTime(h.timestamp)],
      ['view', h.view],
      ['proposer', h.proposer],
      ['parent', h.parent_hash],
      ['tx root', h.tx_root],
      ['app hash', h.app_hash],
      ['commit', commit],
      ['txs', b.txs.length],
    ]),
    ...(decoded.length > 0 ? ['', txTable(decoded)] : []),
  ].join('\n')
}

export function formatBlocks(r: BlockchainResult): string {
  return [
    table(
      ['height', 'hash', 'time', 'txs', 'view', 'proposer'],
      r.block_metas.map((m) => [
        m.header.height,
        m.hash,
        isoTime(m.header.timestamp),
        m.num_txs,
        m.header.view,
        shortHex(m.header.proposer),
      ]),
    ),
    `(tip ${r.last_height})`,
  ].join('\n')
}

export function formatTx(r: TxResult, decoded: TxDescription): string {
  const rows: [string, string | number][] = [
    ['hash', r.hash],
    ['status', r.status],
  ]
  if (r.status === 'final') {
    rows.push(['height', r.height ?? ''], ['index', r.index ?? ''], ['block', r.block_hash ?? ''])
  }
  if (r.reason !== undefined) rows.push(['reason', r.reason])
  return fields([...rows, ...txFields(decoded)])
}

export function formatQuery(q: QueryResult): string {
  return fields([
    ['key', printable(q.key)],
    ['value', q.value === null ? '(absent)' : printable(q.value)],
    ['height', q.height],
  ])
}

export function formatAccount(a: AccountResult): string {
  return fields([
    ['address', a.address],
    ['nonce', `${a.nonce} (the next nonce in the final state)`],
    ['pending nonce', `${a.pending_nonce} (the nonce to sign next, counting the node's mempool)`],
  ])
}

export function formatValidators(r: ValidatorsResult): string {
  return [
    `view ${r.view}, primary ${r.primary}`,
    table(
      ['index', 'peer id', 'public key', ''],
      r.validators.map((v) => [v.index, v.peer_id, v.public_key, v.peer_id === r.primary ? 'primary' : '']),
    ),
  ].join('\n')
}

export function formatNetInfo(r: NetInfoResult): string {
  return [
    fields([
      ['listening', `${yesNo(r.listening)}${r.listeners.length > 0 ? ` on ${r.listeners.join(', ')}` : ''}`],
      ['peers', r.n_peers],
    ]),
    '',
    table(
      ['peer id', 'direction', 'addrs'],
      r.peers.map((p) => [p.peer_id, p.direction, p.addrs.join(', ')]),
    ),
  ].join('\n')
}

export function formatMempool(
  r: { n_txs: number; total: number; total_bytes: number },
  decoded: readonly TxDescription[],
): string {
  return [`${r.total} pending txs, ${r.total_bytes} bytes; showing ${r.n_txs}`, '', txTable(decoded)].join(
    '\n',
  )
}
