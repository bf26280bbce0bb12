import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { dashboardExpressions } from '../helpers/prometheus-text.js'
import { waitForValue } from '../helpers/wait.js'
import {
  type ConfigJson,
  freePortBlock,
  metricsUrlOf,
  runCli,
  startMetricsNet,
  type TestNet,
} from './harness.js'

const SCRAPE_CONFIG = 'monitoring/prometheus.yml'
const CHAIN = 'e2e-chain'

/** The `targets` of monitoring/prometheus.yml with their `node` labels, in file order. */
function scrapeTargets(yaml: string): { target: string; node: string }[] {
  return [...yaml.matchAll(/- targets: \['([^']+)'\]\s+labels:\s+node: (\S+)/g)].map((m) => ({
    target: m[1] as string,
    node: m[2] as string,
  }))
}

function prometheusBinary(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error(
      "prometheus is not installed: this test runs the real Prometheus. Install Debian's package " +
        '(as root: apt-get install prometheus, or make test-deps)',
    )
  }
}

interface QueryResult {
  status: string
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }
  error?: string
}

/**
 * The monitoring/ files against the real thing: Debian's Prometheus, started with the repo's
 * scrape config (its ports rewritten to this devnet's), scrapes a 4-validator devnet and answers
 * `pbft_height` for every node through its HTTP API; every query of the Grafana dashboard runs
 * there without error.
 */
describe('e2e: Prometheus scrapes a devnet with monitoring/prometheus.yml', function () {
  this.timeout(120_000)
  let dir: string | undefined
  let net: TestNet | undefined
  let prometheus: ChildProcess | undefined

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pbft-prometheus-'))
  })

  after(async () => {
    const p = prometheus
    if (p !== undefined && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r))
      p.kill('SIGTERM')
      const timer = setTimeout(() => p.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
    await net?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("targets the metrics addresses of `pbft testnet --validators 4`'s default layout (make run)", async () => {
    const out = join(dir as string, 'layout')
    const made = await runCli(['testnet', '--validators', '4', '--output', out])
    expect(made.code, made.stderr).to.equal(0)
    const expected = [0, 1, 2, 3].map((k) => {
      const cfg = JSON.parse(readFileSync(join(out, `node${k}`, 'config.json'), 'utf8')) as ConfigJson
      return { target: cfg.metrics.laddr, node: `node${k}` }
    })
    expect(scrapeTargets(readFileSync(SCRAPE_CONFIG, 'utf8'))).to.deep.equal(expected)
  })

  it('reads pbft_height of every node through the Prometheus HTTP API, and runs every dashboard query', async () => {
    const binary = prometheusBinary()
    net = await startMetricsNet(4, 'prometheus-e2e-client', 2)

    // The repo's file, each target replaced by the matching node's address; scraped every second.
    let yaml = readFileSync(SCRAPE_CONFIG, 'utf8').replace(/scrape_interval: \d+s/, 'scrape_interval: 1s')
    for (const t of scrapeTargets(yaml)) {
      const laddr = new URL(metricsUrlOf(net.node(t.node))).host
      yaml = yaml.replace(`'${t.target}'`, `'${laddr}'`)
    }
    const config = join(dir as string, 'prometheus.yml')
    writeFileSync(config, yaml)
    const port = await freePortBlock(1)
    const log = createWriteStream(join(dir as string, 'prometheus.log'))
    const p = spawn(
      binary,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir as string, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    prometheus = p
    p.stdout?.pipe(log)
    p.stderr?.pipe(log)
    const api = `http://127.0.0.1:${port}/api/v1`
    const query = async (q: string): Promise<QueryResult> => {
      const res = await fetch(`${api}/query?query=${encodeURIComponent(q)}`, {
        signal: AbortSignal.timeout(5_000),
      })
      return (await res.json()) as QueryResult
    }

    const heights = await waitForValue(
      async () => {
        if (p.exitCode !== null) throw new Error(`prometheus exited ${p.exitCode}`)
        const r = await query('pbft_height')
        const byNode = new Map(r.data.result.map((s) => [s.metric.node, s]))
        return byNode.size === 4 ? r.data.result : undefined
      },
      {
        timeoutMs: 60_000,
        intervalMs: 500,
        message: `pbft_height of node0..node3 in Prometheus (log: ${join(dir as string, 'prometheus.log')})`,
      },
    )
    expect(heights.map((s) => s.metric.node).sort()).to.deep.equal(['node0', 'node1', 'node2', 'node3'])
    for (const s of heights) {
      expect(s.metric.chain_id).to.equal(CHAIN)
      expect(s.metric.job).to.equal('pbft')
      expect(Number(s.value[1])).to.be.at.least(2)
    }

    // The dashboard's variable finds the chain, and each panel query is valid PromQL with data.
    const values = (await (await fetch(`${api}/label/chain_id/values`)).json()) as { data: string[] }
    expect(values.data).to.include(CHAIN)
    for (const expr of dashboardExpressions()) {
      const q = expr.replaceAll('$chain_id', CHAIN).replaceAll('$__rate_interval', '1m')
      const r = await query(q)
      expect(r.status, `${q}: ${r.error}`).to.equal('success')
    }
    const peers = await query(`pbft_peers{chain_id="${CHAIN}"}`)
    expect(peers.data.result.map((s) => Number(s.value[1]))).to.deep.equal([3, 3, 3, 3])
  })
})
