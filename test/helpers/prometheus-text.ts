import { readFileSync } from 'node:fs'

/**
 * Reading Prometheus' text exposition format and docs/MONITORING.md's metric tables, for the tests
 * that keep the served names, the documented names and the dashboard's queries in step.
 */

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Exposition {
  /** family name → type (counter, gauge, histogram, summary, untyped) */
  readonly types: ReadonlyMap<string, string>
  readonly samples: readonly Sample[]
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {}
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g
  for (const m of text.matchAll(re)) labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, '$1')
  return labels
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>()
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ')
      types.set(name as string, type as string)
      continue
    }
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not an exposition line: ${line}`)
    samples.push({ name: m[1] as string, labels: parseLabels(m[3] ?? ''), value: Number(m[4]) })
  }
  return { types, samples }
}

/** The family of a sample name: a histogram's `_bucket`, `_sum` and `_count` belong to it. */
export function familyOf(name: string, families: ReadonlySet<string> | ReadonlyMap<string, unknown>): string {
  if (families.has(name)) return name
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix) && families.has(name.slice(0, -suffix.length)))
      return name.slice(0, -suffix.length)
  }
  return name
}

export interface DocumentedMetric {
  readonly name: string
  readonly type: string
  readonly labels: readonly string[]
}

/** Every row of the tables under "## Metrics" in docs/MONITORING.md: `name` | type | `labels` | meaning. */
export function documentedMetrics(path = 'docs/MONITORING.md'): DocumentedMetric[] {
  const text = readFileSync(path, 'utf8')
  const start = text.indexOf('\n## Metrics')
  if (start < 0) throw new Error(`${path} has no "## Metrics" section`)
  const end = text.indexOf('\n## ', start + 1)
  const out: DocumentedMetric[] = []
  for (const line of text.slice(start, end < 0 ? undefined : end).split('\n')) {
    const cells = line.split('|').map((c) => c.trim())
    const name = /^`([a-z_:][a-z0-9_:]*)`$/.exec(cells[1] ?? '')?.[1]
    if (name === undefined) continue
    const labels = [...(cells[3] ?? '').matchAll(/`([a-z_][a-z0-9_]*)`/g)].map((l) => l[1] as string)
    out.push({ name, type: cells[2] ?? '', labels })
  }
  return out
}

export const DASHBOARD_PATH = 'monitoring/grafana/pbft-dashboard.json'

/** Every PromQL expression of the Grafana dashboard's panels. */
export function dashboardExpressions(path = DASHBOARD_PATH): string[] {
  const d = JSON.parse(readFileSync(path, 'utf8')) as { panels: { targets: { expr: string }[] }[] }
  return d.panels.flatMap((p) => p.targets.map((t) => t.expr))
}
