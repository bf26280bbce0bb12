/**
 * The analysis and report of `make bench-memory` (bench/memory.ts; docs/PERFORMANCE.md "Memory"):
 * per node, RSS at the end, at its peak and when the tx target was reached, and the growth slope
 * over the second half of the run (least squares, MB per 10 minutes); a table of every node's RSS
 * and V8 heap at round times; the SVG chart. Pure functions over the samples: no I/O.
 * MB here is 10^6 bytes.
 */
import { type Line, renderTimeChart } from './chart.js'

/** One sample of one node; t is seconds since the load started (negative: idle, before the load). */
export interface MemorySample {
  readonly t: number
  /** txs in this node's final blocks (its pbft_block_txs_sum); null when the scrape failed */
  readonly txs: number | null
  /** VmRSS from /proc */
  readonly rssBytes: number | null
  /** prom-client's nodejs_heap_size_used_bytes / _total_bytes and nodejs_external_memory_bytes */
  readonly heapUsedBytes: number | null
  readonly heapTotalBytes: number | null
  readonly externalBytes: number | null
  /** the process's CPU seconds so far, all threads (absent in runs recorded before it was sampled) */
  readonly cpuSec?: number | null
}

export interface NodeSamples {
  readonly node: string
  readonly samples: readonly MemorySample[]
}

export interface NodeMemoryFigures {
  readonly node: string
  /** the last sample before the load (idle) */
  readonly rssIdleMB: number | null
  readonly rssEndMB: number | null
  readonly rssPeakMB: number | null
  /** RSS at the first sample with at least the target txs final on this node */
  readonly rssAtTargetMB: number | null
  readonly targetReachedSec: number | null
  /** least-squares slope of RSS over the second half of the load, MB per 10 minutes */
  readonly rssSlopeMBPer10Min: number | null
  readonly heapUsedEndMB: number | null
  readonly heapUsedPeakMB: number | null
  readonly heapSlopeMBPer10Min: number | null
  /**
   * The heap's floor: the least heap used in each minute of load (right after a collection it is
   * close to the live size, while heap used between collections saw-tooths with garbage). Its
   * value in the last full minute, and its slope over the second half: the leak indicator.
   */
  readonly heapFloorEndMB: number | null
  readonly heapFloorSlopeMBPer10Min: number | null
  readonly externalEndMB: number | null
  /** node CPU (all threads) from the first to the last sample of the load, ms per final tx */
  readonly cpuMsPerTx: number | null
}

/** Seconds per window of the heap floor. */
export const FLOOR_WINDOW_SEC = 60

/**
 * The least value of `field` in each whole window of `windowSec` seconds of load, at the window's
 * middle; windows without a known value are left out, and so is the last window if it is partial.
 */
export function floorSeries(
  samples: readonly MemorySample[],
  field: (s: MemorySample) => number | null,
  windowSec = FLOOR_WINDOW_SEC,
): [number, number][] {
  const loaded = samples.filter((s) => s.t >= 0)
  const last = loaded[loaded.length - 1]
  if (last === undefined) return []
  const windows = Math.floor(last.t / windowSec)
  const mins = new Array<number>(windows).fill(Number.POSITIVE_INFINITY)
  for (const s of loaded) {
    const w = Math.floor(s.t / windowSec)
    const v = field(s)
    if (w < windows && v !== null) mins[w] = Math.min(mins[w] as number, v)
  }
  const out: [number, number][] = []
  mins.forEach((v, w) => {
    if (Number.isFinite(v)) out.push([(w + 0.5) * windowSec, v])
  })
  return out
}

const MB = 1e6

const mb = (bytes: number | null | undefined): number | null =>
  bytes === null || bytes === undefined ? null : bytes / MB

/** The first sample of a series in a Prometheus text exposition (labels ignored); null when absent. */
export function metricValue(text: string, name: string): number | null {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)
  const v = m === null ? Number.NaN : Number(m[1])
  return Number.isFinite(v) ? v : null
}

