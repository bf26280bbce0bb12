/**
 * Writes a valid chain straight into a node home's store for the catch-up benchmark (bench/catchup.ts):
 * blocks of signed txs proposed by the primary of their view and certified by every validator of the
 * testnet, with the real app's execution — what consensus would have produced, without running it.
 * Needs every validator's node_key.json (a `pbft testnet` output directory has them all).
 */
import { join } from 'node:path'
import { KvApp } from '../src/app/kv-app.js'
import { buildCertificate } from '../src/chain/certificate.js'
import { genesisValidatorSet, loadGenesis } from '../src/chain/genesis.js'
import { makeGenesisBlock } from '../src/chain/genesis-block.js'
import { merkleRoot } from '../src/chain/merkle.js'
import { ChainStore } from '../src/chain/store.js'
import { blockHash, commitVoteSignBytes, txHash } from '../src/codec/chain.js'
import { signTx } from '../src/codec/tx-sign.js'
import type { Block, BlockHeader, CommitCertificate } from '../src/codec/types.js'
import { Ed25519Signer } from '../src/crypto/ed25519.js'
import { sha256 } from '../src/crypto/hash.js'
import { loadNodeKey } from '../src/crypto/node-key.js'

export interface ChainSpec {
  /** blocks to write above genesis */
  readonly blocks: number
  /** txs in each block (0 = empty blocks) */
  readonly txsPerBlock: number
  /** client keys sending the txs */
  readonly senders: number
}

/** Writes `spec.blocks` blocks into `homes[0]`'s store; returns the tip height. */
export async function writeChain(homes: readonly string[], spec: ChainSpec): Promise<number> {
  const genesis = await loadGenesis(join(homes[0] as string, 'genesis.json'))
  const keys = await Promise.all(homes.map((h) => loadNodeKey(join(h, 'node_key.json'))))
  const signerOf = new Map(keys.map((k) => [Buffer.from(k.signer.publicKey).toString('hex'), k.signer]))
  const validatorSigners = genesis.validators.map((v) => {
    const s = signerOf.get(Buffer.from(v.publicKey).toString('hex'))
    if (s === undefined) throw new Error('writeChain needs the node key of every validator')
    return s
  })
  const senders = Array.from(
    { length: spec.senders },
    (_, i) => new Ed25519Signer(sha256(new TextEncoder().encode(`catchup-sender-${i}`))),
  )
  const { quorum } = genesisValidatorSet(genesis)
  const genesisApp = KvApp.fromGenesis(genesis.chainId, genesis.appState.kv)
  const store = await ChainStore.open(join(homes[0] as string, 'data'))
  try {
    await store.init(
      makeGenesisBlock(genesis.chainId, genesis.genesisTimeMs, genesisApp.appHash()),
      genesisApp.stateEntries(),
    )
    const app = await KvApp.load(store, genesis.chainId)
    const nonces = new Array<number>(spec.senders).fill(0)
    for (let i = 0; i < spec.blocks; i++) {
      const tip = store.tip()
      const height = tip.height + 1
      const txs: Uint8Array[] = []
      for (let t = 0; t < spec.txsPerBlock; t++) {
        const s = (height * spec.txsPerBlock + t) % spec.senders
        const tx = signTx(senders[s] as Ed25519Signer, {
          chainId: genesis.chainId,
          nonce: nonces[s] as number,
          op: { type: 'set', key: `k${(height * 31 + t) % 5000}`, value: `v${height}-${t}` },
        })
        nonces[s] = (nonces[s] as number) + 1
        app.signatures.add(txHash(tx)) // signed here: the writer need not verify its own txs
        txs.push(tx)
      }
      const view = height % validatorSigners.length
      const block = makeBlock(tip.header, txs, tip.appHash, view, genesis.validators[view]?.publicKey)
      const execution = app.execute(block.txs)
      if (!execution.ok) throw new Error(`built an invalid block at ${height}: ${execution.reason}`)
      await store.commitBlock(block, certify(genesis.chainId, block, validatorSigners, quorum), execution)
      app.apply(execution)
    }
    return store.tip().height
  } finally {
    await store.close()
  }
}

function makeBlock(
  parent: BlockHeader,
  txs: Uint8Array[],
  appHash: Uint8Array,
  view: number,
  proposer: Uint8Array | undefined,
): Block {
  if (proposer === undefined) throw new Error(`no primary for view ${view}`)
  return {
    header: {
      chainId: parent.chainId,
      height: parent.height + 1,
      view,
      // 1 ms apart from genesis: always in the past, so no clock-drift rule applies
      timestamp: parent.timestamp + 1,
      proposer,
      parentHash: blockHash(parent),
      txRoot: merkleRoot(txs.map(txHash)),
      appHash,
    },
    txs,
  }
}

/** A certificate of a quorum of votes, as the engine builds it (the first quorum to commit). */
function certify(
  chainId: string,
  block: Block,
  signers: readonly Ed25519Signer[],
  quorum: number,
): CommitCertificate {
  const hash = blockHash(block.header)
  const msg = commitVoteSignBytes(chainId, block.header.view, block.header.height, hash)
  const votes = signers.slice(0, quorum).map((s, i) => ({ validator: i, signature: s.sign(msg) }))
  return buildCertificate(block.header.height, block.header.view, hash, votes)
}
