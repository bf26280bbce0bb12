import { EventEmitter } from 'node:events'
import { expect } from 'chai'
import pino from 'pino'
import type { MempoolJournal } from '../../../src/mempool/journal.js'
import { NodeMetrics } from '../../../src/node/metrics.js'
import { TxService } from '../../../src/node/tx-service.js'
import { waitFor } from '../../helpers/wait.js'
import { harness, signedTx, signer } from '../mempool/fixtures.js'

/** TxService's txs_available signal: only for a tx the primary could propose now. */
describe('node/tx-service: txs_available', () => {
  function setup() {
    const { pool } = harness()
    let signals = 0
    const journal = { recordPending: async () => {}, committed: () => {} } as unknown as MempoolJournal
    const service = new TxService({
      mempool: pool,
      journal,
      publishTxs: async () => {},
      onTxsAvailable: () => {
        signals++
      },
      isCommitted: async () => false,
      events: new EventEmitter(),
      metrics: new NodeMetrics({ chainId: 'test-chain' }),
      log: pino({ level: 'silent' }),
    })
    return { service, signals: () => signals }
  }
  /** one event-loop turn: the signal is coalesced to setImmediate */
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

  it('a tx behind a nonce gap does not signal; the tx that fills the gap does', async () => {
    const { service, signals } = setup()
    const alice = signer(0)
    try {
      await service.submit(signedTx(alice, 1)).journaled
      await turn()
      await turn()
      // a lone gap tx must not start the backups' progress timer (it forced view changes)
      expect(signals()).to.equal(0)
      await service.submit(signedTx(alice, 0)).journaled
      await waitFor(() => signals() === 1, { timeoutMs: 2_000, message: 'txs_available after nonce 0' })
    } finally {
      service.stop()
    }
  })
})
