import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { KvApp } from '../../../src/app/kv-app.js'
import { verifyCertificate } from '../../../src/chain/certificate.js'
import { ChainStore } from '../../../src/chain/store.js'
import { blockHash, txHash } from '../../../src/codec/chain.js'
import type { Block } from '../../../src/codec/types.js'
import {
  CHAIN_ID,
  makeValidators,
  WRITER_GENESIS_KV,
  WRITER_VALIDATORS,
} from '../../fixtures/chain-builders.js'
import { waitFor } from '../../helpers/wait.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const WRITER = join(ROOT, 'test/fixtures/chain-writer.ts')

/** A writer process and the last height it reported durable. */
class Writer {
  readonly child: ChildProcess
  lastCommitted = -1
  stderr = ''
  exited = false

  constructor(dir: string, mode: 'durable' | 'deferred' = 'durable') {
    this.child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, mode], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let pending = ''
    this.child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString()
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        const m = /^committed (\d+)$/.exec(line)
        if (m !== null) this.lastCommitted = Number(m[1])
      }
    })
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString()
    })
    this.child.on('exit', () => {
      this.exited = true
    })
  }

  async waitForHeight(height: number, timeoutMs: number): Promise<void> {
    await waitFor(() => this.exited || this.lastCommitted >= height, {
      timeoutMs,
      intervalMs: 5,
      message: `the writer to report height ${height}`,
    }).catch((err: Error) => {
      throw new Error(`${err.message}; it reached ${this.lastCommitted}: ${this.stderr}`)
    })
    if (this.lastCommitted < height)
      throw new Error(`writer exited early at ${this.lastCommitted}: ${this.stderr}`)
  }

  async kill(): Promise<void> {
    if (this.exited) return
    const exited = new Promise((r) => this.child.once('exit', r))
    this.child.kill('SIGKILL')
    await exited
  }
}

/** Everything the tip claims must be there, and nothing after it. */
async function checkConsistent(store: ChainStore, reportedHeight: number): Promise<void> {
  const validators = makeValidators(WRITER_VALIDATORS)
  const tip = store.tip()
  // durable once reported; at most the one block in flight beyond it
  expect(tip.height).to.be.within(reportedHeight, reportedHeight + 1)
  const block = (await store.getBlock(tip.height)) as Block
  expect(block, 'tip block').to.not.equal(undefined)
  expect(block.header).to.deep.equal(tip.header)
  expect(blockHash(block.header)).to.deep.equal(tip.hash)
  const cert = await store.getCertificate(tip.height)
  expect(cert, 'tip certificate').to.not.equal(undefined)
  if (cert !== undefined)
    verifyCertificate(cert, CHAIN_ID, validators.set, { height: tip.height, blockHash: tip.hash })
  for (let i = 0; i < block.txs.length; i++) {
    expect(await store.getTxLocation(txHash(block.txs[i] as Uint8Array))).to.deep.equal({
      height: tip.height,
      index: i,
    })
  }
  expect(await store.getBlock(tip.height + 1)).to.equal(undefined)
  expect(await store.getCertificate(tip.height + 1)).to.equal(undefined)

  // the stored state hashes to the tip's post-state (KvApp.load checks it) ...
  const loaded = await KvApp.load(store, CHAIN_ID)
  // ... and equals the state obtained by replaying every stored block from genesis
  const replay = KvApp.fromGenesis(CHAIN_ID, WRITER_GENESIS_KV)
  for (let h = 1; h <= tip.height; h++) {
    const b = (await store.getBlock(h)) as Block
    expect(b.header.appHash, `app_hash in header ${h}`).to.deep.equal(replay.appHash())
    const ex = replay.execute(b.txs)
    if (!ex.ok) expect.fail(`stored block ${h} does not execute: ${ex.reason}`)
    replay.apply(ex)
  }
  expect(replay.appHash()).to.deep.equal(loaded.appHash())
  expect(loaded.appHash()).to.deep.equal(tip.appHash)
}

describe('chain/store crash consistency (SIGKILL during commits)', function () {
  this.timeout(120_000)
  let dir: string
  let writer: Writer | undefined

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pbft-crash-'))
  })

  afterEach(async () => {
    await writer?.kill()
    writer = undefined
    await rm(dir, { recursive: true, force: true })
  })

  // Kill points: a varying number of blocks after each restart, then a varying delay of a few ms,
  // so the SIGKILL lands at different phases of the build/execute/commit cycle (a fixed list, not
  // random, so a failure replays).
  const rounds: [number, number][] = [
    [3, 0],
    [17, 2],
    [8, 5],
    [29, 1],
    [6, 7],
    [11, 3],
    [4, 9],
    [13, 4],
  ]

  it('leaves the previous or the next block, never a mix, across repeated kills', async () => {
    await killRepeatedly('durable', rounds)
  })

  // Catch-up commits without an fsync per block: a process crash must still leave a block boundary
  // (the batches are atomic; the OS keeps what the process wrote). A power loss could lose the
  // unflushed tail too, which no process-level test can show.
  it('leaves a block boundary too when blocks are committed without an fsync each (catch-up)', async () => {
    await killRepeatedly('deferred', rounds.slice(0, 5))
  })

  async function killRepeatedly(mode: 'durable' | 'deferred', kills: [number, number][]): Promise<void> {
    const data = join(dir, 'data')
    let reported = 0
    for (const [extra, jitterMs] of kills) {
      writer = new Writer(data, mode)
      await writer.waitForHeight(reported + extra, 60_000)
      // scenario delay, not a wait: moves the SIGKILL to a different phase of the commit cycle
      if (jitterMs > 0) await new Promise((r) => setTimeout(r, jitterMs))
      await writer.kill()
      reported = writer.lastCommitted
      writer = undefined
      const store = await ChainStore.open(data)
      try {
        await checkConsistent(store, reported)
        reported = store.tip().height
      } finally {
        await store.close()
      }
    }
  }
})
