import { expect } from 'chai'
import { Reader, Writer } from '../../../src/codec/binary.js'
import { CodecError } from '../../../src/codec/errors.js'

describe('codec/binary', () => {
  it('round-trips every field kind', () => {
    const bytes = new Writer(1)
      .u8(7)
      .u16(513)
      .u32(70000)
      .u64(2 ** 40 + 3)
      .bool(true)
      .string('héllo')
      .finish()
    const r = new Reader(bytes)
    expect([r.u8(), r.u16(), r.u32(), r.u64(), r.bool(), r.string(100)]).to.deep.equal([
      7,
      513,
      70000,
      2 ** 40 + 3,
      true,
      'héllo',
    ])
    r.end()
  })

  it('rejects truncation, trailing bytes, bad UTF-8 and oversize with CodecError', () => {
    expect(() => new Reader(new Uint8Array([1, 2])).u32()).to.throw(CodecError)
    expect(() => new Reader(new Uint8Array([1])).end()).to.throw(CodecError)
    const badUtf8 = new Writer().bytes(new Uint8Array([0xff, 0xfe])).finish()
    expect(() => new Reader(badUtf8).string(10)).to.throw(CodecError)
    expect(() => new Reader(new Writer().string('abcdef').finish()).string(3)).to.throw(CodecError)
    const unsafe = new Uint8Array(8).fill(0xff)
    expect(() => new Reader(unsafe).u64()).to.throw(CodecError)
  })
})
