import { createServer, type Server } from 'node:http'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** Prometheus metrics of one node; names carry their unit (Lodestar style). */
export class NodeMetrics {
  readonly registry = new Registry()
  readonly height = new Gauge({
    name: 'pbft_height',
    help: 'Latest final block height',
    registers: [this.registry],
  })
  readonly view = new Gauge({ name: 'pbft_view', help: 'Current consensus view', registers: [this.registry] })
  readonly viewChanges = new Counter({
    name: 'pbft_view_changes_total',
    help: 'Views entered after the first',
    registers: [this.registry],
  })
  readonly evidence = new Counter({
    name: 'pbft_evidence_total',
    help: 'New equivocation evidence kept (verified, not a duplicate): a validator signed two conflicting messages',
    labelNames: ['kind'],
    registers: [this.registry],
  })
  readonly evidenceRefused = new Counter({
    name: 'pbft_evidence_refused_total',
    help: 'Equivocation evidence the evidence pool refused, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  })
  readonly evidenceStored = new Gauge({
    name: 'pbft_evidence_stored',
    help: 'Evidence records in the evidence pool',
    registers: [this.registry],
  })
  readonly commitLatency = new Histogram({
    name: 'pbft_commit_latency_seconds',
    help: 'Time from a tx entering this mempool to its block being final here',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  })
  readonly blockTxs = new Histogram({
    name: 'pbft_block_txs',
    help: 'Transactions per final block',
    buckets: [0, 1, 10, 50, 100, 500, 1000, 5000],
    registers: [this.registry],
  })
  readonly mempoolTxs = new Gauge({
    name: 'pbft_mempool_txs',
    help: 'Txs in the mempool',
    registers: [this.registry],
  })
  readonly mempoolBytes = new Gauge({
    name: 'pbft_mempool_bytes',
    help: 'Bytes of txs in the mempool',
    registers: [this.registry],
  })
  readonly peers = new Gauge({
    name: 'pbft_peers',
    help: 'Connected libp2p peers',
    registers: [this.registry],
  })
  readonly gossipMessages = new Counter({
    name: 'pbft_gossip_messages_total',
    help: 'Gossip messages validated, by topic kind and result',
    labelNames: ['topic', 'result', 'reason'] as const,
    registers: [this.registry],
  })
  readonly gossipReceived = new Counter({
    name: 'pbft_gossip_received_total',
    help: 'Gossip message copies received, by topic kind; stage "received" counts every copy, "validated" the first copy of each message (duplicates = received - validated)',
    labelNames: ['topic', 'stage'] as const,
    registers: [this.registry],
  })
  readonly gossipReceivedBytes = new Counter({
    name: 'pbft_gossip_received_bytes_total',
    help: 'Payload bytes of the gossip copies counted by pbft_gossip_received_total',
    labelNames: ['topic', 'stage'] as const,
    registers: [this.registry],
  })
  readonly syncedBlocks = new Counter({
    name: 'pbft_sync_blocks_total',
    help: 'Blocks applied from block sync',
    registers: [this.registry],
  })
  readonly catchingUp = new Gauge({
    name: 'pbft_catching_up',
    help: '1 while the node syncs blocks',
    registers: [this.registry],
  })

  private server: Server | undefined

  async serve(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/metrics') {
        this.registry
          .metrics()
          .then((text) => {
            res.writeHead(200, { 'content-type': this.registry.contentType })
            res.end(text)
          })
          .catch(() => {
            res.writeHead(500)
            res.end()
          })
        return
      }
      res.writeHead(404)
      res.end()
    })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => resolve())
    })
    const addr = server.address()
    return { host, port: typeof addr === 'object' && addr !== null ? addr.port : port }
  }

  async close(): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
