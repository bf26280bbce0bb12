/**
 * The figures of `make bench-scale` (scale.ts): turns one run's raw samples (load result, node CPU,
 * the nodes' gossip receive counters before and after the steady window) into a row, and a sweep's
 * rows into a markdown table and an SVG chart. Pure: no I/O, so it is unit-tested
 * (test/unit/bench/scale-report.spec.ts).
 *
 * Per-node figures are means over the nodes of what each one spent or received: what one node on
 * its own machine would pay, whatever the number of cores the sweep's nodes shared.
 */
import type { LatencySummary } from './types.js'

/** One topic's counters as net_info reports them (`gossip_received`, docs/RPC.md). */
export interface ReceivedJson {
  readonly messages: number
  readonly bytes: number
  readonly duplicates: number
  readonly duplicate_bytes: number
}

/** A node's `net_info.gossip_received`: topic kind → counters since it started. */
export type ReceivedSnapshot = Readonly<Record<string, ReceivedJson>>

export const CONSENSUS_TOPICS = [
  'preprepare',
  'prepare',
  'commit',
  'reject',
  'viewchange',
  'newview',
] as const

/** Messages and bytes received, first copies and duplicates apart. */
export interface ReceivedCost {
  readonly messages: number
  readonly bytes: number
  readonly duplicates: number
  readonly duplicateBytes: number
}

export interface ScaleRunInput {
  readonly validators: number
  /** offered tx/s; 0 = closed loop */
  readonly rate: number
  readonly steady: {
    readonly txPerSec: number
    readonly latencyMs: LatencySummary
    readonly blocks: number
    readonly blocksPerSec: number
    readonly meanTxsPerBlock: number
    readonly finalizedTxs: number
  }
  /** each node's CPU seconds in the steady window */
  readonly cpuSec: readonly (number | undefined)[]
  readonly steadyWallSec: number
  /** each node's counters at the start and at the end of the steady window */
  readonly receivedBefore: readonly ReceivedSnapshot[]
  readonly receivedAfter: readonly ReceivedSnapshot[]
  /** the cluster's idle figures (measured once per validator count, before any load) */
  readonly idle: IdleFigures
  readonly agree: boolean
}

export interface IdleFigures {
  readonly seconds: number
  /** mean over the nodes of CPU ms per second of wall time, with no load */
  readonly cpuMsPerSecPerNode: number | null
  /** mean over the nodes of gossip copies (all topics, first + duplicate) received per second */
  readonly gossipCopiesPerSecPerNode: number | null
}

export interface ScaleRow {
  readonly validators: number
  readonly rate: number
  readonly txPerSec: number
  readonly latencyMs: { readonly p50: number; readonly p99: number }
  readonly blocksPerSec: number
  readonly meanTxsPerBlock: number
  readonly blocks: number
  /** all nodes' CPU in the window ÷ finalized txs */
  readonly nodeCpuMsPerTx: number | null
  /** mean node CPU in the window ÷ blocks final in it */
  readonly cpuMsPerBlockPerNode: number | null
  /** mean node CPU as a share of one core in the window */
  readonly cpuSharePerNode: number | null
  readonly idleCpuMsPerSecPerNode: number | null
  readonly idleGossipCopiesPerSecPerNode: number | null
  /** consensus topics, per block, mean over the nodes */
  readonly consensusPerBlockPerNode: ReceivedCost | null
  /** the tx topic, per block, mean over the nodes */
  readonly txGossipPerBlockPerNode: ReceivedCost | null
  /** consensusPerBlockPerNode topic by topic (which kind the bytes are: PRE-PREPARE or view changes) */
  readonly consensusByTopicPerBlockPerNode: Readonly<Record<string, ReceivedCost | null>>
  readonly agree: boolean
}

const ZERO: ReceivedCost = { messages: 0, bytes: 0, duplicates: 0, duplicateBytes: 0 }

function add(a: ReceivedCost, b: ReceivedCost): ReceivedCost {
  return {
    messages: a.messages + b.messages,
    bytes: a.bytes + b.bytes,
    duplicates: a.duplicates + b.duplicates,
    duplicateBytes: a.duplicateBytes + b.duplicateBytes,
  }
}

function scale(a: ReceivedCost, k: number): ReceivedCost {
  return {
    messages: a.messages * k,
    bytes: a.bytes * k,
    duplicates: a.duplicates * k,
    duplicateBytes: a.duplicateBytes * k,
  }
}

