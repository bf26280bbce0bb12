/**
 * `npx tsx bench/gossip.ts` (docs/PERFORMANCE.md "Message complexity"): what one block's consensus
 * messages cost the network layer per node under a gossipsub configuration, without consensus.
 * Starts n real libp2p nodes (src/network, TCP on 127.0.0.1, Noise, yamux) in this one process,
 * fully connected as validators are, and plays blocks: the primary (rotating) publishes a
 * PRE-PREPARE, the n−1 others a PREPARE each, then all n a COMMIT, each phase once the previous
 * reached every node. Counts every node's received copies (first and duplicate, from
 * `receiveStats`) and the process's CPU time over the measured blocks. Message counts are exact
 * whatever the machine's load; CPU time is the network's share only (topic validators accept
 * everything unverified: a duplicate never reaches them anyway, so what varies between
 * configurations is all here).
 *
 *   npx tsx bench/gossip.ts [--validators 4,7,10,16] [--blocks 60] [--warmup 10]
 *     [--preprepare-bytes 4096] [--vote-bytes 128] [--set key=value ...] [--json out.json]
 *
 * `--set` overrides a GossipOptions field (src/network/options.ts), e.g. `--set D=2 --set
 * floodPublish=false`; `--down 1` removes that many validator–validator links (0–1, 2–3, …) and
 * checks every message still reaches every node.
 */
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { generateNodeKey, type NodeKey } from '../src/crypto/node-key.js'
import type { GossipValidator, GossipValidators } from '../src/network/gossip-validation.js'
import { createNetwork, type Network } from '../src/network/network.js'
import { defaultGossipOptions, type GossipOptions } from '../src/network/options.js'
import { TOPIC_KINDS, type TopicKind } from '../src/network/topics.js'
import { parseBenchArgs } from './args.js'

