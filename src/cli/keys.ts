import type { Command } from 'commander'
import { toHex } from '../crypto/hash.js'
import { generateClientKey } from './client-key.js'
import type { CliContext } from './io.js'

export function registerKeysCommands(program: Command, ctx: CliContext): void {
  const keys = program.command('keys').description('manage client keys that sign transactions')
  keys
    .command('generate')
    .description('create a new Ed25519 client key file (mode 0600) and print its address (0x public key)')
    .requiredOption('--out <file>', 'where to write the key; an existing file is never replaced')
    .addHelpText(
      'after',
      `
Examples:
  $ pbft keys generate --out alice.json            # prints the address, 0x…
  $ pbft tx send --key alice.json set color blue
`,
    )
    .action(async (opts: { out: string }) => {
      const signer = await generateClientKey(opts.out)
      ctx.io.out(`${toHex(signer.publicKey)}\n`)
    })
}
