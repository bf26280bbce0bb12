import { expect } from 'chai'
import { chainRates, participation } from '../../../src/explorer/stats.js'

const meta = (height: number, timestamp: number, num_txs: number) => ({
  header: { height, timestamp },
  num_txs,
})

describe('explorer/stats: the figures of the home and validators pages', () => {
  it('block interval and tx/s over the blocks, genesis and the first block’s txs left out', () => {
    const blocks = [
      meta(0, 0, 0),
      meta(1, 10_000, 50),
      meta(2, 11_000, 4),
      meta(3, 12_000, 6),
      meta(4, 14_000, 10),
    ]
    // 3 intervals over 4 s (blocks 1..4); the 20 txs of blocks 2..4 arrived in those 4 s
    expect(chainRates(blocks)).to.deep.equal({ intervalMs: 4_000 / 3, txPerSec: 5 })
  })

  it('no figure from fewer than two blocks, or from no time at all', () => {
    expect(chainRates([])).to.deep.equal({ intervalMs: null, txPerSec: null })
    expect(chainRates([meta(0, 0, 0), meta(1, 5, 3)])).to.deep.equal({ intervalMs: null, txPerSec: null })
    expect(chainRates([meta(1, 5, 3), meta(2, 5, 3)])).to.deep.equal({ intervalMs: null, txPerSec: null })
    expect(chainRates([meta(1, 0, 0), meta(2, 500, 0)])).to.deep.equal({ intervalMs: 500, txPerSec: 0 })
  })

  it('participation counts each validator’s votes across certificates; genesis has none', () => {
    const certs = [
      null,
      { votes: [{ validator: 0 }, { validator: 1 }, { validator: 2 }] },
      { votes: [{ validator: 1 }, { validator: 2 }, { validator: 3 }] },
    ]
    const signed = participation(certs)
    expect([0, 1, 2, 3, 4].map((i) => signed.get(i) ?? 0)).to.deep.equal([1, 2, 2, 1, 0])
  })
})
