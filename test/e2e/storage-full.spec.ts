import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { signTx } from '../../src/codec/tx-sign.js'
import { Ed25519Signer } from '../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../src/crypto/hash.js'
import { RpcErrorCode } from '../../src/rpc/errors.js'
import { waitFor, waitForValue } from '../helpers/wait.js'
import { freePortBlock, patchConfig, rpc, runCli, TestNode } from './harness.js'

/**
 * A node whose disk fills up (docs/RPC.md "Error codes", STORAGE_UNAVAILABLE): its data/ is a 4 MiB
 * tmpfs, which the test fills with a file. broadcast_tx_sync must then answer STORAGE_UNAVAILABLE,
 * and the node stop with a fatal log line; once the file is gone it must start again and serve
 * the same chain. Mounting needs root: without it the test fails and says so.
 */

const CHAIN = 'e2e-storage'
const TMPFS_SIZE = '4m'

interface JsonRpcAnswer {
  result?: unknown
  error?: { code: number; message: string; data?: unknown }
}

async function call(url: string, method: string, params: object): Promise<JsonRpcAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(30_000),
  })
  return (await res.json()) as JsonRpcAnswer
}

/** Writes zeros into `path` until the file system refuses with ENOSPC; returns the bytes written. */
function fillUp(path: string): number {
  const fd = openSync(path, 'w')
  let written = 0
  try {
    // Big chunks first, then ever smaller ones for the last partly free pages.
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size)
      for (;;) {
        try {
          written += writeSync(fd, chunk)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
          break
        }
      }
    }
  } finally {
    closeSync(fd)
  }
  return written
}

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
}

function stderrOf(err: unknown): string {
  const stderr = (err as { stderr?: Buffer }).stderr
  return (stderr?.toString('utf8').trim() || String(err)).split('\n')[0] ?? ''
}

