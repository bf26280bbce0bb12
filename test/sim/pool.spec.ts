import { expect } from 'chai'
import { SimPool } from './pool.js'
import { runRange } from './range.js'

/** The fast slice's worker pool answers what the same seeds answer in this process. */
describe('sim: worker pool', function () {
  this.timeout(120_000)

  it('runs ranges in workers with the results of an in-process run, in seed order', async () => {
    const pool = new SimPool(2)
    try {
      const range = { from: 1, to: 7, validators: 4, faults: 'none' }
      expect(await pool.run(range)).to.deep.equal(runRange(range))
      // a failing configuration: an unknown fault name fails every seed of its chunk with a clear line
      const bad = await pool.run({ from: 1, to: 6, validators: 4, faults: 'nosuchfault' })
      expect(bad).to.have.length(2)
      expect(bad[0]).to.match(/^seeds 1\.\.5: the simulator threw: .*nosuchfault/)
      expect(bad[1]).to.match(/^seeds 6\.\.6:/)
    } finally {
      pool.close()
    }
  })

  it('fails the jobs of a closed pool instead of hanging', async () => {
    const pool = new SimPool(1)
    pool.close()
    let err: Error | undefined
    await pool.run({ from: 1, to: 1, validators: 4, faults: 'none' }).catch((e: Error) => {
      err = e
    })
    expect(err?.message).to.equal('sim pool closed')
  })
})