/** What one node received on `topics` between two snapshots (a topic missing counts as zero). */
export function receivedBetween(
  before: ReceivedSnapshot,
  after: ReceivedSnapshot,
  topics: readonly string[],
): ReceivedCost {
  let sum = ZERO
  for (const t of topics) {
    const a = after[t]
    if (a === undefined) continue
    const b = before[t] ?? { messages: 0, bytes: 0, duplicates: 0, duplicate_bytes: 0 }
    sum = add(sum, {
      messages: a.messages - b.messages,
      bytes: a.bytes - b.bytes,
      duplicates: a.duplicates - b.duplicates,
      duplicateBytes: a.duplicate_bytes - b.duplicate_bytes,
    })
  }
  return sum
}

/** Mean over the nodes of what each received on `topics` in the window, per block (null without blocks). */
export function perBlockPerNode(
  before: readonly ReceivedSnapshot[],
  after: readonly ReceivedSnapshot[],
  topics: readonly string[],
  blocks: number,
): ReceivedCost | null {
  if (blocks <= 0 || after.length === 0 || before.length !== after.length) return null
  let sum = ZERO
  for (let k = 0; k < after.length; k++)
    sum = add(sum, receivedBetween(before[k] as ReceivedSnapshot, after[k] as ReceivedSnapshot, topics))
  return scale(sum, 1 / (after.length * blocks))
}

export function summarizeScaleRun(input: ScaleRunInput): ScaleRow {
  const { steady } = input
  const known = input.cpuSec.filter((c): c is number => c !== undefined)
  const complete = known.length === input.cpuSec.length && known.length > 0
  const totalCpu = known.reduce((s, c) => s + c, 0)
  const meanCpu = complete ? totalCpu / known.length : null
  return {
    validators: input.validators,
    rate: input.rate,
    txPerSec: steady.txPerSec,
    // the load result went through JSON, where NaN (no tx finalized) became null
    latencyMs: { p50: steady.latencyMs.p50 ?? Number.NaN, p99: steady.latencyMs.p99 ?? Number.NaN },
    blocksPerSec: steady.blocksPerSec,
    meanTxsPerBlock: steady.meanTxsPerBlock,
    blocks: steady.blocks,
    nodeCpuMsPerTx: complete && steady.finalizedTxs > 0 ? (totalCpu * 1000) / steady.finalizedTxs : null,
    cpuMsPerBlockPerNode: meanCpu !== null && steady.blocks > 0 ? (meanCpu * 1000) / steady.blocks : null,
    cpuSharePerNode: meanCpu !== null && input.steadyWallSec > 0 ? meanCpu / input.steadyWallSec : null,
    idleCpuMsPerSecPerNode: input.idle.cpuMsPerSecPerNode,
    idleGossipCopiesPerSecPerNode: input.idle.gossipCopiesPerSecPerNode,
    consensusPerBlockPerNode: perBlockPerNode(
      input.receivedBefore,
      input.receivedAfter,
      CONSENSUS_TOPICS,
      steady.blocks,
    ),
    txGossipPerBlockPerNode: perBlockPerNode(
      input.receivedBefore,
      input.receivedAfter,
      ['tx'],
      steady.blocks,
    ),
    consensusByTopicPerBlockPerNode: Object.fromEntries(
      CONSENSUS_TOPICS.map((t) => [
        t,
        perBlockPerNode(input.receivedBefore, input.receivedAfter, [t], steady.blocks),
      ]),
    ),
    agree: input.agree,
  }
}

/**
 * Idle figures from CPU seconds and receive snapshots taken `seconds` apart with no load:
 * mean over the nodes of CPU ms per wall second, and of gossip copies received per second.
 */
export function idleFigures(
  seconds: number,
  cpuBefore: readonly (number | undefined)[],
  cpuAfter: readonly (number | undefined)[],
  receivedBefore: readonly ReceivedSnapshot[],
  receivedAfter: readonly ReceivedSnapshot[],
): IdleFigures {
  const deltas: number[] = []
  for (let k = 0; k < cpuAfter.length; k++) {
    const a = cpuAfter[k]
    const b = cpuBefore[k]
    if (a !== undefined && b !== undefined) deltas.push(a - b)
  }
  const cpu =
    seconds > 0 && deltas.length === cpuAfter.length && deltas.length > 0
      ? (deltas.reduce((s, d) => s + d, 0) * 1000) / deltas.length / seconds
      : null
  let copies: number | null = null
  if (seconds > 0 && receivedAfter.length > 0 && receivedBefore.length === receivedAfter.length) {
    let sum = 0
    for (let k = 0; k < receivedAfter.length; k++) {
      const after = receivedAfter[k] as ReceivedSnapshot
      const r = receivedBetween(receivedBefore[k] as ReceivedSnapshot, after, Object.keys(after))
      sum += r.messages + r.duplicates
    }
    copies = sum / receivedAfter.length / seconds
  }
  return { seconds, cpuMsPerSecPerNode: cpu, gossipCopiesPerSecPerNode: copies }
}

