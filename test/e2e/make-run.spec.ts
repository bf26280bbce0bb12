import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { signTx } from '../../src/codec/tx-sign.js'
import { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../src/crypto/hash.js'
import { waitFor, waitForValue } from '../helpers/wait.js'
import { CLI, freePortBlock, rpc, runCli } from './harness.js'

/** `pbft devnet --dir DIR` as `make run` starts it, with its combined output. */
class Devnet {
  private readonly child: ChildProcess
  output = ''
  readonly exited: Promise<number | null>

  constructor(dir: string) {
    this.child = spawn(process.execPath, [CLI, 'devnet', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PBFT_LOG_PRETTY: '0' },
    })
    const collect = (d: Buffer) => {
      this.output += d.toString()
    }
    this.child.stdout?.on('data', collect)
    this.child.stderr?.on('data', collect)
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)))
  }

  /** What Ctrl-C does: SIGINT to the devnet, which stops every node cleanly. */
  async interrupt(): Promise<number | null> {
    this.child.kill('SIGINT')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000)
    const code = await this.exited
    clearTimeout(timer)
    return code
  }
}

interface Status {
  sync_info: { latest_block_height: number }
  n_peers: number
}

/**
 * What `make run` does after building: `pbft testnet --output keys` (a folder holding only its
 * README) once, then `pbft devnet --dir keys` — all nodes in one terminal; Ctrl-C stops them all;
 * the next run resumes the same chain.
 */
describe('e2e: make run (pbft testnet into keys/, pbft devnet)', function () {
  this.timeout(120_000)
  let dir: string
  let running: Devnet | undefined

  // In a hook, not in the describe body: that also runs on --dry-run or a --grep that skips this
  // suite, where no after() would remove the directory.
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pbft-makerun-'))
  })

  after(async () => {
    await running?.interrupt()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('starts 4 nodes with prefixed logs, stops all cleanly on SIGINT, and the next run resumes the chain', async () => {
    const keys = join(dir, 'keys')
    mkdirSync(keys)
    writeFileSync(join(keys, 'README.md'), '# keys\n')
    const base = await freePortBlock(8)
    const made = await runCli(['testnet', '--validators', '4', '--output', keys, '--base-port', String(base)])
    expect(made.code, made.stderr).to.equal(0)
    const url = `http://127.0.0.1:${base + 1}`
    const ready = async () => {
      const st = await rpc<Status>(url, 'status')
      return st.n_peers >= 3 ? st : undefined
    }

    running = new Devnet(keys)
    await waitFor(() => running?.output.includes(url) === true, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: 'the devnet banner with RPC URLs',
    })
    await waitForValue(ready, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: 'node0 connected to the other 3',
    })
    // the banner names the explorer, and the node serves it from dist/explorer
    expect(running.output).to.include(`Block explorer (live, in a browser): ${url}/explorer/`)
    const page = await fetch(`${url}/explorer/`)
    expect(page.status).to.equal(200)
    expect(await page.text()).to.include('<script type="module" src="app.js">')
    const app = await fetch(`${url}/explorer/app.js`)
    expect(app.headers.get('content-type')).to.equal('text/javascript; charset=utf-8')
    await app.text()
    const signer = new Ed25519Signer(sha256(new TextEncoder().encode('make-run-client')))
    const tx = toHex(
      signTx(signer, { chainId: 'pbft-local', nonce: 0, op: { type: 'set', key: 'k', value: 'v' } }),
    )
    const receipt = await rpc<{ height: number }>(url, 'broadcast_tx_commit', { tx, timeout_ms: 30_000 })
    const first = running
    expect(await first.interrupt(), first.output.slice(-3000)).to.equal(0)
    running = undefined
    expect(first.output).to.include('stopping 4 nodes')
    for (const n of ['node0', 'node1', 'node2', 'node3']) {
      expect(first.output).to.match(new RegExp(`^\\[${n}\\] `, 'm'))
      expect(first.output).to.include(`[${n}] exited 0`)
    }

    running = new Devnet(keys)
    const st = await waitForValue(ready, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: 'the restarted devnet',
    })
    expect(st.sync_info.latest_block_height).to.be.at.least(receipt.height)
    const q = await rpc<{ value: string | null }>(url, 'query', { key: 'k' })
    expect(q.value).to.equal('v')
    expect(await running.interrupt()).to.equal(0)
    running = undefined
  })
})
