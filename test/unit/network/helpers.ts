import { generateNodeKey, type NodeKey } from '../../../src/crypto/node-key.js'
import type { GossipValidators } from '../../../src/network/gossip-validation.js'
import { createNetwork, type Network } from '../../../src/network/network.js'
import type { NetworkInit } from '../../../src/network/options.js'
import { acceptAllGossip } from '../../fixtures/gossip.js'
import { waitFor } from '../../helpers/wait.js'

export const CHAIN_ID = 'test-chain'

/** `gossipValidators` may name only the topics a test checks; the others accept everything. */
export type TestNodeInit = Partial<Omit<NetworkInit, 'privateKey' | 'chainId' | 'gossipValidators'>> & {
  key?: NodeKey
  gossipValidators?: Partial<GossipValidators>
}

/** Fast timings so tests stay quick; production defaults live in src/network/options.ts. */
export async function startNode(init: TestNodeInit = {}): Promise<{ net: Network; key: NodeKey }> {
  const key = init.key ?? (await generateNodeKey())
  const net = await createNetwork({
    chainId: CHAIN_ID,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    ...init,
    privateKey: key.privateKey,
    gossipValidators: acceptAllGossip(init.gossipValidators),
    reconnect: { initialDelayMs: 50, maxDelayMs: 500, tickMs: 50, ...init.reconnect },
    // the mesh itself is under test here; relays on demand have their own spec (gossip-relay.spec)
    gossip: { heartbeatIntervalMs: 200, relays: 'always', ...init.gossip },
  })
  await net.start()
  return { net, key }
}

/**
 * n nodes, fully connected: node k bootstraps to nodes 0..k-1 (ports are only known once a node
 * listens). `perNode(k)` adds options for node k.
 */
export async function startCluster(
  n: number,
  perNode: (k: number) => TestNodeInit = () => ({}),
): Promise<Network[]> {
  const nets: Network[] = []
  for (let k = 0; k < n; k++) {
    const bootstrap = nets.flatMap((net) => net.listenAddrs())
    const { net } = await startNode({ bootstrap, ...perNode(k) })
    nets.push(net)
  }
  await waitFor(() => nets.every((net) => net.connectedPeerCount() === n - 1), {
    message: 'full connectivity',
  })
  return nets
}

export async function stopAll(nets: Network[]): Promise<void> {
  await Promise.all(nets.map((n) => n.stop()))
  nets.length = 0
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b)
}
