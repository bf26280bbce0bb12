import { Command, CommanderError } from 'commander'
import { packageVersion } from '../node/version.js'
import { registerCompletionCommand } from './completion.js'
import { ExitCode, toCliError } from './exit-codes.js'
import { registerInitCommand } from './init.js'
import { type CliContext, type CliIo, processIo } from './io.js'
import { registerKeysCommands } from './keys.js'
import { registerLocalCommands } from './local.js'
import { registerNodeCommands } from './node.js'
import { registerReadCommands } from './query.js'
import { registerShowNodeIdCommand } from './show-node-id.js'
import { registerTestnetCommand } from './testnet.js'
import { registerTxCommands } from './tx.js'
import { registerVersionCommand } from './version.js'

/** Adds one group of commands to the program (one file per group under src/cli/). */
export type CommandRegistrar = (program: Command, ctx: CliContext) => void

/** The command groups in help order. */
export const COMMAND_GROUPS: readonly CommandRegistrar[] = [
  registerInitCommand,
  registerTestnetCommand,
  registerNodeCommands,
  registerShowNodeIdCommand,
  registerLocalCommands,
  registerKeysCommands,
  registerTxCommands,
  registerReadCommands,
  registerVersionCommand,
  registerCompletionCommand,
]

const PROGRAM_HELP = `
Environment: PBFT_HOME (--home, default ~/.pbft), PBFT_RPC (--rpc, default http://127.0.0.1:26657),
and PBFT_<FLAG> for every flag of pbft start (see pbft start --help).
Exit status: 0 ok, 1 failure, 2 usage error, 3 node unreachable, 4 rejected by the node, 5 timeout.

Examples:
  $ pbft init && pbft start                      # a one-validator chain in ~/.pbft
  $ pbft keys generate --out alice.json
  $ pbft tx send --key alice.json --wait set color blue
  $ pbft get color
  $ pbft status --rpc http://127.0.0.1:26659
`

function commandPath(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

/**
 * Makes every command in the tree report through `io` and throw instead of exiting, so that
 * runCli prints exactly one `error:` line. Applied after registration because commands added
 * with addCommand() do not inherit these settings.
 */
function configureTree(cmd: Command, io: CliIo): void {
  cmd
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: () => {}, outputError: () => {} })
    .showSuggestionAfterError(false)
    .exitOverride((err) => {
      // A group called without a subcommand: commander would print the whole help on stderr.
      if (err.code === 'commander.help' && err.exitCode !== 0) {
        throw new CommanderError(
          ExitCode.USAGE,
          err.code,
          `missing command; run '${commandPath(cmd)} --help' to list them`,
        )
      }
      throw err
    })
  for (const sub of cmd.commands) configureTree(sub, io)
}

function buildProgram(
  ctx: CliContext = { io: processIo },
  groups: readonly CommandRegistrar[] = COMMAND_GROUPS,
): Command {
  const program = new Command('pbft')
    .description('pbft-node: a PBFT blockchain node over libp2p')
    .version(packageVersion())
    .addHelpText('after', PROGRAM_HELP)
  for (const register of groups) register(program, ctx)
  configureTree(program, ctx.io)
  return program
}

/** One line, whatever the error: every error is one clear line on stderr (docs/CLI.md "Exit status"). */
export function errorLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  const oneLine = message.replace(/\s*\n\s*/g, ' ').trim()
  return `error: ${oneLine.replace(/^error:\s*/i, '')}`
}

/** Runs the CLI on `argv` (without node and script) and returns the exit code; never throws. */
export async function runCli(
  argv: readonly string[],
  io: CliIo = processIo,
  groups?: readonly CommandRegistrar[],
): Promise<number> {
  try {
    const program = buildProgram({ io }, groups)
    await program.parseAsync([...argv], { from: 'user' })
    return 0
  } catch (err) {
    if (err instanceof CommanderError && err.exitCode === 0) return ExitCode.OK
    const cliError = toCliError(err)
    io.err(`${errorLine(cliError)}\n`)
    // Stack traces only on request: users get the one line, developers can ask for more.
    if (process.env.PBFT_DEBUG === '1' && err instanceof Error && err.stack !== undefined)
      io.err(`${err.stack}\n`)
    return cliError.exitCode
  }
}
