import { expect } from 'chai'
import { truncateUtf8 } from '../../../src/codec/limits.js'

describe('codec/limits truncateUtf8', () => {
  it('leaves text within the limit alone and cuts longer text to fit', () => {
    expect(truncateUtf8('abc', 3)).to.equal('abc')
    expect(truncateUtf8('abcdef', 4)).to.equal('abcd')
    expect(truncateUtf8('', 0)).to.equal('')
  })

  it('never splits a multi-byte character', () => {
    // 'é' is 2 bytes: 'aé' is 3, so a 2-byte limit keeps only 'a'
    expect(truncateUtf8('aé', 2)).to.equal('a')
    expect(Buffer.byteLength(truncateUtf8('€'.repeat(100), 256), 'utf8')).to.equal(255)
  })
})