function num(v: number | null | undefined, digits = 0): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–'
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

export function rateLabel(rate: number): string {
  return rate === 0 ? 'closed loop' : `${num(rate)}`
}

/** The sweep as one markdown table, rows in the order given. */
export function scaleTable(rows: readonly ScaleRow[]): string {
  const head = [
    'n',
    'offered tx/s',
    'finalized tx/s',
    'p50 ms',
    'p99 ms',
    'blocks/s',
    'txs/block',
    'CPU per tx, ms (all nodes)',
    'CPU per block per node, ms',
    'idle CPU per node, ms/s',
    'consensus msgs per block per node (first + dup)',
    'consensus KB per block per node (first + dup)',
  ]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const r of rows) {
    const c = r.consensusPerBlockPerNode
    lines.push(
      `| ${[
        r.validators,
        rateLabel(r.rate),
        num(r.txPerSec),
        num(r.latencyMs.p50),
        num(r.latencyMs.p99),
        num(r.blocksPerSec, 1),
        num(r.meanTxsPerBlock),
        num(r.nodeCpuMsPerTx, 2),
        num(r.cpuMsPerBlockPerNode),
        num(r.idleCpuMsPerSecPerNode, 1),
        c === null ? '–' : `${num(c.messages, 1)} + ${num(c.duplicates, 1)}`,
        c === null ? '–' : `${num(c.bytes / 1024, 1)} + ${num(c.duplicateBytes / 1024, 1)}`,
      ].join(' | ')}${r.agree ? '' : ' (NODES DISAGREE)'} |`,
    )
  }
  return `${lines.join('\n')}\n`
}

/** Idle figures per validator count as a markdown table. */
export function idleTable(rows: readonly ({ readonly validators: number } & IdleFigures)[]): string {
  const lines = [
    '| n | idle CPU per node, ms/s | gossip copies received per s per node | measured over |',
    '|---|---|---|---|',
  ]
  for (const r of rows)
    lines.push(
      `| ${r.validators} | ${num(r.cpuMsPerSecPerNode, 1)} | ${num(r.gossipCopiesPerSecPerNode, 1)} | ${r.seconds} s |`,
    )
  return `${lines.join('\n')}\n`
}

// ---------- chart ----------

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2']
const PANEL_W = 460
const PANEL_H = 200
const PAD = { left: 60, top: 36, right: 20, bottom: 34 }

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function niceMax(max: number): { max: number; step: number } {
  if (!(max > 0)) return { max: 1, step: 0.25 }
  const raw = max / 4
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  return { max: Math.ceil(max / step) * step, step }
}

interface PanelLine {
  readonly label: string
  readonly color: string
  readonly dashed?: boolean
  /** one value per x category (null: no point) */
  readonly values: readonly (number | null)[]
}

function linePanel(
  x0: number,
  y0: number,
  title: string,
  xLabels: readonly string[],
  lines: PanelLine[],
): string {
  const w = PANEL_W - PAD.left - PAD.right
  const h = PANEL_H - PAD.top - PAD.bottom
  const all = lines.flatMap((l) => l.values.filter((v): v is number => v !== null && Number.isFinite(v)))
  const s = niceMax(Math.max(0, ...all))
  const px = (i: number): number =>
    x0 + PAD.left + (xLabels.length <= 1 ? w / 2 : (w * i) / (xLabels.length - 1))
  const py = (v: number): number => y0 + PAD.top + h - (h * v) / s.max
  const out = [
    `<text x="${x0 + PAD.left}" y="${y0 + 20}" font-size="12" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${x0 + PAD.left}" y="${y0 + PAD.top}" width="${w}" height="${h}" fill="none" stroke="#999"/>`,
  ]
  for (let v = 0; v <= s.max + 1e-9; v += s.step) {
    out.push(
      `<line x1="${x0 + PAD.left}" x2="${x0 + PAD.left + w}" y1="${py(v)}" y2="${py(v)}" stroke="#e5e5e5"/>`,
      `<text x="${x0 + PAD.left - 5}" y="${py(v) + 4}" font-size="10" text-anchor="end">${+v.toPrecision(6)}</text>`,
    )
  }
  xLabels.forEach((label, i) => {
    out.push(
      `<text x="${px(i)}" y="${y0 + PAD.top + h + 14}" font-size="10" text-anchor="middle">${esc(label)}</text>`,
    )
  })
  for (const line of lines) {
    const pts: string[] = []
    line.values.forEach((v, i) => {
      if (v !== null && Number.isFinite(v)) pts.push(`${px(i).toFixed(1)},${py(v).toFixed(1)}`)
    })
    if (pts.length === 0) continue
    const dash = line.dashed === true ? ' stroke-dasharray="4 3"' : ''
    out.push(
      `<polyline points="${pts.join(' ')}" fill="none" stroke="${line.color}" stroke-width="2"${dash}/>`,
    )
    for (const p of pts) {
      const [cx, cy] = p.split(',')
      out.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${line.color}"/>`)
    }
  }
  return out.join('\n')
}

