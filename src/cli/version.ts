import type { Command } from 'commander'
import { packageVersion } from '../node/version.js'
import type { CliContext } from './io.js'
import { addOutputOption, fields, type OutputFormat, printResult } from './output.js'

/** `pbft version`: this CLI's version and the runtime (a node's own version is in `pbft status`). */
export function registerVersionCommand(program: Command, ctx: CliContext): void {
  const cmd = program.command('version').description("print pbft's version and the Node.js it runs on")
  addOutputOption(cmd, { json: true })
    .addHelpText(
      'after',
      "\nExamples:\n  $ pbft version\n  $ pbft version --json\n  $ pbft status --output json | jq .node_info.version   # a node's version\n",
    )
    .action((opts: { output?: OutputFormat; json?: boolean }) => {
      const info = {
        version: packageVersion(),
        node: process.version,
        platform: process.platform,
        arch: process.arch,
      }
      printResult(ctx, opts, info, () =>
        fields([
          ['pbft', info.version],
          ['node', info.node],
          ['platform', `${info.platform} ${info.arch}`],
        ]),
      )
    })
}
