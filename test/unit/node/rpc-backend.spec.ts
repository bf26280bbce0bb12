import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { signTx } from '../../../src/codec/tx-sign.js'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { sha256 } from '../../../src/crypto/hash.js'
import { defaultConfig } from '../../../src/node/config.js'
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
