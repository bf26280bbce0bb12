import type { Command } from 'commander'
import { DEFAULT_CHAIN_ID, initHome } from '../node/home.js'
import type { CliContext } from './io.js'
import { addHomeOption, chainIdOption } from './options.js'

export function registerInitCommand(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('init')
    .description(
      'create a node home: node key, default config and a genesis with this node as sole validator',
    )
  addHomeOption(cmd, 'the node home to create (refuses an existing home)')
    .option('--chain-id <id>', 'chain id written to genesis.json', chainIdOption, DEFAULT_CHAIN_ID)
    .addHelpText(
      'after',
      `
Examples:
  $ pbft init                                      # ~/.pbft (or $PBFT_HOME)
  $ pbft init --home /tmp/n0 --chain-id mychain && pbft start --home /tmp/n0
`,
    )
    .action(async (opts: { home: string; chainId: string }) => {
      const { paths, nodeKey, genesis } = await initHome(opts.home, { chainId: opts.chainId })
      ctx.io.out(
        [
          `initialized node home ${paths.home}`,
          `peer id   ${nodeKey.peerId}`,
          `chain id  ${genesis.chainId}`,
          `genesis   ${paths.genesis}`,
          '',
        ].join('\n'),
      )
    })
}
