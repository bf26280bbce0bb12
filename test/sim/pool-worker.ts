import { runRange, type SeedRange } from './range.js'

/**
 * A simulator worker process of SimPool (test/sim/pool.ts): it runs each seed range it is sent over
 * IPC and answers with the failing seeds' lines, until its parent disconnects.
 */
interface Job {
  id: number
  range: SeedRange
}

process.on('message', (job: Job) => {
  let failed: string[]
  try {
    failed = runRange(job.range)
  } catch (e) {
    failed = [
      `seeds ${job.range.from}..${job.range.to}: the simulator threw: ${(e as Error).stack ?? String(e)}`,
    ]
  }
  process.send?.({ id: job.id, failed })
})
process.on('disconnect', () => process.exit(0))
