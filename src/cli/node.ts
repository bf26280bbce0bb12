import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import type { CliContext } from './io.js'
import { existingHome } from './local.js'
import { addNodeFlags, nodeFlagsOf } from './node-flags.js'
import { addHomeOption } from './options.js'

/** `pbft start`: runs a node until SIGINT/SIGTERM, then shuts down cleanly. */
function registerStart(program: Command): void {
  const cmd = program.command('start').description('run a node (validator or observer) until SIGINT/SIGTERM')
  addHomeOption(cmd, 'the node home (see pbft init / pbft testnet)')
  addNodeFlags(cmd)
    .addHelpText(
      'after',
      `
Every flag overrides its config.json field for this run, and can also be set in the environment:
PBFT_ and the flag's name in upper case with . and - as _ (--rpc.laddr: PBFT_RPC_LADDR). A flag
wins over the variable, the variable over config.json, config.json over the default.

Examples:
  $ pbft start                                     # the home ~/.pbft (or $PBFT_HOME)
  $ pbft start --home /tmp/net/node0 --log.level debug
  $ pbft start --rpc.laddr 0.0.0.0:26657 --metrics.enabled --mempool.max_txs 50000
  $ PBFT_CONSENSUS_PIPELINE_DEPTH=1 pbft start --home /tmp/net/node1
`,
    )
    .action(async (opts: { home: string }, command: Command) => {
      // Loaded here so that init/keys/testnet never load libp2p.
      const { PbftNode } = await import('../node/node.js')
      const { createLogger, nodeName } = await import('../node/logger.js')
      const { applyFlags, loadConfig } = await import('../node/config.js')
      const home = (await existingHome(opts.home)).home
      const { flags, name } = nodeFlagsOf(command)
      // Checked here, before anything opens, so that an error names the flag or its variable.
      const config = applyFlags(await loadConfig(home), flags, name)
      const root = createLogger({ level: config.log.level, format: config.log.format })
      const { applyRuntimeOptions } = await import('../node/runtime.js')
      const v8Flags = applyRuntimeOptions(config.runtime)
      if (v8Flags.length > 0) {
        root.info(
          { module: 'node', heap_growth_percent: config.runtime.heapGrowthPercent, v8_flags: v8Flags },
          'V8 heap growth set',
        )
      }
      const node = await PbftNode.open({ home, flags, logger: root })
      const logger = root.child({ chain_id: node.chainId, node: nodeName(home), module: 'node' })
      let resolveStopped: () => void = () => undefined
      const stopped = new Promise<void>((r) => {
        resolveStopped = r
      })
      const shutdown = (signal: string) => {
        logger.info({ signal }, 'shutdown requested')
        node.stop().then(resolveStopped, (err: unknown) => {
          logger.error({ err }, 'shutdown failed')
          process.exitCode = 1
          resolveStopped()
        })
      }
      process.once('SIGINT', () => shutdown('SIGINT'))
      process.once('SIGTERM', () => shutdown('SIGTERM'))
      try {
        await node.start()
      } catch (err) {
        await node.stop().catch(() => undefined)
        throw err
      }
      await stopped
      logger.flush?.()
    })
}

/** `pbft devnet`: every home of a `pbft testnet` folder as child processes in this terminal. */
function registerDevnet(program: Command): void {
  program
    .command('devnet')
    .description('run every node of a pbft testnet folder in this terminal (used by make run)')
    .requiredOption('--dir <dir>', 'the folder made by pbft testnet (e.g. keys)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ pbft testnet --validators 4 --output keys && pbft devnet --dir keys\n',
    )
    .action(async (opts: { dir: string }) => {
      const { runDevnet } = await import('../node/devnet.js')
      const cliPath = fileURLToPath(new URL('../cli.js', import.meta.url))
      const code = await runDevnet({ dir: opts.dir, cliPath })
      if (code !== 0) process.exitCode = code
    })
}

export function registerNodeCommands(program: Command, _ctx: CliContext): void {
  registerStart(program)
  registerDevnet(program)
}