/** Least-squares slope of y over x (units of y per unit of x); null with fewer than 2 distinct x. */
export function slope(points: readonly (readonly [number, number])[]): number | null {
  const n = points.length
  if (n < 2) return null
  let sx = 0
  let sy = 0
  for (const [x, y] of points) {
    sx += x
    sy += y
  }
  const mx = sx / n
  const my = sy / n
  let sxx = 0
  let sxy = 0
  for (const [x, y] of points) {
    sxx += (x - mx) * (x - mx)
    sxy += (x - mx) * (y - my)
  }
  return sxx === 0 ? null : sxy / sxx
}

/** Slope of a field over the second half of the load (t from half the last sample's t), MB / 10 min. */
function secondHalfSlope(
  samples: readonly MemorySample[],
  field: (s: MemorySample) => number | null,
): number | null {
  const loaded = samples.filter((s) => s.t >= 0)
  const last = loaded[loaded.length - 1]
  if (last === undefined) return null
  const points: [number, number][] = []
  for (const s of loaded) {
    const v = field(s)
    if (s.t >= last.t / 2 && v !== null) points.push([s.t, v])
  }
  const perSec = slope(points)
  return perSec === null ? null : (perSec * 600) / MB
}

function maxOf(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null)
  return known.length === 0 ? null : Math.max(...known)
}

function lastKnown<T>(samples: readonly MemorySample[], field: (s: MemorySample) => T | null): T | null {
  for (let k = samples.length - 1; k >= 0; k--) {
    const v = field(samples[k] as MemorySample)
    if (v !== null) return v
  }
  return null
}

function cpuPerTx(loaded: readonly MemorySample[]): number | null {
  const first = loaded.find((s) => s.cpuSec != null && s.txs !== null)
  const last = loaded.findLast((s) => s.cpuSec != null && s.txs !== null)
  if (first === undefined || last === undefined || last.txs === null || first.txs === null) return null
  const txs = last.txs - first.txs
  return txs > 0 ? (((last.cpuSec as number) - (first.cpuSec as number)) * 1000) / txs : null
}

export function nodeFigures(node: NodeSamples, targetTxs: number): NodeMemoryFigures {
  const idle = node.samples.filter((s) => s.t < 0)
  const loaded = node.samples.filter((s) => s.t >= 0)
  const floor = floorSeries(node.samples, (s) => s.heapUsedBytes)
  const lastFloor = floor[floor.length - 1]
  const floorEnd = lastFloor?.[0] ?? 0
  const floorSlope = slope(floor.filter(([t]) => t >= floorEnd / 2))
  const atTarget = targetTxs > 0 ? loaded.find((s) => s.txs !== null && s.txs >= targetTxs) : undefined
  return {
    node: node.node,
    rssIdleMB: mb(lastKnown(idle, (s) => s.rssBytes)),
    rssEndMB: mb(lastKnown(loaded, (s) => s.rssBytes)),
    rssPeakMB: mb(maxOf(loaded.map((s) => s.rssBytes))),
    rssAtTargetMB: mb(atTarget?.rssBytes),
    targetReachedSec: atTarget?.t ?? null,
    rssSlopeMBPer10Min: secondHalfSlope(node.samples, (s) => s.rssBytes),
    heapUsedEndMB: mb(lastKnown(loaded, (s) => s.heapUsedBytes)),
    heapUsedPeakMB: mb(maxOf(loaded.map((s) => s.heapUsedBytes))),
    heapSlopeMBPer10Min: secondHalfSlope(node.samples, (s) => s.heapUsedBytes),
    heapFloorEndMB: mb(lastFloor?.[1]),
    heapFloorSlopeMBPer10Min: floorSlope === null ? null : (floorSlope * 600) / MB,
    externalEndMB: mb(lastKnown(loaded, (s) => s.externalBytes)),
    cpuMsPerTx: cpuPerTx(loaded),
  }
}

/** A round step for about `rows` rows over `seconds` (seconds: 5 s … 10 min). */
export function tableStep(seconds: number, rows = 10): number {
  const steps = [5, 10, 15, 30, 60, 120, 300, 600]
  return steps.find((s) => seconds / s <= rows) ?? 600
}

