import { rmSync } from 'node:fs'
import { expect } from 'chai'
import type { ConsensusDriver } from '../../../src/node/driver.js'
import { silentLogger } from '../../../src/node/logger.js'
import { PbftNode } from '../../../src/node/node.js'
import { oneOfFourHome } from './one-of-four-home.js'

/**
 * The node's consensus queue bound (docs/HOME.md `consensus.max_queued_messages`): the config value,
 * or its flag, reaches the driver, and the queue's gauge reads the driver. The bound's behaviour is
 * test/unit/node/driver.spec.ts's.
 */
describe('node: consensus.max_queued_messages reaches the driver', function () {
  this.timeout(60_000)
  let dir: string
  let node: PbftNode | undefined

  beforeEach(async () => {
    dir = await oneOfFourHome('pbft-queue-node-', 'queue-node-test')
  })

  afterEach(async () => {
    await node?.stop()
    node = undefined
    rmSync(dir, { recursive: true, force: true })
  })

  const driverOf = (n: PbftNode) => (n as unknown as { running: { driver: ConsensusDriver } }).running.driver

  it('10,000 by default; a flag sets it; the gauge reads the queue', async () => {
    node = await PbftNode.open({ home: dir, logger: silentLogger() })
    await node.start()
    expect(driverOf(node).maxQueuedMessages).to.equal(10_000)
    const metrics = (node as unknown as { metrics: { registry: import('prom-client').Registry } }).metrics
    const text = await metrics.registry.getSingleMetricAsString('pbft_consensus_queue_messages')
    expect(text).to.match(/pbft_consensus_queue_messages\{chain_id="queue-node-test"\} 0/)
    await node.stop()
    node = await PbftNode.open({
      home: dir,
      logger: silentLogger(),
      flags: { 'consensus.max_queued_messages': 7 },
    })
    await node.start()
    expect(driverOf(node).maxQueuedMessages).to.equal(7)
  })
})
