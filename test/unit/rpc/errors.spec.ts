import { readFileSync } from 'node:fs'
import { expect } from 'chai'
import { MempoolError } from '../../../src/mempool/errors.js'
import { RPC_ERROR_TABLE, RpcError, RpcErrorCode } from '../../../src/rpc/errors.js'
import { MEMPOOL_TO_RPC_CODE, rpcErrorFromMempool, toRpcError } from '../../../src/rpc/mempool-errors.js'

describe('rpc/errors', () => {
  it('codes are unique, standard or in the application range, and all in the table', () => {
    const codes = Object.values(RpcErrorCode)
    expect(new Set(codes).size).to.equal(codes.length)
    const standard: number[] = [-32700, -32600, -32601, -32602, -32603]
    for (const code of codes) {
      expect(standard.includes(code) || (code >= -32099 && code <= -32000), String(code)).to.equal(true)
    }
    expect(RPC_ERROR_TABLE.map((e) => [e.name, e.code])).to.deep.equal(Object.entries(RpcErrorCode))
  })

  it('docs/RPC.md documents every code under its name', () => {
    const doc = readFileSync(new URL('../../../docs/RPC.md', import.meta.url), 'utf8')
    for (const { name, code } of RPC_ERROR_TABLE) expect(doc).to.contain(`| ${code} | \`${name}\` |`)
  })

  it('RpcError serialises to {code, message, data?}', () => {
    expect(JSON.parse(JSON.stringify(new RpcError(-32008, 'tx not found')))).to.deep.equal({
      code: -32008,
      message: 'tx not found',
    })
    expect(new RpcError(-32005, 'full', { n: 1 }).toJSON()).to.deep.equal({
      code: -32005,
      message: 'full',
      data: { n: 1 },
    })
  })

  it('maps every mempool refusal to a stable code', () => {
    expect(MEMPOOL_TO_RPC_CODE.bad_nonce).to.equal(RpcErrorCode.TX_NONCE_USED)
    const err = rpcErrorFromMempool(new MempoolError('mempool_full', 'mempool is full'))
    expect(err.toJSON()).to.deep.equal({
      code: -32005,
      message: 'mempool is full',
      data: { reason: 'mempool_full' },
    })
    const other = new Error('x')
    expect(toRpcError(other)).to.equal(other)
    expect(toRpcError(new MempoolError('invalid_signature', 'bad sig'))).to.be.instanceOf(RpcError)
  })
})
