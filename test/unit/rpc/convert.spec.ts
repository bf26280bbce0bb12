import { expect } from 'chai'
import { blockHash } from '../../../src/codec/chain.js'
import type { BlockHeader, CommitCertificate } from '../../../src/codec/types.js'
import { toHex } from '../../../src/crypto/hash.js'
import {
  blockToResult,
  certificateFromJson,
  certificateToJson,
  headerFromJson,
  headerToJson,
  RpcJsonError,
} from '../../../src/rpc/convert.js'

const header: BlockHeader = {
  chainId: 'c',
  height: 7,
  view: 2,
  timestamp: 1_700_000_000_123,
  proposer: new Uint8Array(32).fill(1),
  parentHash: new Uint8Array(32).fill(2),
  txRoot: new Uint8Array(32).fill(3),
  appHash: new Uint8Array(32).fill(4),
}
const certificate: CommitCertificate = {
  height: 7,
  view: 2,
  blockHash: blockHash(header),
  votes: [
    { validator: 0, signature: new Uint8Array(64).fill(9) },
    { validator: 2, signature: new Uint8Array(64).fill(8) },
  ],
}

describe('rpc/convert', () => {
  it('header JSON is snake_case 0x-hex and round-trips to the same block hash', () => {
    const json = headerToJson(header)
    expect(json).to.deep.equal({
      chain_id: 'c',
      height: 7,
      view: 2,
      timestamp: 1_700_000_000_123,
      proposer: `0x${'01'.repeat(32)}`,
      parent_hash: `0x${'02'.repeat(32)}`,
      tx_root: `0x${'03'.repeat(32)}`,
      app_hash: `0x${'04'.repeat(32)}`,
    })
    expect(toHex(blockHash(headerFromJson(JSON.parse(JSON.stringify(json)))))).to.equal(
      toHex(blockHash(header)),
    )
  })

  it('certificates round-trip; a block result carries hash, header, txs and commit', () => {
    expect(certificateFromJson(certificateToJson(certificate))).to.deep.equal(certificate)
    const result = blockToResult({ header, txs: [new Uint8Array([1, 2])] }, certificate)
    expect(result.hash).to.equal(toHex(blockHash(header)))
    expect(result.txs).to.deep.equal(['0x0102'])
    expect(result.commit?.votes[1]).to.deep.equal({ validator: 2, signature: `0x${'08'.repeat(64)}` })
    expect(blockToResult({ header, txs: [] }, null).commit).to.equal(null)
  })

  it('refuses malformed JSON instead of hashing garbage', () => {
    const json = headerToJson(header)
    expect(() => headerFromJson({ ...json, app_hash: '0x1234' })).to.throw(
      RpcJsonError,
      'app_hash must be 32 bytes',
    )
    expect(() => headerFromJson({ ...json, height: -1 })).to.throw(RpcJsonError, 'height')
    const cert = certificateToJson(certificate)
    expect(() => certificateFromJson({ ...cert, votes: [{ validator: 0, signature: 'zz' }] })).to.throw(
      RpcJsonError,
      'votes[0].signature is not hex',
    )
  })
})
