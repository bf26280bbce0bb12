import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import { cpuSeconds, runQueueWaitSeconds } from '../../../bench/cluster.js'
import {
  type ConsensusMessage,
  encodeConsensusMessage,
  prepareSignBytes,
} from '../../../src/codec/consensus.js'
import { sha256 } from '../../../src/crypto/hash.js'
import { generateNodeKey } from '../../../src/crypto/node-key.js'
import { createNetwork } from '../../../src/network/network.js'
import { acceptAllGossip } from '../../fixtures/gossip.js'
import { waitFor } from '../../helpers/wait.js'
import { E2E_CHAIN, FaultNet } from '../fault-ops.js'
import { gossipCount, rpc, type TestNode } from '../harness.js'
import { LoadDriver } from '../load-driver.js'
import { ByzantineProcess } from './process.js'

/**
 * Byzantine validators as separate processes built from test code (test/e2e/byzantine/*.ts), never
 * switches in the shipped node. Three honest `pbft start` processes must stay safe (history checker
 * clean) and live (txs final under load) and must reject / penalise the offender.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** One reading of the honest nodes (index i: the i-th node) for the budget test's phases. */
interface Sample {
  at: number
  /** utime + stime, s */
  cpu: number[]
  /** time runnable but waiting for a CPU, s */
  wait: number[]
  heights: number[]
}

/** Node i's CPU and run-queue wait per second of wall time, and its blocks, between two samples. */
function rates(a: Sample, b: Sample, i: number): { cpu: number; wait: number; blocks: number } {
  const per = (x: number[], y: number[]) => (((y[i] ?? 0) - (x[i] ?? 0)) * 1000) / (b.at - a.at)
  return {
    cpu: per(a.cpu, b.cpu),
    wait: per(a.wait, b.wait),
    blocks: (b.heights[i] ?? 0) - (a.heights[i] ?? 0),
  }
}

/** Load drivers of the running test: afterEach stops them also when the test failed before d.stop(). */
const drivers: LoadDriver[] = []

function load(seed: number, honest: TestNode[]): LoadDriver {
  const d = new LoadDriver({
    chainId: E2E_CHAIN,
    rpcUrls: () => honest.filter((n) => n.running).map((n) => n.rpcUrl),
    clients: 3,
    ratePerSec: 20,
    seed,
  })
  d.start()
  drivers.push(d)
  return d
}

async function rejectsOn(nodes: TestNode[], reason?: string): Promise<number> {
  const counts = await Promise.all(nodes.map((n) => gossipCount(n, { result: 'reject', reason })))
  return counts.reduce((a, b) => a + b, 0)
}

function logsMention(nodes: TestNode[], text: string): boolean {
  return nodes.some((n) => {
    try {
      return readFileSync(n.logPath, 'utf8').includes(text)
    } catch {
      return false
    }
  })
}

/** One devnet whose validator `byzIndex` is not started: its home is the Byzantine program's. */
function byzantineSuite(
  title: string,
  byzIndex: number,
  body: (ctx: {
    fn: () => FaultNet
    honest: () => TestNode[]
    spawnByz: (program: string, args?: string[]) => ByzantineProcess
  }) => void,
  configure?: (node: TestNode) => void,
): void {
  describe(title, function () {
    this.timeout(90_000)
    let fn: FaultNet
    let honest: TestNode[]
    const procs: ByzantineProcess[] = []
    before(async () => {
      fn = await FaultNet.create(4, {
        start: (_n, i) => i !== byzIndex,
        ...(configure === undefined ? {} : { configure }),
      })
      honest = fn.validators.filter((_n, i) => i !== byzIndex)
    })
    afterEach(async function () {
      await Promise.all(drivers.splice(0).map((d) => d.stop()))
      await Promise.all(procs.map((p) => p.stop()))
      if (this.currentTest?.state === 'failed') console.error(fn.logsTail(30))
    })
    after(async () => {
      await Promise.all(procs.map((p) => p.stop()))
      await fn?.close()
    })
    body({
      fn: () => fn,
      honest: () => honest,
      spawnByz: (program, args = []) => {
        const home = (fn.validators[byzIndex] as TestNode).home
        const p = new ByzantineProcess(
          program,
          home,
          ['--rpc', (honest[0] as TestNode).rpcUrl, '--duration-ms', '60000', ...args],
          join(fn.net.dir, `byzantine-${program}.log`),
        )
        p.start()
        procs.push(p)
        return p
      },
    })
  })
}

