import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { genesisValidatorSet } from '../../../src/chain/genesis.js'
import { ChainStore } from '../../../src/chain/store.js'
import { commitVoteSignBytes } from '../../../src/codec/chain.js'
import { type ConsensusMessage, prepareSignBytes } from '../../../src/codec/consensus.js'
import { signTx } from '../../../src/codec/tx-sign.js'
import { Ed25519Signer, verifySignature } from '../../../src/crypto/ed25519.js'
import { fromHex, sha256, toHex } from '../../../src/crypto/hash.js'
import { defaultConfig } from '../../../src/node/config.js'
import { EvidencePool } from '../../../src/node/evidence-pool.js'
import { initHome } from '../../../src/node/home.js'
import { silentLogger } from '../../../src/node/logger.js'
import { PbftNode } from '../../../src/node/node.js'
import type { NodeRpcBackend } from '../../../src/node/rpc-backend.js'
import { RpcError, RpcErrorCode } from '../../../src/rpc/errors.js'
import { waitForValue } from '../../helpers/wait.js'

const CHAIN = 'backend-test'

async function rpcErrorCode(p: Promise<unknown>): Promise<number> {
  try {
    await p
  } catch (err) {
    expect(err).to.be.instanceOf(RpcError)
    return (err as RpcError).code
  }
  expect.fail('expected an RpcError')
}

describe('node/rpc-backend broadcastTx (one in-process validator)', function () {
  this.timeout(60_000)
  let dir: string
  let node: PbftNode
  let backend: NodeRpcBackend
  const client = new Ed25519Signer(sha256(new TextEncoder().encode('rpc-backend-spec')))
  const tx = (nonce: number, value = `v${nonce}`): Uint8Array =>
    signTx(client, { chainId: CHAIN, nonce, op: { type: 'set', key: 'k', value } })

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pbft-backend-'))
    const config = defaultConfig({ p2pHost: '127.0.0.1', p2pPort: 0, rpcPort: 0 })
    await initHome(dir, { chainId: CHAIN, config })
    node = await PbftNode.open({ home: dir, logger: silentLogger() })
    await node.start()
    backend = node.rpcBackend()
  })

  after(async () => {
    await node?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('admits a new tx, answers a resubmission with its status (pending, then final), rejects the invalid', async () => {
    const first = tx(0)
    const admitted = await backend.broadcastTx(first)
    expect(admitted.status).to.equal('pending')
    const final = await waitForValue(
      async () => {
        const r = await backend.tx(admitted.hash)
        return r?.status === 'final' ? r : undefined
      },
      { timeoutMs: 20_000, intervalMs: 50, message: 'the tx to be final' },
    )
    expect(final.height).to.be.a('number')
    // A final tx is never admitted again: its resubmission reports 'final' from the tx index.
    expect(await backend.broadcastTx(first)).to.deep.equal({ hash: admitted.hash, status: 'final' })
    // Another tx reusing the spent nonce is an error, not a status.
    expect(await rpcErrorCode(backend.broadcastTx(tx(0, 'other')))).to.equal(RpcErrorCode.TX_NONCE_USED)
    const forged = tx(1).slice()
    forged[forged.length - 1] ^= 0x01
    expect(await rpcErrorCode(backend.broadcastTx(forged))).to.equal(RpcErrorCode.TX_INVALID_SIGNATURE)
  })
})

describe('node/rpc-backend evidence (a real pool, reloaded by an in-process node)', function () {
  this.timeout(60_000)
  const chainId = 'evidence-backend-test'
  let dir: string
  let node: PbftNode
  let backend: NodeRpcBackend
  let publicKey: Uint8Array

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pbft-evidence-backend-'))
    const config = defaultConfig({ p2pHost: '127.0.0.1', p2pPort: 0, rpcPort: 0 })
    const home = await initHome(dir, { chainId, config })
    // The engine reports equivocations only of other validators' messages; with one validator the
    // pool is fed directly, through the node's own store, before the node opens it.
    const store = await ChainStore.open(home.paths.data)
    const pool = new EvidencePool({ store, chainId, validators: genesisValidatorSet(home.genesis) })
    const s = home.nodeKey.signer
    publicKey = s.publicKey
    const hash = (b: number) => new Uint8Array(32).fill(b)
    const vote = (kind: 'prepare' | 'commit', height: number, h: Uint8Array): ConsensusMessage => {
      const bytes =
        kind === 'prepare'
          ? prepareSignBytes(chainId, 0, height, 0, h)
          : commitVoteSignBytes(chainId, 0, height, h)
      return { kind, view: 0, height, blockHash: h, sender: 0, signature: s.sign(bytes) }
    }
    for (const [kind, height] of [
      ['prepare', 5],
      ['commit', 6],
    ] as const) {
      const added = pool.add({
        sender: 0,
        kind,
        view: 0,
        height,
        first: vote(kind, height, hash(1)),
        second: vote(kind, height, hash(2)),
      })
      expect(added.status).to.equal('added')
    }
    await pool.close()
    await store.close()
    node = await PbftNode.open({ home: dir, logger: silentLogger() })
    await node.start()
    backend = node.rpcBackend()
  })

  after(async () => {
    await node?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves the reloaded records newest first, with the validator and checkable signatures', () => {
    const r = backend.evidence({ limit: 10 })
    expect(r.total).to.equal(2)
    expect(r.evidence.map((e) => [e.kind, e.height])).to.deep.equal([
      ['commit', 6],
      ['prepare', 5],
    ])
    const [latest] = r.evidence
    expect(latest?.validator).to.deep.equal({ index: 0, peer_id: node.peerId, public_key: toHex(publicKey) })
    expect(latest?.first.digest).to.equal(toHex(new Uint8Array(32).fill(1)))
    expect(latest?.received_at).to.be.a('number')
    // A client needs nothing but the public key: Ed25519 over sign_bytes.
    for (const e of r.evidence)
      for (const side of [e.first, e.second]) {
        expect(side.sign_bytes).to.be.a('string')
        expect(
          verifySignature(publicKey, fromHex(side.sign_bytes as string), fromHex(side.signature)),
        ).to.equal(true)
      }
    expect(backend.evidence({ limit: 1 })).to.deep.equal({ total: 2, evidence: [latest] })
  })

  it('filters by validator index or peer id; an unknown validator is INVALID_PARAMS', async () => {
    expect(backend.evidence({ limit: 10, validator: 0 }).total).to.equal(2)
    expect(backend.evidence({ limit: 10, validator: node.peerId }).total).to.equal(2)
    for (const validator of [1, 'nope']) {
      expect(
        await rpcErrorCode(Promise.resolve().then(() => backend.evidence({ limit: 10, validator }))),
      ).to.equal(RpcErrorCode.INVALID_PARAMS)
    }
  })
})