const { values: args } = parseBenchArgs({
  options: {
    validators: { type: 'string', default: '4,7,10,16' },
    blocks: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '10' },
    'preprepare-bytes': { type: 'string', default: '4096' },
    'vote-bytes': { type: 'string', default: '128' },
    set: { type: 'string', multiple: true, default: [] },
    down: { type: 'string', default: '0' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})

class BenchArgError extends Error {}

function int(name: string, raw: string, min: number): number {
  const v = Number(raw)
  if (!Number.isInteger(v) || v < min)
    throw new BenchArgError(`--${name} must be an integer >= ${min}, got ${raw}`)
  return v
}

function gossipOverrides(sets: readonly string[]): Partial<GossipOptions> {
  const out: Record<string, number | boolean> = {}
  for (const s of sets) {
    const [key, raw] = s.split('=', 2)
    if (key === undefined || raw === undefined || !(key in defaultGossipOptions))
      throw new BenchArgError(`--set wants a GossipOptions field=value, got ${s}`)
    const def = defaultGossipOptions[key as keyof GossipOptions]
    if (typeof def === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw new BenchArgError(`--set ${key} wants true or false`)
      out[key] = raw === 'true'
    } else {
      const v = Number(raw)
      if (!Number.isFinite(v) || v < 0)
        throw new BenchArgError(`--set ${key} wants a number >= 0, got ${raw}`)
      out[key] = v
    }
  }
  return out as Partial<GossipOptions>
}

const PHASE_TIMEOUT_MS = 10_000

const CONSENSUS: readonly TopicKind[] = TOPIC_KINDS.filter((k) => k !== 'tx')

interface Row {
  n: number
  linksDown: number
  blocks: number
  firstPerBlock: number
  dupPerBlock: number
  firstKbPerBlock: number
  dupKbPerBlock: number
  cpuMsPerBlockPerNode: number
  msPerBlock: number
  /** deliveries still missing when their phase timed out, in the measured blocks */
  lostDeliveries: number
  /** mean mesh size over nodes and consensus topics at the end */
  meanMeshSize: number
  loadAvg1m: number
}

function payload(size: number, tag: string): Uint8Array {
  const out = new Uint8Array(size)
  out.set(new TextEncoder().encode(tag).subarray(0, size))
  return out
}

async function measure(
  n: number,
  gossip: Partial<GossipOptions>,
  opts: { blocks: number; warmup: number; ppBytes: number; voteBytes: number; down: number },
): Promise<Row> {
  const accept: GossipValidator = () => 'accept'
  const validators = Object.fromEntries(TOPIC_KINDS.map((k) => [k, accept])) as GossipValidators
  const keys = await Promise.all(Array.from({ length: n }, () => generateNodeKey()))
  const peerIds = keys.map((k) => k.peerId)
  // links 0–1, 2–3, … are down: neither end dials the other (no peer store entry, no PX)
  const isDown = (i: number, j: number) =>
    Math.min(i, j) % 2 === 0 && Math.max(i, j) === Math.min(i, j) + 1 && Math.max(i, j) < 2 * opts.down
  const nets: Network[] = []
  let delivered = 0
  let target = 0
  let wake: (() => void) | undefined
  try {
    for (let k = 0; k < n; k++) {
      const net = await createNetwork({
        privateKey: (keys[k] as NodeKey).privateKey,
        chainId: 'bench-gossip',
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: nets.flatMap((other, j) => (isDown(j, k) ? [] : other.listenAddrs())),
        gossipValidators: validators,
        // as on a validator: the others are genesis validators (kept connected, +1,000,000 score)
        validatorPeerIds: peerIds.filter((_, j) => j !== k),
        gossip: gossip,
      })
      await net.start()
      for (const kind of CONSENSUS)
        net.subscribe(kind, () => {
          delivered++
          if (delivered >= target) wake?.()
        })
      nets.push(net)
    }
    const peersOf = (k: number) => n - 1 - (k < 2 * opts.down ? 1 : 0)
    const deadline = Date.now() + 60_000
    while (!nets.every((net, k) => CONSENSUS.every((t) => net.topicPeers(t).length === peersOf(k)))) {
      if (Date.now() > deadline) throw new Error(`n=${n}: nodes did not all connect and subscribe in 60 s`)
      await new Promise((r) => setTimeout(r, 100))
    }
    // two heartbeats for the meshes to form
    await new Promise((r) =>
      setTimeout(r, 3 * (gossip.heartbeatIntervalMs ?? defaultGossipOptions.heartbeatIntervalMs)),
    )

    // A phase waits for every delivery, at most PHASE_TIMEOUT_MS; what is missing then is counted
    // as lost (gossipsub does not retransmit: a copy lost with a connection that a loaded machine
    // dropped comes back only through IHAVE gossip within a few heartbeats, or not at all).
    let lost = 0
    const phase = async (senders: number[], kind: TopicKind, bytes: number) => {
      target = delivered + senders.length * (n - 1)
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          lost += target - delivered
          resolve()
        }, PHASE_TIMEOUT_MS)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      for (const s of senders)
        await (nets[s] as Network).publish(kind, payload(bytes, `${kind}/${block}/${s}`))
      if (delivered >= target) wake?.()
      await done
    }
    const all = Array.from({ length: n }, (_, i) => i)
    const totals = () => {
      let first = 0
      let dup = 0
      let firstB = 0
      let dupB = 0
      for (const net of nets) {
        const s = net.receiveStats()
        for (const k of CONSENSUS) {
          first += s[k]?.messages ?? 0
          dup += s[k]?.duplicates ?? 0
          firstB += s[k]?.bytes ?? 0
          dupB += s[k]?.duplicateBytes ?? 0
        }
      }
      return { first, dup, firstB, dupB }
    }
    let before = totals()
    let cpu0 = process.cpuUsage()
    let t0 = performance.now()
    let block = 0
    for (let b = 0; b < opts.warmup + opts.blocks; b++) {
      block = b
      if (b === opts.warmup) {
        lost = 0
        // duplicates of the warm-up's last messages may still be on the way: let them land
        await new Promise((r) => setTimeout(r, 200))
        before = totals()
        cpu0 = process.cpuUsage()
        t0 = performance.now()
      }
      const primary = b % n
      await phase([primary], 'preprepare', opts.ppBytes)
      await phase(
        all.filter((i) => i !== primary),
        'prepare',
        opts.voteBytes,
      )
      await phase(all, 'commit', opts.voteBytes)
    }
    const ms = performance.now() - t0
    await new Promise((r) => setTimeout(r, 200))
    const cpu = process.cpuUsage(cpu0)
    const after = totals()
    const meshSizes = nets.flatMap((net) => CONSENSUS.map((t) => net.meshPeers(t).length))
    const per = opts.blocks * n
    return {
      n,
      linksDown: opts.down,
      blocks: opts.blocks,
      firstPerBlock: (after.first - before.first) / per,
      dupPerBlock: (after.dup - before.dup) / per,
      firstKbPerBlock: (after.firstB - before.firstB) / per / 1024,
      dupKbPerBlock: (after.dupB - before.dupB) / per / 1024,
      cpuMsPerBlockPerNode: (cpu.user + cpu.system) / 1000 / per,
      msPerBlock: ms / opts.blocks,
      lostDeliveries: lost,
      meanMeshSize: meshSizes.reduce((a, b) => a + b, 0) / meshSizes.length,
      loadAvg1m: loadavg()[0] ?? 0,
    }
  } finally {
    wake = undefined
    await Promise.all(nets.map((net) => net.stop()))
  }
}

