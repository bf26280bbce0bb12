import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { defaultConfig } from './config.js'

/** Home folders of a devnet made by `pbft testnet`: validators first (node0..), then observers. */
function devnetHomes(dir: string): string[] {
  if (!existsSync(dir)) throw new Error(`devnet folder ${dir} does not exist (run pbft testnet first)`)
  const byIndex = (prefix: string) =>
    readdirSync(dir)
      .filter((name) => new RegExp(`^${prefix}\\d+$`).test(name))
      .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)))
  const homes = [...byIndex('node'), ...byIndex('observer')].map((name) => join(dir, name))
  if (homes.length === 0) throw new Error(`no node homes (node0, node1, ...) in ${dir}`)
  return homes
}

function rpcUrlOf(home: string): string {
  try {
    const config = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { rpc?: { laddr?: string } }
    return `http://${config.rpc?.laddr ?? defaultConfig().rpc.laddr}`
  } catch {
    return '(unknown: config.json unreadable)'
  }
}

/**
 * The variables of `pbft start`'s per-node settings (docs/CLI.md "Environment"): each home of a
 * devnet has its own addresses, so one value inherited by every child would make them collide.
 * Settings every node may share (log level, mempool, consensus) pass through.
 */
const PER_NODE_VARIABLES = [
  'PBFT_HOME',
  'PBFT_P2P_LISTEN',
  'PBFT_P2P_ANNOUNCE',
  'PBFT_BOOTSTRAP',
  'PBFT_RPC_LADDR',
  'PBFT_METRICS_LADDR',
]

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PBFT_LOG_PRETTY: process.env.PBFT_LOG_PRETTY ?? '1' }
  for (const name of PER_NODE_VARIABLES) delete env[name]
  return env
}

/**
 * Runs every node of a devnet as a child process in this terminal, each log line prefixed with the
 * node's name. SIGINT/SIGTERM stops them all cleanly (each node closes its store); resolves with
 * the exit code once every child has exited.
 */
export async function runDevnet(opts: {
  dir: string
  cliPath: string
  out?: NodeJS.WritableStream
}): Promise<number> {
  const out = opts.out ?? process.stdout
  const homes = devnetHomes(opts.dir)
  const children: { name: string; child: ChildProcess }[] = []
  const names = homes.map((h) => h.split('/').pop() ?? h)
  const width = Math.max(...names.map((n) => n.length))
  for (const [i, home] of homes.entries()) {
    const name = (names[i] as string).padEnd(width)
    const child = spawn(process.execPath, [opts.cliPath, 'start', '--home', home], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv(),
    })
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue
      createInterface({ input: stream }).on('line', (line) => out.write(`[${name}] ${line}\n`))
    }
    children.push({ name, child })
  }
  out.write('\npbft devnet started:\n')
  for (const [i, home] of homes.entries()) out.write(`  ${names[i]}  rpc ${rpcUrlOf(home)}  home ${home}\n`)
  const rpc0 = rpcUrlOf(homes[0] as string)
  out.write(
    [
      '',
      `Block explorer (live, in a browser): ${rpc0}/explorer/`,
      '',
      'Try it (in another terminal):',
      '  ./pbft keys generate --out /tmp/alice.json',
      `  ./pbft tx send --rpc ${rpc0} --key /tmp/alice.json --wait set hello world`,
      `  ./pbft get --rpc ${rpc0} hello`,
      `  ./pbft blocks --rpc ${rpc0}`,
      `  curl -s -X POST ${rpc0} -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"status"}'`,
      'Ctrl-C stops all nodes; the next `make run` resumes the same chain.',
      '',
    ].join('\n'),
  )

  let stopping = false
  const stopAll = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    out.write(`\nstopping ${children.length} nodes...\n`)
    for (const { child } of children)
      if (child.exitCode === null) child.kill(signal === 'SIGINT' ? 'SIGTERM' : signal)
  }
  process.on('SIGINT', stopAll)
  process.on('SIGTERM', stopAll)

  const codes = await Promise.all(
    children.map(
      ({ name, child }) =>
        new Promise<number>((resolve) => {
          child.on('exit', (code, signal) => {
            out.write(`[${name}] exited ${signal ?? code}\n`)
            // One node dying on its own takes the devnet down, so the failure is seen.
            if (!stopping) stopAll('SIGTERM')
            resolve(code ?? 1)
          })
        }),
    ),
  )
  process.off('SIGINT', stopAll)
  process.off('SIGTERM', stopAll)
  return codes.every((c) => c === 0) ? 0 : 1
}
