import { readFileSync } from 'node:fs'
import { expect } from 'chai'
import {
  DASHBOARD_PATH,
  dashboardExpressions,
  documentedMetrics,
  familyOf,
} from '../helpers/prometheus-text.js'

/**
 * monitoring/grafana/pbft-dashboard.json: a Grafana dashboard whose every query names only metrics
 * docs/MONITORING.md lists (and test/e2e/metrics.spec.ts checks those against a running node's
 * scrape), filtered on the dashboard's chain_id variable, with a panel for each thing an operator
 * watches. test/e2e/prometheus.spec.ts runs the same queries through a real Prometheus.
 */
interface Target {
  refId: string
  expr: string
  datasource: { uid: string }
}
interface Panel {
  id: number
  type: string
  title: string
  gridPos: { x: number; y: number; w: number; h: number }
  targets: Target[]
}
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[]
  title: string
  uid: string
  schemaVersion: number
  templating: { list: { name: string; query: { query: string } }[] }
  panels: Panel[]
}

/** The metric names in a PromQL expression (identifiers of our families; functions and labels aside). */
function metricNames(expr: string): string[] {
  const withoutLabels = expr.replace(/\{[^}]*\}/g, '{}').replace(/by \([^)]*\)/g, '')
  return [...withoutLabels.matchAll(/\b((?:pbft|process|nodejs|libp2p)_[a-z0-9_]+)\b/g)].map(
    (m) => m[1] as string,
  )
}

describe('monitoring/: the Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard
  const documented = new Set(documentedMetrics().map((m) => m.name))

  it('is a Grafana dashboard importable with a Prometheus data source and a chain_id variable', () => {
    expect(dashboard.title).to.be.a('string').and.not.equal('')
    expect(dashboard.uid).to.match(/^[a-z0-9-]{1,40}$/)
    expect(dashboard.schemaVersion).to.be.a('number')
    expect(dashboard.__inputs).to.deep.include({
      name: 'DS_PROMETHEUS',
      label: 'Prometheus',
      description: 'the Prometheus that scrapes the nodes',
      type: 'datasource',
      pluginId: 'prometheus',
      pluginName: 'Prometheus',
    })
    const chain = dashboard.templating.list.find((v) => v.name === 'chain_id')
    expect(chain?.query.query).to.equal('label_values(pbft_height, chain_id)')
    const ids = dashboard.panels.map((p) => p.id)
    expect(new Set(ids).size).to.equal(ids.length)
    for (const p of dashboard.panels) {
      expect(p.gridPos.w, p.title).to.be.within(1, 24)
      expect(p.gridPos.h, p.title).to.be.greaterThan(0)
      expect(p.targets.length, p.title).to.be.greaterThan(0)
      for (const t of p.targets) expect(t.datasource.uid).to.equal(['$', '{DS_PROMETHEUS}'].join(''))
    }
  })

  it('queries only documented metrics, each filtered on the chain_id variable', () => {
    const exprs = dashboardExpressions()
    expect(exprs.length).to.be.greaterThan(10)
    for (const expr of exprs) {
      const names = metricNames(expr)
      expect(names, expr).to.not.be.empty
      for (const name of names)
        expect(documented.has(familyOf(name, documented)), `${name} in ${expr}`).to.equal(true)
      const selectors = expr.match(/[a-z0-9_]+\{[^}]*\}/g) ?? []
      expect(selectors.length, expr).to.equal(names.length)
      for (const s of selectors) expect(s, expr).to.include('chain_id="$chain_id"')
    }
  })

  it('has panels for height, tx/s, block interval, latency percentiles, view changes, peers, mempool and missing validators', () => {
    const all = dashboard.panels.map((p) => p.targets.map((t) => t.expr).join(' ')).join('\n')
    for (const needed of [
      'pbft_height',
      'rate(pbft_block_txs_sum',
      'pbft_block_interval_seconds_bucket',
      'histogram_quantile(0.99, sum by (le) (rate(pbft_commit_latency_seconds_bucket',
      'pbft_rpc_request_duration_seconds_bucket',
      'pbft_consensus_phase_duration_seconds_bucket',
      'pbft_view_changes_total',
      'pbft_peers',
      'pbft_mempool_txs',
      'pbft_certificate_missing_validators',
      'pbft_validator_missed_certificates_total',
    ])
      expect(all).to.include(needed)
  })
})
