import { expect } from 'chai'
import { makeGenesisBlock } from '../../../src/chain/genesis-block.js'
import type { ChainStore } from '../../../src/chain/store.js'
import type { Block, CommitCertificate } from '../../../src/codec/types.js'
import { sha256 } from '../../../src/crypto/hash.js'
import type { Network } from '../../../src/network/network.js'
import type { SyncedBlock } from '../../../src/network/sync-client.js'
import { BlockSync } from '../../../src/node/block-sync.js'
import { silentLogger } from '../../../src/node/logger.js'
import { NodeMetrics } from '../../../src/node/metrics.js'
import { buildBlock, CHAIN_ID, certify, makeValidators } from '../../fixtures/chain-builders.js'
import { waitFor } from '../../helpers/wait.js'

/**
 * BlockSync's apply path with a scripted network and store: each block is prepared before it is
 * applied, in order, and synced blocks are committed with durability deferred, restored (flushed)
 * every 256 blocks and at the end of the round.
 */
describe('node/block-sync: the apply path', function () {
  this.timeout(30_000)
  const validators = makeValidators(4)
  const TIP = 300
  const chain: { block: Block; certificate: CommitCertificate }[] = []
  let parent = makeGenesisBlock(CHAIN_ID, 1_000, sha256()).header
  for (let h = 1; h <= TIP; h++) {
    const block = buildBlock({ parent, txs: [], appHash: sha256(), validators, view: h })
    chain.push({ block, certificate: certify(block, validators, [0, 1, 2]) })
    parent = block.header
  }

  it('prepares every block before applying it, and defers durability across the round', async () => {
    let height = 0
    const log: string[] = []
    const network: Pick<Network, 'peerTips' | 'fetchRange'> = {
      peerTips: async () => [{ peerId: 'p', height: TIP, hash: new Uint8Array(32) }],
      fetchRange: async function* (from, to, verify) {
        for (let h = from; h <= to; h++) {
          const { block, certificate } = chain[h - 1] as (typeof chain)[number]
          if (!(await verify(block, certificate))) throw new Error(`block ${h} did not verify`)
          const synced: SyncedBlock = {
            height: h,
            block,
            certificate,
            encoded: { block: new Uint8Array(), certificate: new Uint8Array() },
          }
          yield synced
        }
      },
    }
    const sync = new BlockSync({
      chainId: CHAIN_ID,
      validators: validators.set,
      store: { tip: () => ({ height }) } as unknown as ChainStore,
      network,
      applySynced: async (block) => {
        log.push(`apply ${block.header.height}`)
        height = block.header.height
      },
      prepareSynced: async (block) => {
        log.push(`prepare ${block.header.height}`)
      },
      durability: {
        defer: () => log.push('defer'),
        restore: async () => {
          log.push('restore')
        },
      },
      metrics: new NodeMetrics({ chainId: CHAIN_ID }),
      log: silentLogger(),
    })
    sync.start()
    try {
      sync.request(TIP)
      await waitFor(() => height === TIP && log.at(-1) === 'restore', { message: 'the round to finish' })
    } finally {
      await sync.stop()
    }
    const applied = log.filter((l) => l.startsWith('apply')).map((l) => Number(l.split(' ')[1]))
    expect(applied).to.deep.equal(chain.map((c) => c.block.header.height))
    for (let h = 1; h <= TIP; h++) {
      expect(log.indexOf(`prepare ${h}`), `prepare ${h}`).to.be.within(0, log.indexOf(`apply ${h}`))
    }
    const durability = log.filter((l) => l === 'defer' || l === 'restore')
    expect(durability).to.deep.equal(['defer', 'restore', 'defer', 'restore'])
    expect(log[0]).to.equal('defer')
    expect(log.indexOf('restore')).to.be.above(log.indexOf('apply 256'))
    expect(log.indexOf('restore')).to.be.below(log.indexOf('apply 257'))
  })

  /** Syncs the first 5 blocks with `checkSignatures`; returns the heights applied and refused. */
  async function syncWithChecker(
    checkSignatures: () => Promise<readonly boolean[]>,
  ): Promise<{ applied: number[]; refused: number[] }> {
    let height = 0
    const applied: number[] = []
    const refused: number[] = []
    const sync = new BlockSync({
      chainId: CHAIN_ID,
      validators: validators.set,
      store: { tip: () => ({ height }) } as unknown as ChainStore,
      network: {
        peerTips: async () => [{ peerId: 'p', height: 5, hash: new Uint8Array(32) }],
        fetchRange: async function* (from, to, verify) {
          for (let h = from; h <= to; h++) {
            const { block, certificate: stored } = chain[h - 1] as (typeof chain)[number]
            const certificate = { ...stored } // a fresh object, as if decoded: nothing remembered about it
            if (!(await verify(block, certificate))) {
              refused.push(h)
              return
            }
            yield {
              height: h,
              block,
              certificate,
              encoded: { block: new Uint8Array(), certificate: new Uint8Array() },
            }
          }
        },
      },
      applySynced: async (block) => {
        applied.push(block.header.height)
        height = block.header.height
      },
      checkSignatures,
      metrics: new NodeMetrics({ chainId: CHAIN_ID }),
      log: silentLogger(),
    })
    sync.start()
    try {
      sync.request(5)
      await waitFor(() => height === 5 || refused.length > 0, { message: 'the round to end' })
    } finally {
      await sync.stop()
    }
    return { applied, refused }
  }

  it('verifies certificates on the checker, and here when the checker itself fails', async () => {
    expect(await syncWithChecker(async () => [true, true, true])).to.deep.equal({
      applied: [1, 2, 3, 4, 5],
      refused: [],
    })
    // a dead pool is not the peer's fault: the node checks the (valid) certificates itself
    expect(
      await syncWithChecker(async () => {
        throw new Error('signature worker exited with code 1')
      }),
    ).to.deep.equal({ applied: [1, 2, 3, 4, 5], refused: [] })
    // a signature the checker refuses is the peer's fault
    expect(await syncWithChecker(async () => [true, false, true])).to.deep.equal({
      applied: [],
      refused: [1],
    })
  })
})