function fmt(v: number | null, digits = 0): string {
  return v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits)
}

function clock(t: number): string {
  const s = Math.round(t)
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
}

/**
 * Markdown: one row per `step` seconds of load (the first sample at or after each mark), plus the
 * idle row before the load and the last sample; RSS then V8 heap used per node, MB.
 */
export function memoryTable(nodes: readonly NodeSamples[], step: number): string {
  const first = nodes[0]
  if (first === undefined) return ''
  const rows: { label: string; k: number }[] = []
  const idle = first.samples.findLastIndex((s) => s.t < 0)
  if (idle >= 0) rows.push({ label: 'idle', k: idle })
  const last = first.samples.length - 1
  for (let mark = 0; ; mark += step) {
    const k = first.samples.findIndex((s) => s.t >= mark)
    if (k < 0) break
    if (rows[rows.length - 1]?.k !== k) rows.push({ label: clock(first.samples[k]?.t ?? 0), k })
  }
  if (last >= 0 && rows[rows.length - 1]?.k !== last) {
    rows.push({ label: clock(first.samples[last]?.t ?? 0), k: last })
  }
  const names = nodes.map((n) => n.node)
  const header = [
    '| t (min:s) | txs final | ',
    names.map((n) => `${n} RSS`).join(' | '),
    ' | ',
    names.map((n) => `${n} heap`).join(' | '),
    ' |',
  ].join('')
  const align = `|---:|---:|${names.map(() => '---:').join('|')}|${names.map(() => '---:').join('|')}|`
  const body = rows.map(({ label, k }) => {
    const at = nodes.map((n) => n.samples[k])
    const txs = maxOf(at.map((s) => s?.txs ?? null))
    return [
      `| ${label} | ${fmt(txs)} | `,
      at.map((s) => fmt(mb(s?.rssBytes))).join(' | '),
      ' | ',
      at.map((s) => fmt(mb(s?.heapUsedBytes))).join(' | '),
      ' |',
    ].join('')
  })
  return [header, align, ...body].join('\n')
}

