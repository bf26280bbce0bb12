import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { freshStatusPost } from '../helpers/fresh-post.js'
import { waitFor, waitForValue } from '../helpers/wait.js'
import { freePortBlock, patchConfig, runCli, TestNode } from './harness.js'

/**
 * The RPC under abuse (docs/RPC.md "Limits"): one address floods a real node with half-open POSTs
 * (headers and part of a body, never finished) while another address keeps using it. The figures
 * (connections held and refused, answer latencies) are printed; the assertions are about what
 * happens, never about how fast, so a loaded machine only makes the test slower.
 */

const ABUSER = '127.0.0.2'
const HALF_OPEN = 4_000
/** the node's defaults, which this test exercises as users get them (docs/HOME.md "rpc") */
const PER_IP_CAP = 256
const BODY_TIMEOUT_MS = 10_000

/** One abusive connection: what the node sent back on it, and whether it is closed. */
interface Abusive {
  socket: Socket
  received: number
  firstBytes: string
  closed: boolean
}

/** Opens a connection from `localAddress` that sends a POST's headers and part of its body, never the rest. */
function halfOpenPost(port: number, localAddress: string): Promise<Abusive> {
  const socket = connect({ host: '127.0.0.1', port, localAddress })
  const conn: Abusive = { socket, received: 0, firstBytes: '', closed: false }
  socket.on('data', (d: Buffer) => {
    if (conn.received === 0) conn.firstBytes = d.subarray(0, 16).toString('latin1')
    conn.received += d.length
  })
  socket.on('error', () => {})
  return new Promise((resolve) => {
    socket.once('close', () => {
      conn.closed = true
      resolve(conn)
    })
    socket.once('connect', () => {
      socket.write(
        'POST / HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"jsonrpc":"2.0","id":1,',
      )
      resolve(conn)
    })
  })
}

/** `status` over a fresh connection from `localAddress`; its latency in ms, once it answered a status. */
async function statusFrom(port: number, localAddress: string): Promise<number> {
  const { statusCode, body, ms } = await freshStatusPost(port, localAddress, 10_000)
  const parsed = JSON.parse(body) as { result?: { node_info?: unknown } }
  if (statusCode !== 200 || parsed.result?.node_info === undefined) {
    throw new Error(`status answered ${statusCode}: ${body.slice(0, 200)}`)
  }
  return ms
}

/** Soft open-files limit of this process (mocha's), from /proc. */
function openFilesLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'))
  return Number(line?.split(/\s+/)[3])
}

/**
 * The abuser's sockets live in this process: make sure it may hold them. `ulimit -n` cannot be
 * raised from inside a running process, but prlimit(1) can raise it for a given pid.
 */
