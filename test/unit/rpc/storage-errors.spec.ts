import { writeFileSync } from 'node:fs'
import { expect } from 'chai'
import { StoreError, storageFailure } from '../../../src/chain/store-error.js'
import { MempoolJournalError } from '../../../src/mempool/journal.js'
import { NodeRpcBackend, type RpcBackendComponents } from '../../../src/node/rpc-backend.js'
import { RpcError, RpcErrorCode } from '../../../src/rpc/errors.js'
import { rpcErrorFromStorage } from '../../../src/rpc/storage-errors.js'

/** What classic-level throws when LevelDB cannot append to its log on a full disk (seen on a tmpfs). */
function levelNoSpace(): Error {
  return Object.assign(new Error('IO error: /home/n0/data/000003.log: No space left on device'), {
    code: 'LEVEL_IO_ERROR',
  })
}

/** A real ENOSPC from the kernel: /dev/full refuses every write with it. */
function realNoSpace(): unknown {
  try {
    writeFileSync('/dev/full', 'x')
  } catch (err) {
    return err
  }
  throw new Error('/dev/full accepted a write')
}

const errno = (code: string, message: string): Error => Object.assign(new Error(message), { code })

describe('rpc/storage-errors: a storage failure is STORAGE_UNAVAILABLE, not INTERNAL_ERROR', () => {
  it('classifies a full disk, another I/O error, and anything else', () => {
    expect(storageFailure(levelNoSpace())).to.equal('no_space')
    expect(storageFailure(realNoSpace())).to.equal('no_space')
    expect(storageFailure(errno('EDQUOT', 'EDQUOT: disk quota exceeded, write'))).to.equal('no_space')
    expect(storageFailure(new StoreError('commit failed', { cause: levelNoSpace() }))).to.equal('no_space')
    expect(storageFailure(errno('LEVEL_IO_ERROR', 'IO error: 000003.log: Input/output error'))).to.equal(
      'io_error',
    )
    expect(storageFailure(errno('EROFS', 'EROFS: read-only file system, open'))).to.equal('io_error')
    expect(storageFailure(errno('EIO', 'EIO: i/o error, write'))).to.equal('io_error')
    for (const other of [
      new Error('boom'),
      new MempoolJournalError('the mempool journal is closed'),
      errno('LEVEL_DATABASE_NOT_OPEN', 'Database is not open'),
      'No space left on device',
      undefined,
    ]) {
      expect(storageFailure(other), String(other)).to.equal(undefined)
    }
  })

  it('gives the client a clear code, message and reason, without the file name', () => {
    expect(rpcErrorFromStorage(levelNoSpace())?.toJSON()).to.deep.equal({
      code: RpcErrorCode.STORAGE_UNAVAILABLE,
      message: "storage full: no space left on the node's disk; the tx was not accepted",
      data: { reason: 'no_space' },
    })
    expect(
      rpcErrorFromStorage(errno('EIO', 'EIO: i/o error, write /home/n0/data/x'))?.toJSON(),
    ).to.deep.equal({
      code: RpcErrorCode.STORAGE_UNAVAILABLE,
      message: 'storage unavailable: the node cannot write to its disk; the tx was not accepted',
      data: { reason: 'io_error' },
    })
    expect(rpcErrorFromStorage(new Error('boom'))).to.equal(undefined)
    expect(RpcErrorCode.STORAGE_UNAVAILABLE).to.equal(-32013)
  })

  it("the node's broadcastTx answers STORAGE_UNAVAILABLE when the journal write fails", async () => {
    const failing = (err: unknown): RpcBackendComponents => {
      const journaled = Promise.reject(err)
      journaled.catch(() => undefined)
      const txs: Pick<RpcBackendComponents['txs'], 'submit'> = {
        submit: () => ({ hash: new Uint8Array(32), added: true, journaled }),
      }
      // Only txs.submit is reached on this path; the rest of the node is not needed.
      return { txs } as unknown as RpcBackendComponents
    }
    const full = await new NodeRpcBackend(failing(levelNoSpace())).broadcastTx(new Uint8Array(8)).then(
      () => expect.fail('acknowledged a tx that was not journaled'),
      (err: unknown) => err,
    )
    expect(full).to.be.instanceOf(RpcError)
    expect((full as RpcError).toJSON()).to.deep.include({
      code: RpcErrorCode.STORAGE_UNAVAILABLE,
      data: { reason: 'no_space' },
    })
    // Anything else still reaches the server as an unexpected failure (-32603, details logged).
    const bug = new Error('a bug')
    const other = await new NodeRpcBackend(failing(bug)).broadcastTx(new Uint8Array(8)).then(
      () => expect.fail('acknowledged'),
      (err: unknown) => err,
    )
    expect(other).to.equal(bug)
  })
})