describe('e2e: storage full, on a node whose data/ is a small tmpfs', function () {
  this.timeout(180_000)
  let dir: string | undefined
  let data: string | undefined
  let mounted = false
  let node: TestNode
  let url: string
  const client = new Ed25519Signer(sha256(new TextEncoder().encode('e2e-storage-client')))
  let nonce = 0
  const tx = (key: string, value: string): string =>
    toHex(signTx(client, { chainId: CHAIN, nonce: nonce++, op: { type: 'set', key, value } }))

  before(async () => {
    const uid = process.getuid?.()
    if (uid !== 0) {
      throw new Error(
        `this test mounts a tmpfs, which needs root, but it runs as uid ${uid ?? 'unknown'}: run it as root`,
      )
    }
    dir = mkdtempSync(join(tmpdir(), 'pbft-e2e-storage-'))
    const home = join(dir, 'node0')
    const init = await runCli(['init', '--home', home, '--chain-id', CHAIN])
    expect(init.code, init.stderr).to.equal(0)
    const base = await freePortBlock(2)
    patchConfig(home, (cfg) => {
      cfg.rpc = { ...(cfg.rpc as object), laddr: `127.0.0.1:${base}` }
      cfg.p2p = { ...(cfg.p2p as object), listen: [`/ip4/127.0.0.1/tcp/${base + 1}`] }
    })
    // pbft init leaves data/ empty: the store is created on the tmpfs at the first start.
    data = join(home, 'data')
    try {
      sh('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'tmpfs', data])
    } catch (err) {
      throw new Error(
        `cannot mount a ${TMPFS_SIZE} tmpfs on ${data} (${stderrOf(err)}): this test needs mount(8) and CAP_SYS_ADMIN`,
      )
    }
    mounted = true
    node = new TestNode('node0', home, dir)
    url = node.rpcUrl
  })

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && node !== undefined) {
      try {
        console.error(readFileSync(node.logPath, 'utf8').trim().split('\n').slice(-40).join('\n'))
      } catch {}
    }
  })

  after(async () => {
    await node?.stop('SIGKILL')
    if (mounted && data !== undefined) {
      try {
        sh('umount', [data])
      } catch (err) {
        // Something still holds it (should not happen once the node is dead): detach it anyway.
        console.error(`umount ${data}: ${stderrOf(err)}; detaching it lazily`)
        sh('umount', ['-l', data])
      }
    }
    if (dir !== undefined && process.env.PBFT_KEEP_E2E !== '1') rmSync(dir, { recursive: true, force: true })
  })

  it('answers STORAGE_UNAVAILABLE, stops with a fatal log, and restarts with its chain once space is freed', async () => {
    node.start()
    await waitForValue(() => node.status(), {
      message: 'node0 serving RPC',
      timeoutMs: 30_000,
      intervalMs: 100,
    })
    // A chain worth keeping: a few final blocks.
    for (let i = 0; i < 3; i++) {
      await rpc(url, 'broadcast_tx_commit', { tx: tx(`key${i}`, `value${i}`), timeout_ms: 30_000 })
    }
    const before = await node.status()
    const tip = before.sync_info.latest_block_height
    expect(tip).to.be.at.least(1)
    const hashes: string[] = []
    for (let h = 1; h <= tip; h++)
      hashes.push((await rpc<{ hash: string }>(url, 'block', { height: h })).hash)

    const filler = join(data as string, 'filler')
    const filled = fillUp(filler)
    const free = statfsSync(data as string)
    console.log(
      `      filled ${(filled / 1024).toFixed(0)} KiB of the ${TMPFS_SIZE} tmpfs; ${free.bavail * free.bsize} bytes left`,
    )

    // A tx bigger than a page: its journal record needs a fresh page of the full tmpfs, so the
    // write fails however full LevelDB's current log page is.
    const answer = await call(url, 'broadcast_tx_sync', { tx: tx('big', 'x'.repeat(4000)) })
    console.log(`      broadcast_tx_sync on the full disk: ${JSON.stringify(answer.error ?? answer.result)}`)
    expect(answer.error).to.deep.equal({
      code: RpcErrorCode.STORAGE_UNAVAILABLE,
      message: "storage full: no space left on the node's disk; the tx was not accepted",
      data: { reason: 'no_space' },
    })

    // The node cannot go on without a store it can write: it stops, with a fatal log line.
    await waitFor(() => !node.running, { message: 'node0 to exit', timeoutMs: 60_000, intervalMs: 100 })
    const exitCode = node.child?.exitCode
    const fatal = readFileSync(node.logPath, 'utf8')
      .split('\n')
      .filter((line) => line.includes('"level":60'))
    console.log(`      node exited with code ${exitCode}; fatal: ${fatal[0]?.slice(0, 300)}`)
    expect(exitCode).to.equal(1)
    expect(fatal.length).to.be.at.least(1)
    expect(fatal.join('\n')).to.match(/No space left on device/)

    // Space freed, the node starts again: same chain, and it takes txs again.
    rmSync(filler)
    node.start()
    const after = await waitForValue(() => node.status(), {
      message: 'node0 serving RPC after the restart',
      timeoutMs: 30_000,
      intervalMs: 100,
    })
    expect(after.sync_info.latest_block_height).to.be.at.least(tip)
    for (let h = 1; h <= tip; h++) {
      expect((await rpc<{ hash: string }>(url, 'block', { height: h })).hash, `block ${h}`).to.equal(
        hashes[h - 1],
      )
    }
    for (let i = 0; i < 3; i++) {
      expect((await rpc<{ value: string | null }>(url, 'query', { key: `key${i}` })).value).to.equal(
        `value${i}`,
      )
    }
    // The refused tx was never acknowledged; whatever became of it, the next nonce is the node's to say.
    nonce = (await rpc<{ pending_nonce: number }>(url, 'account', { address: toHex(client.publicKey) }))
      .pending_nonce
    const receipt = await rpc<{ height: number }>(url, 'broadcast_tx_commit', {
      tx: tx('after', 'restart'),
      timeout_ms: 30_000,
    })
    expect(receipt.height).to.be.greaterThan(tip)
    console.log(
      `      restarted: blocks 1..${tip} unchanged, tip ${after.sync_info.latest_block_height}, new tx final at ${receipt.height}`,
    )
  })
})