function ensureOpenFiles(needed: number): void {
  if (openFilesLimit() >= needed) return
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${needed}:${needed}`])
  } catch (err) {
    throw new Error(
      `this test holds ${needed} sockets but the open-files limit is ${openFilesLimit()} and prlimit could not raise it (${String(err)}): run it under ulimit -n ${needed}`,
    )
  }
}

const ms = (x: number): string => `${x.toFixed(1)} ms`

describe('e2e: RPC under abuse, one address holding thousands of half-open POSTs', function () {
  this.timeout(240_000)
  let dir: string
  let node: TestNode
  let port: number
  const abusive: Abusive[] = []

  before(async () => {
    ensureOpenFiles(HALF_OPEN + 1_024)
    dir = mkdtempSync(join(tmpdir(), 'pbft-e2e-abuse-'))
    const home = join(dir, 'node0')
    const init = await runCli(['init', '--home', home, '--chain-id', 'e2e-abuse'])
    expect(init.code, init.stderr).to.equal(0)
    const base = await freePortBlock(2)
    port = base
    patchConfig(home, (cfg) => {
      cfg.rpc = { ...(cfg.rpc as object), laddr: `127.0.0.1:${base}` }
      cfg.p2p = { ...(cfg.p2p as object), listen: [`/ip4/127.0.0.1/tcp/${base + 1}`] }
    })
    node = new TestNode('node0', home, dir)
    node.start()
    await waitForValue(() => node.status(), {
      message: 'node0 serving RPC',
      timeoutMs: 30_000,
      intervalMs: 100,
    })
  })

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      try {
        console.error(readFileSync(node.logPath, 'utf8').trim().split('\n').slice(-40).join('\n'))
      } catch {}
    }
  })

  after(async () => {
    for (const c of abusive) c.socket.destroy()
    await node?.stop('SIGKILL')
    if (process.env.PBFT_KEEP_E2E !== '1' && dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it(`serves 127.0.0.1 while ${ABUSER} holds ${HALF_OPEN} half-open POSTs, and ${ABUSER} again once they close`, async () => {
    // The flood, in waves so the listen backlog is not the bottleneck being measured.
    const floodStarted = performance.now()
    for (let i = 0; i < HALF_OPEN; i += 500) {
      const wave = Array.from({ length: Math.min(500, HALF_OPEN - i) }, () => halfOpenPost(port, ABUSER))
      abusive.push(...(await Promise.all(wave)))
    }
    const floodMs = performance.now() - floodStarted
    const open = () => abusive.filter((c) => !c.closed).length
    // Refusals are immediate, so the open count falls to the cap; no deadline on how fast.
    await waitFor(() => open() <= PER_IP_CAP, {
      message: `at most ${PER_IP_CAP} half-open POSTs left open`,
      timeoutMs: 60_000,
      intervalMs: 100,
    })
    const held = open()

    // While they are held, another address is served.
    const latencies: number[] = []
    const firstMs = await waitForValue(() => statusFrom(port, '127.0.0.1'), {
      message: 'status from 127.0.0.1 during the flood',
      timeoutMs: 30_000,
      intervalMs: 100,
    })
    latencies.push(firstMs)
    for (let i = 0; i < 9; i++) latencies.push(await statusFrom(port, '127.0.0.1'))
    const health = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(10_000) })
    expect(health.status).to.equal(200)
    const stillHeld = open()

    // The node closes each held one once its body timeout has passed (answering 408).
    const waitStarted = performance.now()
    await waitFor(() => open() === 0, {
      message: 'every half-open POST closed by the node',
      timeoutMs: 6 * BODY_TIMEOUT_MS,
      intervalMs: 200,
    })
    const closedAfterMs = performance.now() - waitStarted
    const timedOut = abusive.filter((c) => c.firstBytes.startsWith('HTTP/1.1 408')).length
    const refused = abusive.filter((c) => c.received === 0).length
    // And then the abusing address itself is served again, at the first try.
    const abuserAfterMs = await statusFrom(port, ABUSER)
    const localAfterMs = await statusFrom(port, '127.0.0.1')

    const sorted = [...latencies].sort((a, b) => a - b)
    console.log(
      [
        `      ${HALF_OPEN} half-open POSTs from ${ABUSER} opened in ${ms(floodMs)}:`,
        `        held open by the node: ${held} (cap ${PER_IP_CAP}), refused at accept: ${refused}`,
        `        status from 127.0.0.1 during the flood: first ${ms(firstMs)}, median ${ms(sorted[5] ?? 0)}, max ${ms(sorted[9] ?? 0)} (10 calls; ${stillHeld} still held)`,
        `        held ones closed by the body timeout (408: ${timedOut}) within ${ms(closedAfterMs)} of the calls`,
        `        then status from ${ABUSER}: ${ms(abuserAfterMs)}, from 127.0.0.1: ${ms(localAfterMs)}`,
      ].join('\n'),
    )
    expect(held).to.be.at.most(PER_IP_CAP)
    // Refused at accept, not left to time out: all but the cap's worth, plus one more cap's worth
    // for every body timeout the flood outlasted (the slots those free are taken again).
    const slotsTaken = PER_IP_CAP * (1 + Math.ceil(floodMs / BODY_TIMEOUT_MS))
    expect(refused).to.be.at.least(HALF_OPEN - slotsTaken)
    // Every connection was either refused outright or held and then answered 408: none was served
    // half a request, none was left hanging.
    expect(refused + timedOut).to.equal(HALF_OPEN)
    expect(timedOut).to.be.at.least(held)
    expect(node.running).to.equal(true)
    const log = readFileSync(node.logPath, 'utf8')
    expect(log).to.include('"msg":"rpc: refusing connections"')
    expect(log).to.include(`"address":"${ABUSER}"`)
  })

  it(`gives ${ABUSER} its slots back as soon as it hangs up`, async () => {
    abusive.length = 0
    for (let i = 0; i < PER_IP_CAP + 50; i += 100) {
      const n = Math.min(100, PER_IP_CAP + 50 - i)
      abusive.push(...(await Promise.all(Array.from({ length: n }, () => halfOpenPost(port, ABUSER)))))
    }
    await waitFor(() => abusive.filter((c) => !c.closed).length <= PER_IP_CAP, {
      message: `${PER_IP_CAP} held`,
      timeoutMs: 60_000,
      intervalMs: 100,
    })
    // The cap is full: the abuser's next connection is refused (unless the timeout already freed one).
    const whileFull = await statusFrom(port, ABUSER).then(
      () => 'served',
      () => 'refused',
    )
    const hungUp = performance.now()
    for (const c of abusive) c.socket.destroy()
    // The node learns of the hang-ups asynchronously: poll (each try is a fresh connection).
    let tries = 0
    await waitForValue(
      async () => {
        tries++
        return await statusFrom(port, ABUSER)
      },
      { message: `status from ${ABUSER} after it hung up`, timeoutMs: 30_000, intervalMs: 100 },
    )
    const servedAfterMs = performance.now() - hungUp
    console.log(
      `      ${ABUSER} at its cap: its next call ${whileFull}; after it hung up, served after ${ms(servedAfterMs)} (${tries} tr${tries === 1 ? 'y' : 'ies'})`,
    )
    expect(node.running).to.equal(true)
  })
})