describe('e2e Byzantine validators (separate processes) against 3 honest nodes', () => {
  byzantineSuite(
    'an equivocating primary (validator 0, primary of view 0)',
    0,
    ({ fn, honest, spawnByz }) => {
      it('two valid PRE-PREPAREs for one (view, height): no fork, evidence logged, the honest nodes move on', async () => {
        const byz = spawnByz('equivocate')
        await waitFor(() => byz.count('joined') > 0, {
          timeoutMs: 20_000,
          intervalMs: 100,
          message: 'the Byzantine primary joined',
        })
        const d = load(201, honest())
        await waitFor(() => byz.count('equivocated') > 0, {
          timeoutMs: 20_000,
          intervalMs: 100,
          message: 'an equivocation sent',
        })
        await d.waitForAcks(30, 40_000)
        const views = await fn().views(honest())
        expect(Math.min(...views), 'honest nodes left the Byzantine primary’s view').to.be.greaterThan(0)
        const history = await d.stop()
        const report = await fn().check(history)
        expect(report.acknowledgedFinal + report.acknowledgedPending).to.be.at.least(25)
        await waitFor(() => logsMention(honest(), 'equivocation evidence'), {
          timeoutMs: 10_000,
          intervalMs: 100,
          message: 'equivocation evidence in an honest node’s log',
        })
        const sent = byz.last('equivocated')
        console.log(`  equivocations sent: ${byz.count('equivocated')} (last ${JSON.stringify(sent)})`)
      })
    },
  )

  byzantineSuite('a primary proposing an invalid block (validator 0)', 0, ({ fn, honest, spawnByz }) => {
    it('a block with a forged tx signature is rejected by signed rejections and never final', async () => {
      const byz = spawnByz('invalid-block', ['--variant', 'bad-sig'])
      await waitFor(() => byz.count('joined') > 0, {
        timeoutMs: 20_000,
        intervalMs: 100,
        message: 'the Byzantine primary joined',
      })
      const d = load(202, honest())
      await waitFor(() => byz.count('proposed-invalid') > 0, {
        timeoutMs: 20_000,
        intervalMs: 100,
        message: 'an invalid block proposed',
      })
      await d.waitForAcks(30, 40_000)
      const history = await d.stop()
      // The replay in the checker re-validates every final block: an invalid one would be reported.
      const report = await fn().check(history)
      expect(report.blocksReplayed).to.equal(report.heights)
      const views = await fn().views(honest())
      expect(Math.min(...views)).to.be.greaterThan(0)
      const rejections = await Promise.all(
        honest().map((n) => gossipCount(n, { result: 'accept', topic: 'reject' })),
      )
      expect(
        rejections.reduce((a, b) => a + b, 0),
        'signed rejections exchanged by the honest nodes',
      ).to.be.at.least(1)
    })
  })

  byzantineSuite('a Byzantine backup (validator 3)', 3, ({ fn, honest, spawnByz }) => {
    it('garbage signatures, forged and out-of-range senders, replays, far view changes: rejected, no effect', async () => {
      const before = await rejectsOn(honest())
      const byz = spawnByz('garbage')
      const d = load(203, honest())
      await waitFor(() => byz.count('garbage') >= 3, {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: 'the garbage validator working',
      })
      await d.waitForAcks(30, 40_000)
      const history = await d.stop()
      await byz.stop()
      await fn().check(history)
      const after = await rejectsOn(honest())
      expect(after - before, 'gossip rejections on the honest nodes').to.be.at.least(20)
      expect(await rejectsOn(honest(), 'bad_signature_or_sender')).to.be.at.least(3)
      expect(await rejectsOn(honest(), 'malformed')).to.be.at.least(3)
      const views = await fn().views(honest())
      expect(Math.max(...views), 'one validator’s far VIEW-CHANGEs moved nobody').to.be.below(100)
      console.log(
        `  garbage sent: ${JSON.stringify(byz.last('garbage'))}; rejects on honest nodes: ${after - before}`,
      )
    })

    it('a flood of oversized and malformed messages: rejected, honest nodes stay live', async () => {
      const before = await rejectsOn(honest())
      const byz = spawnByz('flood')
      const d = load(204, honest())
      await waitFor(() => byz.count('flood') >= 2, {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: 'the flood running',
      })
      await d.waitForAcks(30, 40_000)
      const history = await d.stop()
      await byz.stop()
      await fn().check(history)
      const after = await rejectsOn(honest())
      expect(after - before, 'gossip rejections on the honest nodes').to.be.at.least(50)
      console.log(
        `  flood sent: ${JSON.stringify(byz.last('flood'))}; rejects: ${after - before} ` +
          `(oversized: ${await rejectsOn(honest(), 'oversized')})`,
      )
    })

    it('an outsider peer (not in genesis) publishing well-formed consensus messages: rejected, no effect', async () => {
      const node0 = honest()[0] as TestNode
      const st = await node0.status()
      const before = await rejectsOn(honest(), 'bad_signature_or_sender')
      const key = await generateNodeKey()
      const outsider = await createNetwork({
        privateKey: key.privateKey,
        chainId: E2E_CHAIN,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        gossipValidators: acceptAllGossip(),
        bootstrap: st.node_info.listen_addrs.map((a) =>
          a.includes('/p2p/') ? a : `${a}/p2p/${st.node_info.peer_id}`,
        ),
      })
      await outsider.start()
      try {
        await waitFor(() => outsider.topicPeers('prepare').length > 0, {
          timeoutMs: 30_000,
          intervalMs: 100,
          message: 'outsider in the prepare mesh',
        })
        const view = st.consensus.view
        const height = st.sync_info.latest_block_height + 1
        const hash = sha256(new TextEncoder().encode('outsider-block'))
        const signed = (sender: number): ConsensusMessage => ({
          kind: 'prepare',
          view,
          height,
          blockHash: hash,
          sender,
          signature: key.signer.sign(prepareSignBytes(E2E_CHAIN, view, height, sender, hash)),
        })
        // its own key under its own index (out of range), and under each validator's index
        for (const sender of [4, 5, 100, 0, 1, 2, 3]) {
          await outsider.publish('prepare', encodeConsensusMessage(signed(sender)))
        }
        await waitFor(async () => (await rejectsOn(honest(), 'bad_signature_or_sender')) - before >= 7, {
          timeoutMs: 10_000,
          intervalMs: 100,
          message: 'the outsider’s messages rejected',
        })
        const after = await node0.status()
        expect(after.sync_info.latest_block_hash).to.equal(st.sync_info.latest_block_hash)
        expect(after.consensus.view).to.equal(st.consensus.view)
      } finally {
        await outsider.stop()
      }
    })
  })
  describe('per-validator budgets (honest nodes log at info, the default)', () => {
    // At debug every Ignored message is a log line: the CPU figures would measure the logger.
    let level: string | undefined
    before(() => {
      level = process.env.PBFT_LOG_LEVEL
      process.env.PBFT_LOG_LEVEL = 'info'
    })
    after(() => {
      if (level === undefined) delete process.env.PBFT_LOG_LEVEL
      else process.env.PBFT_LOG_LEVEL = level
    })

    byzantineSuite(
      'a validator sending valid but useless messages (validator 3)',
      3,
      ({ fn, honest, spawnByz }) => {
        // At the default budgets (500 votes/s, burst 1,000). The junk votes are equivocations: the
        // first pair an honest node verifies is evidence, and from then on it drops validator 3's
        // messages from their sender field (proven_faulty) and graylists its peer (PROTOCOL.md §2.5).
        it('1,000 signed junk msg/s for 20 s under load: proven faulty, dropped, honest nodes keep finalizing', async function () {
          this.timeout(180_000)
          const PHASE_MS = 20_000
          const nodes = honest()
          const byz = spawnByz('junk', [
            '--duration-ms',
            '150000',
            '--rate',
            '1000',
            '--flood-ms',
            String(PHASE_MS),
          ])
          await waitFor(() => byz.count('joined') > 0, {
            timeoutMs: 20_000,
            intervalMs: 100,
            message: 'the junk validator joined',
          })
          const d = load(205, nodes)
          await d.waitForAcks(10, 30_000)
          /** CPU and run-queue wait of each honest node (utime+stime and schedstat, Linux /proc), heights. */
          const sample = async (): Promise<Sample> => ({
            at: Date.now(),
            cpu: nodes.map((n) => cpuSeconds(n.child?.pid) ?? Number.NaN),
            wait: nodes.map((n) => runQueueWaitSeconds(n.child?.pid) ?? Number.NaN),
            heights: await Promise.all(nodes.map((n) => n.height())),
          })
          const counts = (reason: string) =>
            Promise.all(nodes.map((n) => gossipCount(n, { result: 'ignore', reason })))

          // Clean phase: the same load, the junk validator connected but silent. Its length is the
          // scenario (as long as the flood), not a wait for a condition.
          const clean0 = await sample()
          await sleep(PHASE_MS)
          const clean1 = await sample()
          const limited0 = await counts('rate_limited')
          const far0 = await counts('far_view')
          const faulty0 = await counts('proven_faulty')

          byz.signal('SIGUSR1')
          await waitFor(() => byz.count('flood-start') > 0, {
            timeoutMs: 10_000,
            intervalMs: 20,
            message: 'the flood started',
          })
          const flood0 = await sample()
          await sleep(PHASE_MS) // the flood's length: the scenario, as above
          const flood1 = await sample()
          await waitFor(() => byz.count('flood-end') > 0, {
            timeoutMs: 15_000,
            intervalMs: 100,
            message: 'the flood ended',
          })
          const limited = (await counts('rate_limited')).map((c, i) => c - (limited0[i] ?? 0))
          const far = (await counts('far_view')).map((c, i) => c - (far0[i] ?? 0))
          const faulty = (await counts('proven_faulty')).map((c, i) => c - (faulty0[i] ?? 0))
          // After the flood the network is healthy: every honest node finalizes 5 more blocks.
          const after = await Promise.all(nodes.map((n) => n.height()))
          await waitFor(
            async () =>
              (await Promise.all(nodes.map((n) => n.height()))).every((h, i) => h >= (after[i] ?? 0) + 5),
            { timeoutMs: 30_000, intervalMs: 200, message: 'every honest node finalizes after the flood' },
          )
          const history = await d.stop()
          await byz.stop()
          await fn().check(history)

          // The figures the issue asks for, printed and not asserted: CPU on a shared machine is
          // noise-prone. A node's CPU is capped by its share of the machine, so the run-queue wait
          // (runnable but not running) is printed too: when it is high, the ratio understates the cost.
          const sent = byz.last('flood-end')
          console.log(`  junk sent: ${JSON.stringify(sent)}`)
          for (const [i, n] of nodes.entries()) {
            const clean = rates(clean0, clean1, i)
            const flood = rates(flood0, flood1, i)
            console.log(
              `  ${n.name}: CPU clean ${clean.cpu.toFixed(3)} s/s, flood ${flood.cpu.toFixed(3)} s/s, ` +
                `ratio flood/clean ${(flood.cpu / clean.cpu).toFixed(2)}; run-queue wait clean ` +
                `${clean.wait.toFixed(3)} s/s, flood ${flood.wait.toFixed(3)} s/s; blocks clean ${clean.blocks}, ` +
                `flood ${flood.blocks}; ignored during the flood: proven_faulty ${faulty[i]}, rate_limited ${limited[i]}, ` +
                `far_view ${far[i]}`,
            )
          }
          // The flood really happened (at least half the asked rate was published; once proven
          // faulty the junk validator is disconnected, so `delivered` stays low: it is printed) …
          expect(Number(sent?.total), 'junk messages sent').to.be.at.least(PHASE_MS / 2)
          // … the honest nodes kept finalizing during it, at a tenth of their clean rate at least
          // (measured: about all of it; a tenth leaves room for a machine shared with other work) …
          for (const [i, n] of nodes.entries()) {
            const clean = rates(clean0, clean1, i).blocks
            expect(rates(flood0, flood1, i).blocks, `${n.name} blocks during the flood`).to.be.at.least(
              Math.max(1, Math.floor(clean / 10)),
            )
          }
          // … and proved validator 3 faulty: each holds evidence against it (and from then on drops
          // its messages unread and refuses its connections: the counts printed above, not asserted,
          // as how many arrive before the hang-up is a matter of timing).
          for (const n of nodes) {
            const ev = await rpc<{ total: number }>(n.rpcUrl, 'evidence', { validator: 3, limit: 1 })
            expect(ev.total, `${n.name} evidence against validator 3`).to.be.greaterThan(0)
          }
          const views = await fn().views(nodes)
          expect(Math.max(...views), 'one validator’s VIEW-CHANGEs moved nobody').to.be.below(100)
        })
      },
    )
  })
})
