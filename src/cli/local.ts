/**
 * Commands on a node home that need no running node: `show-validator` (who this node is in the
 * chain) and `unsafe-reset-all` (delete its chain data). docs/CLI.md, docs/HOME.md "data/".
 */
import { access, mkdir, readdir, rm } from 'node:fs/promises'
import type { Command } from 'commander'
import { genesisValidatorSet, loadGenesis } from '../chain/genesis.js'
import { LevelBackend } from '../chain/kv-backend.js'
import { StoreError } from '../chain/store-error.js'
import { toHex } from '../crypto/hash.js'
import { loadNodeKey } from '../crypto/node-key.js'
import { homePaths } from '../node/home.js'
import { CliError, UsageError } from './exit-codes.js'
import type { CliContext } from './io.js'
import { addHomeOption } from './options.js'
import { addOutputOption, fields, type OutputFormat, printResult } from './output.js'

/** The home's paths, once it is known to exist: a missing one is one line naming it and how to make one. */
export async function existingHome(home: string): Promise<ReturnType<typeof homePaths>> {
  const paths = homePaths(home)
  try {
    await access(paths.home)
  } catch {
    throw new CliError(
      `node home ${paths.home} does not exist (create it with pbft init, or point --home or PBFT_HOME at one)`,
    )
  }
  return paths
}

/** This node in its genesis: its identity, and its validator index when it is one. */
async function validatorIdentity(home: string) {
  const paths = await existingHome(home)
  const key = await loadNodeKey(paths.nodeKey)
  const genesis = await loadGenesis(paths.genesis)
  const validators = genesisValidatorSet(genesis)
  return {
    peer_id: key.peerId,
    public_key: toHex(key.signer.publicKey),
    chain_id: genesis.chainId,
    /** the index in genesis.json's validators (the order is the index), null for an observer */
    index: validators.byPeerId(key.peerId)?.index ?? null,
    validators: validators.n,
  }
}

function registerShowValidator(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('show-validator')
    .description("print the node's validator identity: peer id, public key, index in genesis")
  addHomeOption(cmd)
  addOutputOption(cmd)
    .addHelpText(
      'after',
      '\nExamples:\n  $ pbft show-validator\n  $ pbft show-validator --home /tmp/net/node2 --output json\n',
    )
    .action(async (opts: { home: string; output?: OutputFormat }) => {
      const id = await validatorIdentity(opts.home)
      printResult(ctx, opts, id, () =>
        fields([
          ['peer id', id.peer_id],
          ['public key', id.public_key],
          ['chain', id.chain_id],
          [
            'validator',
            id.index === null
              ? `no: not in genesis.json's ${id.validators} validators (an observer)`
              : `yes: index ${id.index} of ${id.validators}`,
          ],
        ]),
      )
    })
}

/** Refuses while a node has the store open: LevelDB's lock says so. */
async function assertNotRunning(dataDir: string): Promise<void> {
  let backend: LevelBackend
  try {
    backend = await LevelBackend.open(dataDir)
  } catch (err) {
    if (err instanceof StoreError && /lock/i.test(err.message)) {
      throw new CliError(`${dataDir} is in use: a node is running with this home; stop it first`)
    }
    return // a store that does not open (corrupt, say) is what a reset is for
  }
  await backend.close()
}

function registerUnsafeResetAll(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('unsafe-reset-all')
    .description("delete the node's chain data (HOME/data): it syncs again from genesis at the next start")
    .option('--force', "also on a validator's home, whose data holds its consensus WAL (read the help first)")
  addHomeOption(cmd)
    .addHelpText(
      'after',
      `
Deletes HOME/data: blocks, state, the consensus WAL and the mempool journal. The key, config.json
and genesis.json stay; the next pbft start syncs the chain from peers, verifying every certificate.
On a validator's home it refuses without --force: the WAL holds the votes this validator signed,
so that it never signs a conflicting vote for the same height after a restart. Wiped, it may
double-sign, and is then one of the f faulty validators the chain tolerates: never wipe more than
f validators at once.

Examples:
  $ pbft unsafe-reset-all --home /tmp/net/observer0
  $ pbft unsafe-reset-all --home ~/.pbft --force
`,
    )
    .action(async (opts: { home: string; force?: boolean }) => {
      const paths = await existingHome(opts.home)
      if (opts.force !== true) {
        const id = await validatorIdentity(opts.home)
        if (id.index !== null) {
          throw new UsageError(
            `${paths.home} is validator ${id.index}'s home: its data holds the consensus WAL that keeps it from double-signing after a restart; add --force to delete it anyway`,
          )
        }
      }
      let entries: string[]
      try {
        entries = await readdir(paths.data)
      } catch {
        entries = []
      }
      if (entries.length > 0) await assertNotRunning(paths.data)
      try {
        await rm(paths.data, { recursive: true, force: true })
        await mkdir(paths.data, { mode: 0o700 })
      } catch (err) {
        throw new CliError(
          `cannot reset ${paths.data}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        )
      }
      ctx.io.out(`deleted the chain data in ${paths.data}; the next start syncs from genesis\n`)
    })
}

export function registerLocalCommands(program: Command, ctx: CliContext): void {
  registerShowValidator(program, ctx)
  registerUnsafeResetAll(program, ctx)
}
