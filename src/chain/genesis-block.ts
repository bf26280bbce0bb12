import type { Block } from '../codec/types.js'
import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.js'
import { HASH_BYTES } from '../crypto/hash.js'
import { merkleRoot } from './merkle.js'

/**
 * Block 0. Its app_hash is the hash of the genesis app state, which is also the state block 1
 * builds on (a header carries the state root *after its parent*). No proposer, no parent, no txs.
 */
export function makeGenesisBlock(chainId: string, genesisTimeMs: number, appHash: Uint8Array): Block {
  return {
    header: {
      chainId,
      height: 0,
      view: 0,
      timestamp: genesisTimeMs,
      proposer: new Uint8Array(PUBLIC_KEY_BYTES),
      parentHash: new Uint8Array(HASH_BYTES),
      txRoot: merkleRoot([]),
      appHash,
    },
    txs: [],
  }
}
