import { expect } from 'chai'
import { type CatchupSample, catchupFigures } from '../../../bench/catchup-stats.js'

describe('bench/catchup-stats: catchupFigures', () => {
  const samples: CatchupSample[] = [
    { tMs: 0, cpuSec: 0.5, mainCpuSec: 0.5, height: 0 }, // starting up: left out
    { tMs: 100, cpuSec: 0.6, mainCpuSec: 0.6, height: 0 },
    { tMs: 200, cpuSec: 0.7, mainCpuSec: 0.6, height: 10 }, // first progress: the window starts here
    { tMs: 1200, cpuSec: 1.2, mainCpuSec: 0.8, height: 210 },
    { tMs: 2200, cpuSec: 1.7, mainCpuSec: 1.0, height: 410 }, // reached the target: the window ends here
    { tMs: 2300, cpuSec: 1.8, mainCpuSec: 1.1, height: 410 },
  ]

  it('measures from the first sample with progress to the first at the target', () => {
    const f = catchupFigures(samples, 0, 400, 2000)
    expect(f.blocks).to.equal(400)
    expect(f.seconds).to.equal(2)
    expect(f.blocksPerSec).to.equal(200)
    expect(f.txPerSec).to.equal(400_000)
    expect(f.cpuSec).to.be.closeTo(1.0, 1e-9)
    expect(f.cpuShare).to.be.closeTo(0.5, 1e-9)
    expect(f.cpuMsPerBlock).to.be.closeTo(2.5, 1e-9)
    expect(f.cpuUsPerTx).to.be.closeTo(1.25, 1e-9)
    expect(f.mainCpuMsPerBlock).to.be.closeTo(1.0, 1e-9)
  })

  it('has no CPU per tx for empty blocks', () => {
    expect(catchupFigures(samples, 0, 400, 0).cpuUsPerTx).to.equal(null)
  })

  it('refuses samples that never reach the target or finish within one sample', () => {
    expect(() => catchupFigures(samples, 0, 500, 1)).to.throw(/never climb/)
    expect(() => catchupFigures(samples.slice(0, 3), 0, 10, 1)).to.throw(/within one sample/)
  })
})