async function main(): Promise<void> {
  if (args.help) {
    console.log(
      'npx tsx bench/gossip.ts [--validators 4,7,10,16] [--blocks 60] [--warmup 10] [--preprepare-bytes 4096] [--vote-bytes 128] [--set key=value ...] [--down links] [--json out.json]',
    )
    return
  }
  const ns = (args.validators as string).split(',').map((s) => int('validators', s.trim(), 2))
  const gossip = gossipOverrides(args.set as string[])
  const opts = {
    blocks: int('blocks', args.blocks as string, 1),
    warmup: int('warmup', args.warmup as string, 0),
    ppBytes: int('preprepare-bytes', args['preprepare-bytes'] as string, 64),
    voteBytes: int('vote-bytes', args['vote-bytes'] as string, 64),
    down: int('down', args.down as string, 0),
  }
  console.log(`bench-gossip: ${JSON.stringify({ ...defaultGossipOptions, ...gossip })}`)
  console.log(
    '| n | links down | msgs per block per node (first + dup) | KB per block per node (first + dup) | CPU per block per node, ms | ms per block | lost | mean mesh | load avg |',
  )
  console.log('|---|---|---|---|---|---|---|---|---|')
  const rows: Row[] = []
  for (const n of ns) {
    if (2 * opts.down > n) throw new BenchArgError(`--down ${opts.down} needs n >= ${2 * opts.down}`)
    const r = await measure(n, gossip, opts)
    rows.push(r)
    console.log(
      `| ${n} | ${r.linksDown} | ${r.firstPerBlock.toFixed(1)} + ${r.dupPerBlock.toFixed(1)} | ${r.firstKbPerBlock.toFixed(1)} + ${r.dupKbPerBlock.toFixed(1)} | ${r.cpuMsPerBlockPerNode.toFixed(2)} | ${r.msPerBlock.toFixed(0)} | ${r.lostDeliveries} | ${r.meanMeshSize.toFixed(1)} | ${r.loadAvg1m.toFixed(1)} |`,
    )
  }
  if (args.json !== undefined)
    writeFileSync(args.json, `${JSON.stringify({ gossip, opts, rows }, null, 2)}\n`)
}

main().catch((err: unknown) => {
  console.error(`bench-gossip: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
})
