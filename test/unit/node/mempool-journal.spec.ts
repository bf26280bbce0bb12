import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import { ChainStore } from '../../../src/chain/store.js'
import { signTx } from '../../../src/codec/tx-sign.js'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../../src/crypto/hash.js'
import { decodeJournalRecord, encodeJournalRecord, type JournalRecord } from '../../../src/mempool/journal.js'
import { silentLogger } from '../../../src/node/logger.js'
import { PbftNode } from '../../../src/node/node.js'
import type { NodeRpcBackend } from '../../../src/node/rpc-backend.js'
import { oneOfFourHome } from './one-of-four-home.js'

const CHAIN = 'journal-node-test'

/**
 * The node's use of the mempool journal, in process: one validator of four (no quorum, so nothing
 * becomes final and acknowledged txs live only in its mempool and journal) stopped and reopened.
 * The SIGKILL variant with real processes is in test/e2e/faults.spec.ts.
 */
describe('node: mempool journal across restarts (one validator of four, no quorum)', function () {
  this.timeout(60_000)
  let dir: string
  let node: PbftNode | undefined
  const client = new Ed25519Signer(sha256(new TextEncoder().encode('journal-node-spec')))
  const tx = (nonce: number): Uint8Array =>
    signTx(client, { chainId: CHAIN, nonce, op: { type: 'set', key: 'k', value: `v${nonce}` } })

  async function openNode(): Promise<{ node: PbftNode; backend: NodeRpcBackend }> {
    node = await PbftNode.open({ home: dir, logger: silentLogger() })
    await node.start()
    return { node, backend: node.rpcBackend() }
  }

  /** The journal's records (hash -> record) as they are on disk; the node must be stopped. */
  async function journalRecords(): Promise<Map<string, JournalRecord>> {
    const store = await ChainStore.open(join(dir, 'data'))
    try {
      const out = new Map<string, JournalRecord>()
      for (const e of await store.journalEntries()) out.set(toHex(e.hash), decodeJournalRecord(e.value))
      return out
    } finally {
      await store.close()
    }
  }

  beforeEach(async () => {
    dir = await oneOfFourHome('pbft-journal-node-', CHAIN)
  })

  afterEach(async () => {
    await node?.stop()
    node = undefined
    rmSync(dir, { recursive: true, force: true })
  })

  it('an acknowledged tx is journaled at the ack and pending again after a restart', async () => {
    const a = await openNode()
    const acks = await Promise.all([0, 1, 2].map((n) => a.backend.broadcastTx(tx(n))))
    expect(acks.map((r) => r.status)).to.deep.equal(['pending', 'pending', 'pending'])
    await a.node.stop()
    // The records are in the store, with their admission times.
    const records = await journalRecords()
    expect([...records.keys()].sort()).to.deep.equal(acks.map((r) => r.hash).sort())

    const b = await openNode()
    for (const ack of acks) expect((await b.backend.tx(ack.hash))?.status).to.equal('pending')
    await b.node.stop()
    // Re-admitted with its original admission time: its TTL keeps counting from the first ack.
    expect(await journalRecords()).to.deep.equal(records)
    const c = await openNode()
    expect(c.backend.account(toHex(client.publicKey)).pending_nonce).to.equal(3)
    // A resubmission after the restart is an answer, not a failure.
    expect(await c.backend.broadcastTx(tx(1))).to.deep.equal({ hash: acks[1]?.hash, status: 'pending' })
  })

  it('a journaled tx that cannot be re-admitted is reported dropped with the reason; corrupt records are skipped', async () => {
    const a = await openNode()
    const ack = await a.backend.broadcastTx(tx(0))
    await a.node.stop()
    // A foreign chain's tx under its own hash (re-admission refuses it) and a garbage record.
    const store = await ChainStore.open(join(dir, 'data'))
    const foreign = signTx(client, {
      chainId: 'other-chain',
      nonce: 0,
      op: { type: 'set', key: 'x', value: 'y' },
    })
    await store.journalWrite(
      [
        {
          hash: sha256(foreign),
          value: encodeJournalRecord({ kind: 'pending', admittedAt: 5, tx: foreign }),
        },
        { hash: new Uint8Array(32).fill(1), value: new Uint8Array([0xff]) },
      ],
      true,
    )
    await store.close()

    const b = await openNode()
    expect((await b.backend.tx(ack.hash))?.status).to.equal('pending')
    const dropped = await b.backend.tx(toHex(sha256(foreign)))
    expect(dropped?.status).to.equal('dropped')
    expect(dropped?.reason).to.match(/^not re-admitted after restart \(wrong_chain\)/)
    await b.node.stop()
    expect((await journalRecords()).size).to.equal(2) // ours pending, the foreign one dropped

    // The dropped record itself survives another restart.
    const c = await openNode()
    expect((await c.backend.tx(toHex(sha256(foreign))))?.reason).to.equal(dropped?.reason)
  })
})