/**
 * The sweep as one SVG: panels over the offered rate (one line per validator count) for finalized
 * tx/s, p50 and p99, CPU per tx, CPU per block per node, consensus messages per block per node
 * (first copies solid, duplicates dashed), and idle CPU per node over the validator count.
 */
export function renderScaleChart(rows: readonly ScaleRow[], subtitle: string): string {
  const ns = [...new Set(rows.map((r) => r.validators))].sort((a, b) => a - b)
  const rates = [...new Set(rows.map((r) => r.rate))].sort((a, b) => (a === 0 ? 1 : b === 0 ? -1 : a - b))
  const xLabels = rates.map((r) => (r === 0 ? 'closed' : String(r)))
  const at = (n: number, rate: number): ScaleRow | undefined =>
    rows.find((r) => r.validators === n && r.rate === rate)
  const perN = (f: (r: ScaleRow) => number | null, dashed = false, suffix = ''): PanelLine[] =>
    ns.map((n, i) => ({
      label: `n=${n}${suffix}`,
      color: COLORS[i % COLORS.length] as string,
      dashed,
      values: rates.map((rate) => {
        const r = at(n, rate)
        return r === undefined ? null : f(r)
      }),
    }))
  const panels: [string, readonly string[], PanelLine[]][] = [
    ['finalized tx/s (x: offered tx/s)', xLabels, perN((r) => r.txPerSec)],
    [
      'latency p50 (solid) and p99 (dashed), ms',
      xLabels,
      [...perN((r) => r.latencyMs.p50), ...perN((r) => r.latencyMs.p99, true)],
    ],
    ['node CPU per tx, ms (all nodes)', xLabels, perN((r) => r.nodeCpuMsPerTx)],
    ['node CPU per block per node, ms', xLabels, perN((r) => r.cpuMsPerBlockPerNode)],
    [
      'consensus msgs/block/node: first (solid), dup (dashed)',
      xLabels,
      [
        ...perN((r) => r.consensusPerBlockPerNode?.messages ?? null),
        ...perN((r) => r.consensusPerBlockPerNode?.duplicates ?? null, true),
      ],
    ],
    [
      'idle CPU per node, ms/s (x: validators)',
      ns.map(String),
      [
        {
          label: 'idle',
          color: '#333',
          values: ns.map((n) => rows.find((r) => r.validators === n)?.idleCpuMsPerSecPerNode ?? null),
        },
      ],
    ],
  ]
  const cols = 2
  const width = cols * PANEL_W
  const legendY = 56
  const top = legendY + 24
  const height = top + Math.ceil(panels.length / cols) * PANEL_H + 10
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${PAD.left}" y="22" font-size="16" font-weight="bold">pbft-node scale sweep</text>`,
    `<text x="${PAD.left}" y="40" font-size="10" fill="#555">${esc(subtitle)}</text>`,
  ]
  ns.forEach((n, i) => {
    const x = PAD.left + i * 70
    out.push(
      `<line x1="${x}" x2="${x + 18}" y1="${legendY}" y2="${legendY}" stroke="${COLORS[i % COLORS.length]}" stroke-width="3"/>`,
      `<text x="${x + 22}" y="${legendY + 4}" font-size="11">n=${n}</text>`,
    )
  })
  panels.forEach(([title, labels, lines], i) => {
    out.push(linePanel((i % cols) * PANEL_W, top + Math.floor(i / cols) * PANEL_H, title, labels, lines))
  })
  out.push('</svg>', '')
  return out.join('\n')
}
