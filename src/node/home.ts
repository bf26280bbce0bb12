import { access, mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { chainIdProblem, type Genesis, loadGenesis, makeGenesis, saveGenesis } from '../chain/genesis.js'
import { generateNodeKey, loadNodeKey, type NodeKey, saveNodeKey } from '../crypto/node-key.js'
import { CONFIG_FILE, defaultConfig, loadConfig, type NodeConfig, saveConfig } from './config.js'

/** A problem with a node home as a whole (exists already, incomplete, inconsistent). */
export class HomeError extends Error {
  override name = 'HomeError'
}

export const DEFAULT_CHAIN_ID = 'pbft-local'
const GENESIS_FILE = 'genesis.json'
const NODE_KEY_FILE = 'node_key.json'
const DATA_DIR = 'data'

/** The layout of a node home (docs/HOME.md). */
interface HomePaths {
  readonly home: string
  readonly config: string
  readonly genesis: string
  readonly nodeKey: string
  /** LevelDB store: blocks, certificates, state, consensus WAL */
  readonly data: string
}

export function homePaths(home: string): HomePaths {
  const dir = resolve(home)
  return {
    home: dir,
    config: join(dir, CONFIG_FILE),
    genesis: join(dir, GENESIS_FILE),
    nodeKey: join(dir, NODE_KEY_FILE),
    data: join(dir, DATA_DIR),
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

interface HomeContents {
  readonly nodeKey: NodeKey
  readonly config: NodeConfig
  readonly genesis: Genesis
}

/**
 * Writes a complete home: node_key.json (0600), config.json, genesis.json and an empty data/.
 * Refuses when any of them already exists, so a key or chain is never replaced by accident.
 */
export async function writeHome(home: string, contents: HomeContents): Promise<HomePaths> {
  const paths = homePaths(home)
  const present: string[] = []
  for (const path of [paths.nodeKey, paths.config, paths.genesis, paths.data]) {
    if (await exists(path)) present.push(path.slice(paths.home.length + 1))
  }
  if (present.length > 0) {
    throw new HomeError(
      `${paths.home} is already a node home (has ${present.join(', ')}); refusing to overwrite`,
    )
  }
  // 0700: the home holds the node's private key.
  await mkdir(paths.home, { recursive: true, mode: 0o700 })
  await saveNodeKey(paths.nodeKey, contents.nodeKey)
  await saveConfig(paths.home, contents.config)
  await saveGenesis(paths.genesis, contents.genesis)
  await mkdir(paths.data, { mode: 0o700 })
  return paths
}

interface InitHomeOptions {
  chainId?: string
  genesisTime?: Date
  config?: NodeConfig
}

/** `pbft init`: a new key, the default config, and a genesis with this node as the only validator. */
export async function initHome(
  home: string,
  opts: InitHomeOptions = {},
): Promise<HomeContents & { paths: HomePaths }> {
  const chainId = opts.chainId ?? DEFAULT_CHAIN_ID
  const problem = chainIdProblem(chainId)
  if (problem !== undefined) throw new HomeError(`chain id ${problem}`)
  const nodeKey = await generateNodeKey()
  const genesis = makeGenesis({
    chainId,
    genesisTime: opts.genesisTime,
    validators: [{ peerId: nodeKey.peerId, publicKey: nodeKey.signer.publicKey }],
  })
  const config = opts.config ?? defaultConfig()
  const paths = await writeHome(home, { nodeKey, config, genesis })
  return { paths, nodeKey, config, genesis }
}

/** Loads a home for `pbft start` and friends; every problem is one clear error naming the file. */
export async function loadHome(home: string): Promise<HomeContents & { paths: HomePaths }> {
  const paths = homePaths(home)
  if (!(await exists(paths.home)))
    throw new HomeError(`node home ${paths.home} does not exist (create it with pbft init)`)
  const config = await loadConfig(paths.home)
  const genesis = await loadGenesis(paths.genesis)
  const nodeKey = await loadNodeKey(paths.nodeKey)
  return { paths, nodeKey, config, genesis }
}
