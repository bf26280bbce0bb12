import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeGenesis } from '../../../src/chain/genesis.js'
import { generateNodeKey } from '../../../src/crypto/node-key.js'
import { defaultConfig } from '../../../src/node/config.js'
import { writeHome } from '../../../src/node/home.js'

/**
 * A fresh temp home of validator 0 of a four-validator chain (no quorum alone: nothing becomes final),
 * listening on 127.0.0.1 with OS-chosen ports. The caller removes the returned directory.
 */
export async function oneOfFourHome(prefix: string, chainId: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const keys = await Promise.all([0, 1, 2, 3].map(() => generateNodeKey()))
  const genesis = makeGenesis({
    chainId,
    validators: keys.map((k) => ({ peerId: k.peerId, publicKey: k.signer.publicKey })),
  })
  const config = defaultConfig({ p2pHost: '127.0.0.1', p2pPort: 0, rpcPort: 0 })
  await writeHome(dir, { nodeKey: keys[0] as (typeof keys)[0], config, genesis })
  return dir
}
