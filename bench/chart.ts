/**
 * A self-contained SVG of one bench run (no chart library): finalized tx/s per second with 5 s
 * averages of finalized and submitted on top, each block's commit latency p50/p99 below, the
 * warm-up shaded in both.
 */
import type { BlockPoint, SeriesPoint } from './types.js'

const WIDTH = 920
const PANEL_HEIGHT = 230
const MARGIN = { left: 70, right: 150, top: 50, gap: 60, bottom: 40 }

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** A round axis maximum and its tick step (1, 2 or 5 × 10^k). */
function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0)) return { max: 1, step: 0.2 }
  const raw = max / ticks
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  return { max: Math.ceil(max / step) * step, step }
}

export interface Line {
  readonly label: string
  readonly color: string
  /** [seconds, value]; a null value breaks the line */
  readonly points: readonly (readonly [number, number | null])[]
  readonly dashed?: boolean
  readonly dots?: boolean
}

interface Bars {
  readonly label: string
  readonly color: string
  /** one value per whole second */
  readonly values: readonly number[]
}

function panel(opts: {
  top: number
  title: string
  unit: string
  seconds: number
  warmupSec: number
  lines: readonly Line[]
  bars?: Bars
}): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right
  const { top, seconds } = opts
  const all = [
    ...opts.lines.flatMap((l) =>
      l.points.map((p) => p[1]).filter((v): v is number => v !== null && Number.isFinite(v)),
    ),
    ...(opts.bars?.values ?? []),
  ]
  const scale = niceScale(Math.max(0, ...all))
  const x = (t: number): number => MARGIN.left + (plotW * t) / Math.max(1, seconds)
  const y = (v: number): number => top + PANEL_HEIGHT - (PANEL_HEIGHT * v) / scale.max
  const out: string[] = []
  out.push(
    `<text x="${MARGIN.left}" y="${top - 12}" font-size="14" font-weight="bold">${esc(opts.title)}</text>`,
  )
  if (opts.warmupSec > 0) {
    out.push(
      `<rect x="${x(0)}" y="${top}" width="${x(opts.warmupSec) - x(0)}" height="${PANEL_HEIGHT}" fill="#eee"/>`,
      `<text x="${x(0) + 4}" y="${top + 14}" font-size="10" fill="#888">warm-up</text>`,
    )
  }
  for (let v = 0; v <= scale.max + 1e-9; v += scale.step) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${+v.toPrecision(6)}</text>`,
    )
  }
  const tStep = niceScale(seconds, 8).step
  for (let t = 0; t <= seconds; t += tStep) {
    out.push(
      `<text x="${x(t)}" y="${top + PANEL_HEIGHT + 16}" font-size="11" text-anchor="middle">${t}s</text>`,
    )
  }
  out.push(
    `<text x="16" y="${top + PANEL_HEIGHT / 2}" font-size="11" transform="rotate(-90 16 ${top + PANEL_HEIGHT / 2})" text-anchor="middle">${esc(opts.unit)}</text>`,
    `<rect x="${MARGIN.left}" y="${top}" width="${plotW}" height="${PANEL_HEIGHT}" fill="none" stroke="#999"/>`,
  )
  const legend: { label: string; color: string; dash: string; bar: boolean }[] = []
  if (opts.bars !== undefined) {
    const { color, values } = opts.bars
    const w = Math.max(1, x(1) - x(0) - 1)
    values.forEach((v, t) => {
      if (v > 0)
        out.push(`<rect x="${x(t) + 0.5}" y="${y(v)}" width="${w}" height="${y(0) - y(v)}" fill="${color}"/>`)
    })
    legend.push({ label: opts.bars.label, color, dash: '', bar: true })
  }
  for (const line of opts.lines) {
    const segments: string[][] = [[]]
    for (const [t, v] of line.points) {
      if (v === null || !Number.isFinite(v)) segments.push([])
      else (segments[segments.length - 1] as string[]).push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`)
    }
    const dash = line.dashed === true ? ' stroke-dasharray="5 3"' : ''
    for (const pts of segments.filter((p) => p.length > 0)) {
      out.push(
        `<polyline points="${pts.join(' ')}" fill="none" stroke="${line.color}" stroke-width="2"${dash}/>`,
      )
      if (line.dots === true) {
        for (const p of pts) {
          const [cx, cy] = p.split(',')
          out.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${line.color}"/>`)
        }
      }
    }
    legend.push({ label: line.label, color: line.color, dash, bar: false })
  }
  legend.forEach((l, k) => {
    const ly = top + 16 + k * 18
    const lx = MARGIN.left + plotW + 12
    out.push(
      l.bar
        ? `<rect x="${lx}" y="${ly - 9}" width="20" height="10" fill="${l.color}"/>`
        : `<line x1="${lx}" x2="${lx + 20}" y1="${ly - 4}" y2="${ly - 4}" stroke="${l.color}" stroke-width="2"${l.dash}/>`,
      `<text x="${lx + 26}" y="${ly}" font-size="11">${esc(l.label)}</text>`,
    )
  })
  return out.join('\n')
}