/** Markdown: the per-node figures. */
export function figuresTable(figures: readonly NodeMemoryFigures[], targetTxs: number): string {
  const target = targetTxs > 0 ? `RSS at ${targetTxs.toLocaleString('en')} txs` : 'RSS at target'
  return [
    `| node | RSS idle | ${target} | RSS end | RSS peak | RSS slope, 2nd half (MB / 10 min) | heap used end | heap peak | heap floor, last minute | heap floor slope (MB / 10 min) | external end | CPU ms / tx |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...figures.map(
      (f) =>
        `| ${f.node} | ${fmt(f.rssIdleMB)} | ${fmt(f.rssAtTargetMB)} | ${fmt(f.rssEndMB)} | ${fmt(f.rssPeakMB)} | ` +
        `${fmt(f.rssSlopeMBPer10Min, 1)} | ${fmt(f.heapUsedEndMB)} | ${fmt(f.heapUsedPeakMB)} | ` +
        `${fmt(f.heapFloorEndMB)} | ${fmt(f.heapFloorSlopeMBPer10Min, 1)} | ${fmt(f.externalEndMB)} | ${fmt(f.cpuMsPerTx, 2)} |`,
    ),
  ].join('\n')
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f']

/** RSS per node on top, V8 heap used below (MB over seconds of load; the idle samples left out). */
export function renderMemoryChart(nodes: readonly NodeSamples[], title: string, subtitle: string): string {
  const seconds = Math.max(1, ...nodes.flatMap((n) => n.samples.map((s) => s.t)))
  const lines = (field: (s: MemorySample) => number | null): Line[] =>
    nodes.map((n, i) => ({
      label: n.node,
      color: COLORS[i % COLORS.length] as string,
      points: n.samples.filter((s) => s.t >= 0).map((s) => [s.t, mb(field(s))] as const),
    }))
  return renderTimeChart({
    title,
    subtitle,
    seconds,
    panels: [
      { title: 'Resident set size (VmRSS) per node', unit: 'MB', lines: lines((s) => s.rssBytes) },
      {
        title: `V8 heap used per node; dashed: its floor (least in each ${FLOOR_WINDOW_SEC} s)`,
        unit: 'MB',
        lines: [
          ...lines((s) => s.heapUsedBytes),
          ...nodes.map((n, i) => ({
            label: `${n.node} floor`,
            color: COLORS[i % COLORS.length] as string,
            dashed: true,
            points: floorSeries(n.samples, (s) => s.heapUsedBytes).map(([t, v]) => [t, v / MB] as const),
          })),
        ],
      },
    ],
  })
}

/** What bench/memory.ts writes to its JSON (the fields the report needs). */
export interface MemoryRun {
  readonly startedAt: string
  readonly config: { readonly validators: number; readonly rate: number; readonly targetTxs: number }
  readonly machine: { readonly cpus: number }
  readonly nodes: readonly NodeSamples[]
  /** the machine's 1-minute load average at each sample */
  readonly loadAvg: readonly { readonly t: number; readonly loadAvg1m: number }[]
}

export interface MemoryReport {
  readonly figures: NodeMemoryFigures[]
  /** seconds of load sampled, txs final then (the most any node's metrics showed) */
  readonly loadSec: number
  readonly finalTxs: number
  readonly meanLoadAvg1m: number
  readonly subtitle: string
  readonly md: string
  readonly svg: string
}

/** The figures, the Markdown and the chart of a run (finished, or partial while it runs). */
export function memoryReport(run: MemoryRun): MemoryReport {
  const { validators, rate, targetTxs } = run.config
  const figures = run.nodes.map((n) => nodeFigures(n, targetTxs))
  const lastSamples = run.nodes.map((n) => n.samples[n.samples.length - 1])
  const loadSec = Math.max(0, ...lastSamples.map((s) => s?.t ?? 0))
  const finalTxs = Math.max(0, ...lastSamples.map((s) => s?.txs ?? 0))
  const loadAvgs = run.loadAvg.filter((l) => l.t >= 0).map((l) => l.loadAvg1m)
  const meanLoadAvg1m = loadAvgs.reduce((a, b) => a + b, 0) / Math.max(1, loadAvgs.length)
  const step = tableStep(loadSec)
  const subtitle =
    `${validators} validators, ${rate} tx/s offered, ${finalTxs} txs final in ${loadSec.toFixed(0)} s ` +
    `(${(finalTxs / Math.max(1, loadSec)).toFixed(0)} tx/s), ${run.machine.cpus} CPUs, ` +
    `load avg ${meanLoadAvg1m.toFixed(1)}, ${run.startedAt}`
  const md = [
    `# pbft-node bench-memory, ${run.startedAt}`,
    '',
    subtitle,
    '',
    figuresTable(figures, targetTxs),
    '',
    `RSS and V8 heap used (MB = 10^6 bytes) every ${step} s of load:`,
    '',
    memoryTable(run.nodes, step),
    '',
  ].join('\n')
  const svg = renderMemoryChart(run.nodes, 'pbft-node memory under constant load', subtitle)
  return { figures, loadSec, finalTxs, meanLoadAvg1m, subtitle, md, svg }
}

/**
 * `--node-arg-at I:ARG` (repeatable): ARG for node I only, after the `--node-arg`s — an A/B of V8
 * options inside one run, every node under the same load at the same time (node0 is view 0's
 * primary; compare replicas with replicas).
 */
export function nodeArgsAt(specs: readonly string[], nodes: number): Map<number, string[]> {
  const out = new Map<number, string[]>()
  for (const spec of specs) {
    const m = /^(\d+):(.+)$/.exec(spec)
    const i = Number(m?.[1])
    if (m === null || i >= nodes)
      throw new Error(`--node-arg-at wants NODE:ARG with NODE below ${nodes}, got ${spec}`)
    out.set(i, [...(out.get(i) ?? []), m[2] as string])
  }
  return out
}
