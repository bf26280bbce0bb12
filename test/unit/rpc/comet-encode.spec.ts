import { rawEd25519PubkeyToRawAddress } from '@cosmjs/tendermint-rpc'
import { expect } from 'chai'
import { merkleRoot } from '../../../src/chain/merkle.js'
import { encodeBlock } from '../../../src/codec/chain.js'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { fromHex, sha256, toHex } from '../../../src/crypto/hash.js'
import { cometError, cometSubpath } from '../../../src/rpc/comet/dialect.js'
import {
  addressOf,
  blockIdOf,
  commitJson,
  GO_ZERO_TIME,
  headerJson,
  hexToUpper,
  rfc3339,
  txProofJson,
  validatorJson,
} from '../../../src/rpc/comet/encode.js'
import { checkParams } from '../../../src/rpc/comet/params.js'
import { parseQuery, subscriptionOf, txSearchOf } from '../../../src/rpc/comet/query.js'
import { headerFromJson } from '../../../src/rpc/convert.js'
import { RpcError, RpcErrorCode } from '../../../src/rpc/errors.js'
import type { BlockResult } from '../../../src/rpc/types.js'

/** The RpcError `run` throws (failing when it throws nothing or something else). */
function rpcErrorOf(run: () => unknown): RpcError {
  try {
    run()
  } catch (err) {
    if (err instanceof RpcError) return err
    throw err
  }
  throw new Error('expected an RpcError')
}

const keys = [1, 2, 3, 4].map((i) => new Ed25519Signer(sha256(new Uint8Array([i]))).publicKey)
const validators = keys.map((k, index) => ({ index, peer_id: `peer${index}`, public_key: toHex(k) }))
const tx = new Uint8Array([1, 2, 3, 4])
const block: BlockResult = {
  hash: `0x${'ab'.repeat(32)}`,
  header: {
    chain_id: 'c',
    height: 7,
    view: 3,
    timestamp: 1_700_000_000_120,
    proposer: toHex(keys[2] as Uint8Array),
    parent_hash: `0x${'11'.repeat(32)}`,
    tx_root: `0x${'22'.repeat(32)}`,
    app_hash: `0x${'33'.repeat(32)}`,
  },
  txs: [toHex(tx)],
  commit: {
    height: 7,
    view: 3,
    block_hash: `0x${'ab'.repeat(32)}`,
    votes: [0, 2, 3].map((validator) => ({ validator, signature: `0x${'0f'.repeat(64)}` })),
  },
}

describe('rpc comet dialect: encodings', () => {
  it('writes times as Go RFC3339Nano: UTC, trailing zeros of the fraction dropped', () => {
    expect(rfc3339(1_700_000_000_000)).to.equal('2023-11-14T22:13:20Z')
    expect(rfc3339(1_700_000_000_120)).to.equal('2023-11-14T22:13:20.12Z')
    expect(rfc3339(1_700_000_000_001)).to.equal('2023-11-14T22:13:20.001Z')
  })

  it('addresses are the first 20 bytes of SHA-256 of the key, as cosmjs computes them', () => {
    const key = keys[0] as Uint8Array
    expect(addressOf(key)).to.equal(
      Buffer.from(rawEd25519PubkeyToRawAddress(key)).toString('hex').toUpperCase(),
    )
    expect(addressOf(key)).to.match(/^[0-9A-F]{40}$/)
    expect(validatorJson(key)).to.deep.equal({
      address: addressOf(key),
      pub_key: { type: 'tendermint/PubKeyEd25519', value: Buffer.from(key).toString('base64') },
      voting_power: '1',
      proposer_priority: '0',
    })
    expect(hexToUpper('0xabcdef')).to.equal('ABCDEF')
  })

  it('a block is one part: its part set hash is the RFC 6962 leaf hash of the encoded block', () => {
    const encoded = encodeBlock({ header: headerFromJson(block.header), txs: [tx] })
    const { blockId, size } = blockIdOf(block)
    expect(size).to.equal(encoded.length)
    expect(blockId.hash).to.equal('AB'.repeat(32))
    expect(blockId.parts.total).to.equal(1)
    expect(blockId.parts.hash).to.equal(
      Buffer.from(sha256(new Uint8Array([0]), encoded))
        .toString('hex')
        .toUpperCase(),
    )
  })

  it('headers carry string heights, uppercase hashes and the proposer address; the rest is empty', () => {
    const parent = { hash: '11'.repeat(32), parts: { total: 1, hash: 'CC'.repeat(32) } }
    const h = headerJson(block.header, parent)
    expect(h.height).to.equal('7')
    expect(h.time).to.equal('2023-11-14T22:13:20.12Z')
    expect(h.last_block_id).to.equal(parent)
    expect(h.data_hash).to.equal('22'.repeat(32))
    expect(h.app_hash).to.equal('33'.repeat(32))
    expect(h.proposer_address).to.equal(addressOf(keys[2] as Uint8Array))
    expect([h.last_commit_hash, h.validators_hash, h.evidence_hash, h.consensus_hash]).to.deep.equal([
      '',
      '',
      '',
      '',
    ])
  })

  it('a certificate becomes a Commit: round = view, one entry per validator, absent ones flagged 1', () => {
    const { blockId } = blockIdOf(block)
    const c = commitJson(
      block.commit as NonNullable<BlockResult['commit']>,
      blockId,
      validators,
      block.header.timestamp,
    )
    expect(c.height).to.equal('7')
    expect(c.round).to.equal(3)
    expect(c.block_id).to.equal(blockId)
    expect(c.signatures.map((s) => s.block_id_flag)).to.deep.equal([2, 1, 2, 2])
    expect(c.signatures[1]).to.deep.equal({
      block_id_flag: 1,
      validator_address: '',
      timestamp: GO_ZERO_TIME,
      signature: null,
    })
    expect(c.signatures[2]).to.deep.equal({
      block_id_flag: 2,
      validator_address: addressOf(fromHex(validators[2]?.public_key as string)),
      timestamp: '2023-11-14T22:13:20.12Z',
      signature: Buffer.from('0f'.repeat(64), 'hex').toString('base64'),
    })
  })
})