/** Trailing moving average over `width` seconds, drawn at the end of each window. */
function movingAverage(values: readonly number[], width: number): [number, number | null][] {
  const out: [number, number | null][] = []
  let sum = 0
  values.forEach((v, t) => {
    sum += v
    if (t >= width) sum -= values[t - width] as number
    out.push([t + 1, t + 1 >= width ? sum / width : null])
  })
  return out
}

export function renderChart(opts: {
  title: string
  subtitle: string
  series: readonly SeriesPoint[]
  blocks: readonly BlockPoint[]
  warmupSec: number
}): string {
  const seconds = opts.series.length
  const height = MARGIN.top + 2 * PANEL_HEIGHT + MARGIN.gap + MARGIN.bottom + 20
  const body = [
    `<text x="${MARGIN.left}" y="20" font-size="16" font-weight="bold">${esc(opts.title)}</text>`,
    `<text x="${MARGIN.left}" y="38" font-size="11" fill="#555">${esc(opts.subtitle)}</text>`,
    panel({
      top: MARGIN.top + 30,
      title: 'Throughput: finalized txs per second (bars) and 5 s averages',
      unit: 'tx/s',
      seconds,
      warmupSec: opts.warmupSec,
      bars: { label: 'finalized /s', color: '#c6dbef', values: opts.series.map((p) => p.finalized) },
      lines: [
        {
          label: 'finalized, 5 s avg',
          color: '#1f77b4',
          points: movingAverage(
            opts.series.map((p) => p.finalized),
            5,
          ),
        },
        {
          label: 'submitted, 5 s avg',
          color: '#999',
          points: movingAverage(
            opts.series.map((p) => p.submitted),
            5,
          ),
          dashed: true,
        },
      ],
    }),
    panel({
      top: MARGIN.top + 30 + PANEL_HEIGHT + MARGIN.gap,
      title: "Commit latency (submit → final) of each block's txs",
      unit: 'ms',
      seconds,
      warmupSec: opts.warmupSec,
      lines: [
        {
          label: 'p50 per block',
          color: '#2ca02c',
          points: opts.blocks.map((b) => [b.t, b.p50] as const),
          dots: true,
        },
        {
          label: 'p99 per block',
          color: '#d62728',
          points: opts.blocks.map((b) => [b.t, b.p99] as const),
          dots: true,
        },
      ],
    }),
  ]
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height + 30}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n')
}

/** Panels of lines over time (seconds on x, no warm-up): e.g. each node's memory in `make bench-memory`. */
export function renderTimeChart(opts: {
  title: string
  subtitle: string
  seconds: number
  panels: readonly { title: string; unit: string; lines: readonly Line[] }[]
}): string {
  const top = MARGIN.top + 30
  const height = top + opts.panels.length * (PANEL_HEIGHT + MARGIN.gap) - MARGIN.gap + MARGIN.bottom
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${MARGIN.left}" y="20" font-size="16" font-weight="bold">${esc(opts.title)}</text>`,
    `<text x="${MARGIN.left}" y="38" font-size="11" fill="#555">${esc(opts.subtitle)}</text>`,
    ...opts.panels.map((p, k) =>
      panel({
        top: top + k * (PANEL_HEIGHT + MARGIN.gap),
        title: p.title,
        unit: p.unit,
        seconds: opts.seconds,
        warmupSec: 0,
        lines: p.lines,
      }),
    ),
    '</svg>',
    '',
  ].join('\n')
}
