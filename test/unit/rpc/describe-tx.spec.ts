import { expect } from 'chai'
import { txHash } from '../../../src/codec/chain.js'
import { CodecError } from '../../../src/codec/errors.js'
import { signTx } from '../../../src/codec/tx-sign.js'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { sha256, toHex } from '../../../src/crypto/hash.js'
import { describeTx, describeTxOrError } from '../../../src/rpc/describe-tx.js'

describe('rpc/describeTx', () => {
  const signer = new Ed25519Signer(sha256(new TextEncoder().encode('describe-tx')))

  it('names the fields of a set and a del, from hex or bytes', () => {
    const set = signTx(signer, { chainId: 'c1', nonce: 7, op: { type: 'set', key: 'color', value: 'blue' } })
    const d = describeTx(toHex(set))
    expect(d).to.deep.equal({
      hash: toHex(txHash(set)),
      chain_id: 'c1',
      sender: toHex(signer.publicKey),
      nonce: 7,
      op: 'set',
      key: 'color',
      value: 'blue',
      signature: d.signature,
    })
    expect(d.signature).to.match(/^0x[0-9a-f]{128}$/)
    expect(describeTx(set)).to.deep.equal(d)
    expect(describeTx(toHex(set).toUpperCase().replace('0X', '0x'))).to.deep.equal(d)
    const del = signTx(signer, { chainId: 'c1', nonce: 8, op: { type: 'del', key: 'color' } })
    expect(describeTx(del)).to.include({ op: 'del', key: 'color', value: null, nonce: 8 })
  })

  it('throws CodecError for what is not one tx; describeTxOrError says so instead', () => {
    const tx = signTx(signer, { chainId: 'c1', nonce: 0, op: { type: 'del', key: 'k' } })
    for (const bad of ['0xzz', '0x', toHex(tx.slice(0, -1)), `${toHex(tx)}00`, toHex(tx.slice(1))]) {
      expect(() => describeTx(bad), bad).to.throw(CodecError)
      expect(describeTxOrError(bad))
        .to.have.property('error')
        .that.match(/^undecodable tx: /)
    }
  })
})