/** CometBFT's crypto/merkle computeHashFromAunts, written from its definition: the proof's check. */
function rootFromAunts(
  index: number,
  total: number,
  leaf: Uint8Array,
  aunts: Uint8Array[],
): Uint8Array | undefined {
  if (total === 1) return aunts.length === 0 ? leaf : undefined
  if (aunts.length === 0) return undefined
  let k = 1
  while (k * 2 < total) k *= 2
  const last = aunts[aunts.length - 1] as Uint8Array
  const rest = aunts.slice(0, -1)
  const inner = (l: Uint8Array, r: Uint8Array) => sha256(new Uint8Array([1]), l, r)
  if (index < k) {
    const left = rootFromAunts(index, k, leaf, rest)
    return left === undefined ? undefined : inner(left, last)
  }
  const right = rootFromAunts(index - k, total - k, leaf, rest)
  return right === undefined ? undefined : inner(last, right)
}

describe('rpc comet dialect: tx proofs', () => {
  it('proves every tx of blocks of 1..9 txs against tx_root, as CometBFT verifies a TxProof', () => {
    for (let n = 1; n <= 9; n++) {
      const txs = Array.from({ length: n }, (_, i) => new Uint8Array([n, i, 7]))
      const root = merkleRoot(txs.map((t) => sha256(t)))
      for (let i = 0; i < n; i++) {
        const p = txProofJson(txs, i)
        expect(p.root_hash).to.equal(Buffer.from(root).toString('hex').toUpperCase())
        expect(p.data).to.equal(Buffer.from(txs[i] as Uint8Array).toString('base64'))
        expect([p.proof.total, p.proof.index]).to.deep.equal([String(n), String(i)])
        const leaf = new Uint8Array(Buffer.from(p.proof.leaf_hash, 'base64'))
        expect(leaf).to.deep.equal(sha256(new Uint8Array([0]), sha256(txs[i] as Uint8Array)))
        const aunts = p.proof.aunts.map((a) => new Uint8Array(Buffer.from(a, 'base64')))
        expect(rootFromAunts(i, n, leaf, aunts), `n=${n} i=${i}`).to.deep.equal(root)
        // a wrong index does not verify (n > 1)
        if (n > 1) expect(rootFromAunts((i + 1) % n, n, leaf, aunts)).to.not.deep.equal(root)
      }
    }
  })
})

describe('rpc comet dialect: event queries', () => {
  const hash = 'AB'.repeat(32)

  it('parses conditions joined by AND, quoted and numeric operands', () => {
    expect(parseQuery(`tm.event='Tx' AND tx.height>=5 AND tx.hash EXISTS`)).to.deep.equal([
      { key: 'tm.event', op: '=', value: 'Tx' },
      { key: 'tx.height', op: '>=', value: 5 },
      { key: 'tx.hash', op: 'EXISTS' },
    ])
  })

  it('refuses malformed queries with -32602 saying where', () => {
    for (const bad of [
      '',
      "tm.event='Tx' AND",
      "tm.event='Tx",
      'tm.event',
      "tm.event='Tx' OR tx.height=1",
      '=5',
      7,
    ]) {
      const err = rpcErrorOf(() => parseQuery(bad))
      expect(err.code, String(bad)).to.equal(RpcErrorCode.INVALID_PARAMS)
    }
    expect(rpcErrorOf(() => parseQuery("tm.event='Tx' AND")).message).to.match(
      /malformed query .* at character/,
    )
  })

  it('serves NewBlock, Tx and Tx by hash; anything else names the served forms', () => {
    expect(subscriptionOf("tm.event='NewBlock'")).to.deep.equal({ event: 'NewBlock', hash: undefined })
    expect(subscriptionOf("tm.event = 'Tx'")).to.deep.equal({ event: 'Tx', hash: undefined })
    expect(subscriptionOf(`tx.hash='${hash}' AND tm.event='Tx'`)).to.deep.equal({
      event: 'Tx',
      hash: `0x${hash.toLowerCase()}`,
    })
    for (const bad of [
      "tm.event='Vote'",
      `tm.event='NewBlock' AND tx.hash='${hash}'`,
      "tx.hash='AB'",
      "message.sender='x'",
    ]) {
      expect(rpcErrorOf(() => subscriptionOf(bad)).code, bad).to.equal(RpcErrorCode.INVALID_PARAMS)
    }
    expect(rpcErrorOf(() => subscriptionOf("tm.event='Vote'")).message).to.match(/not served: subscribe to/)
  })

  it('tx_search takes tx.hash or tx.height', () => {
    expect(txSearchOf(`tx.hash='${hash}'`)).to.deep.equal({ by: 'hash', hash: `0x${hash.toLowerCase()}` })
    expect(txSearchOf("tm.event='Tx' AND tx.height=12")).to.deep.equal({ by: 'height', height: 12 })
    expect(txSearchOf("tx.height='12'")).to.deep.equal({ by: 'height', height: 12 })
    for (const bad of ['tx.height>5', `tx.height=1 AND tx.hash='${hash}'`, "app.key='x'", 'tx.height=-1']) {
      expect(rpcErrorOf(() => txSearchOf(bad)).code, bad).to.equal(RpcErrorCode.INVALID_PARAMS)
    }
  })
})

describe('rpc comet dialect: params', () => {
  const spec = { height: 'int', tx: 'bytes', data: 'hex', path: 'string', prove: 'bool' } as const

  it('reads JSON-RPC params as CometBFT decodes them', () => {
    const p = checkParams(spec, { height: '5', tx: 'AQID', data: '0aff', path: '/key', prove: false }, false)
    expect(p).to.deep.equal({
      height: 5,
      tx: new Uint8Array([1, 2, 3]),
      data: new Uint8Array([10, 255]),
      path: '/key',
      prove: false,
    })
    expect(checkParams(spec, { height: 5, tx: null }, false)).to.deep.equal({ height: 5 })
  })

  it('reads GET values by CometBFT URI conventions', () => {
    const p = checkParams(
      spec,
      { height: '"7"', tx: '0x0102', data: '"ab"', path: '"/key"', prove: 'true' },
      true,
    )
    expect(p).to.deep.equal({
      height: 7,
      tx: new Uint8Array([1, 2]),
      data: new TextEncoder().encode('ab'),
      path: '/key',
      prove: true,
    })
    expect(checkParams(spec, { height: '' }, true)).to.deep.equal({})
  })

  it('refuses what does not fit with -32602 naming the param', () => {
    const cases: [Record<string, unknown>, boolean, RegExp][] = [
      [{ height: -1 }, false, /height/],
      [{ height: 'abc' }, true, /height: expected an integer/],
      [{ tx: 'not base64!' }, false, /tx: must be base64/],
      [{ tx: '0xabc' }, true, /tx: malformed hex/],
      [{ path: '/key' }, true, /path: expected a "quoted string"/],
      [{ data: 'zz' }, false, /data: must be hex/],
      [{ heigth: 5 }, false, /unknown param/],
      [{ prove: 'yes' }, true, /prove/],
    ]
    for (const [params, uri, message] of cases) {
      const err = rpcErrorOf(() => checkParams(spec, params, uri))
      expect(err.code, JSON.stringify(params)).to.equal(RpcErrorCode.INVALID_PARAMS)
      expect(err.message).to.match(message)
    }
  })
})

describe('rpc comet dialect: errors and routes', () => {
  it('writes errors as CometBFT: the code message, the detail in data; app codes are -32603', () => {
    expect(cometError({ code: RpcErrorCode.INVALID_PARAMS, message: 'invalid params: x' })).to.deep.equal({
      code: -32602,
      message: 'Invalid params',
      data: 'invalid params: x',
    })
    expect(cometError({ code: RpcErrorCode.NOT_FOUND, message: 'tx not found' })).to.deep.equal({
      code: -32603,
      message: 'Internal error',
      data: 'tx not found',
    })
    expect(cometError({ code: RpcErrorCode.PARSE_ERROR, message: 'x' }).message).to.equal(
      'Parse error. Invalid JSON',
    )
  })

  it('maps only /comet and /comet/… to the dialect', () => {
    expect(cometSubpath('/comet')).to.equal('/')
    expect(cometSubpath('/comet/')).to.equal('/')
    expect(cometSubpath('/comet/status')).to.equal('/status')
    expect(cometSubpath('/cometx')).to.equal(undefined)
    expect(cometSubpath('/status')).to.equal(undefined)
  })
})
