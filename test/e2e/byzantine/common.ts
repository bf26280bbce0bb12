import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { genesisValidatorSet, loadGenesis } from '../../../src/chain/genesis.js'
import { merkleRoot } from '../../../src/chain/merkle.js'
import type { ValidatorSet } from '../../../src/chain/validators.js'
import { commitVoteSignBytes, txHash } from '../../../src/codec/chain.js'
import {
  type ConsensusMessage,
  encodeConsensusMessage,
  type PrePrepareMsg,
  prePrepareSignBytes,
  prepareSignBytes,
} from '../../../src/codec/consensus.js'
import { signTx } from '../../../src/codec/tx-sign.js'
import type { Block, BlockHeader, TxOp } from '../../../src/codec/types.js'
import { Ed25519Signer } from '../../../src/crypto/ed25519.js'
import { fromHex, sha256, toHex } from '../../../src/crypto/hash.js'
import { loadNodeKey } from '../../../src/crypto/node-key.js'
import { createNetwork, type Network } from '../../../src/network/network.js'
import type { TopicKind } from '../../../src/network/topics.js'
import { acceptAllGossip } from '../../fixtures/gossip.js'
import { WaitTimeoutError, waitFor } from '../../helpers/wait.js'

/**
 * What every Byzantine peer program shares. A program is a separate process (run with
 * `node --import tsx test/e2e/byzantine/<program>.ts --home HOME --rpc URL --duration-ms MS`): it
 * loads a validator home's node_key.json and genesis, joins the libp2p network with createNetwork
 * (listening where the home's config says, so the honest nodes' reconnect loops find it), and
 * misbehaves. It never runs the product's node. It reads the chain tip from an honest node's RPC
 * (test code may cheat on what it observes, not on what it can sign). Every action is reported as one
 * JSON line on stdout, so the spec can assert that the misbehaviour really happened.
 */

export interface Tip {
  height: number
  hash: Uint8Array
  appHash: Uint8Array
  view: number
  header: BlockHeader
}

export class ByzContext {
  private stopped = false
  readonly captured = new Map<TopicKind, Uint8Array[]>()

  constructor(
    readonly chainId: string,
    readonly validators: ValidatorSet,
    readonly index: number,
    readonly signer: Ed25519Signer,
    readonly net: Network,
    readonly rpcUrl: string,
    readonly until: number,
  ) {}

  get running(): boolean {
    return !this.stopped && Date.now() < this.until
  }

  stop(): void {
    this.stopped = true
  }

  report(event: string, fields: Record<string, unknown> = {}): void {
    process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...fields })}\n`)
  }

  async rpc<T>(method: string, params: object = {}): Promise<T> {
    const res = await fetch(this.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      signal: AbortSignal.timeout(5_000),
    })
    const body = (await res.json()) as { result?: T; error?: { message: string } }
    if (body.result === undefined) throw new Error(`${method}: ${body.error?.message}`)
    return body.result
  }

  /** The honest node's tip and view. */
  async tip(): Promise<Tip> {
    const st = await this.rpc<{
      sync_info: { latest_block_height: number; latest_block_hash: string; latest_app_hash: string }
      consensus: { view: number }
    }>('status')
    const block = await this.rpc<{
      header: {
        chain_id: string
        height: number
        view: number
        timestamp: number
        proposer: string
        parent_hash: string
        tx_root: string
        app_hash: string
      }
    }>('block', { height: st.sync_info.latest_block_height })
    const h = block.header
    return {
      height: st.sync_info.latest_block_height,
      hash: fromHex(st.sync_info.latest_block_hash),
      appHash: fromHex(st.sync_info.latest_app_hash),
      view: st.consensus.view,
      header: {
        chainId: h.chain_id,
        height: h.height,
        view: h.view,
        timestamp: h.timestamp,
        proposer: fromHex(h.proposer),
        parentHash: fromHex(h.parent_hash),
        txRoot: fromHex(h.tx_root),
        appHash: fromHex(h.app_hash),
      },
    }
  }

  async publish(kind: TopicKind, data: Uint8Array): Promise<number> {
    try {
      return (await this.net.publish(kind, data)).recipients
    } catch {
      return 0
    }
  }

  async publishMsg(msg: ConsensusMessage): Promise<number> {
    return this.publish(msg.kind, encodeConsensusMessage(msg))
  }

  isPrimary(view: number): boolean {
    return this.validators.primary(view).index === this.index
  }

  /** A tx of this program's own client key (a valid one unless the caller tampers with it). */
  async clientTx(op: TxOp): Promise<Uint8Array> {
    const client = new Ed25519Signer(sha256(new TextEncoder().encode(`byzantine-client-${this.index}`)))
    const acct = await this.rpc<{ pending_nonce: number; nonce: number }>('account', {
      address: toHex(client.publicKey),
    })
    return signTx(client, { chainId: this.chainId, nonce: acct.nonce, op })
  }

  /** A block on top of `tip` proposed by this validator in `view`, with these txs. */
  block(tip: Tip, view: number, txs: Uint8Array[], appHash = tip.appHash): Block {
    return {
      header: {
        chainId: this.chainId,
        height: tip.height + 1,
        view,
        timestamp: Math.max(Date.now(), tip.header.timestamp + 1),
        proposer: this.signer.publicKey,
        parentHash: tip.hash,
        txRoot: merkleRoot(txs.map((t) => txHash(t))),
        appHash,
      },
      txs,
    }
  }

  prePrepare(block: Block, blockHashValue: Uint8Array): PrePrepareMsg {
    const { view, height } = block.header
    return {
      kind: 'preprepare',
      view,
      height,
      sender: this.index,
      block,
      signature: this.signer.sign(
        prePrepareSignBytes(this.chainId, view, height, this.index, blockHashValue),
      ),
    }
  }

  /** This validator's own PREPARE and COMMIT votes for a block (validly signed). */
  votes(view: number, height: number, hash: Uint8Array): ConsensusMessage[] {
    return [
      {
        kind: 'prepare',
        view,
        height,
        blockHash: hash,
        sender: this.index,
        signature: this.signer.sign(prepareSignBytes(this.chainId, view, height, this.index, hash)),
      },
      {
        kind: 'commit',
        view,
        height,
        blockHash: hash,
        sender: this.index,
        signature: this.signer.sign(commitVoteSignBytes(this.chainId, view, height, hash)),
      },
    ]
  }
}

const CAPTURED_TOPICS: TopicKind[] = [
  'preprepare',
  'prepare',
  'commit',
  'viewchange',
  'newview',
  'reject',
  'tx',
]

/** Parses the command line, loads the home, joins the network, waits for the consensus mesh. */
export async function joinAsByzantine(
  opts: { gossipMaxBytes?: number; seenTtlMs?: number } = {},
): Promise<ByzContext> {
  const { values } = parseArgs({
    options: {
      home: { type: 'string' },
      rpc: { type: 'string' },
      'duration-ms': { type: 'string', default: '20000' },
      variant: { type: 'string', default: '' },
    },
    strict: false,
  })
  const home = values.home
  const rpcUrl = values.rpc
  if (typeof home !== 'string' || typeof rpcUrl !== 'string') {
    throw new Error('usage: --home HOME --rpc URL [--duration-ms MS] [--variant NAME]')
  }
  const key = await loadNodeKey(join(home, 'node_key.json'))
  const genesis = await loadGenesis(join(home, 'genesis.json'))
  const validators = genesisValidatorSet(genesis)
  const me = validators.byPeerId(key.peerId)
  if (me === undefined) throw new Error(`${key.peerId} is not a genesis validator`)
  const cfg = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as {
    p2p: { listen: string[]; bootstrap: string[] }
  }
  const net = await createNetwork({
    privateKey: key.privateKey,
    chainId: genesis.chainId,
    listen: cfg.p2p.listen,
    bootstrap: cfg.p2p.bootstrap,
    validatorPeerIds: genesis.validators.map((v) => v.peerId),
    // a Byzantine peer takes whatever it gets: it captures honest messages to replay them
    gossipValidators: acceptAllGossip(),
    gossip: {
      ...(opts.gossipMaxBytes === undefined ? {} : { maxMessageBytes: opts.gossipMaxBytes }),
      ...(opts.seenTtlMs === undefined ? {} : { seenTtlMs: opts.seenTtlMs }),
    },
  })
  const ctx = new ByzContext(
    genesis.chainId,
    validators,
    me.index,
    key.signer,
    net,
    rpcUrl,
    Date.now() + Number(values['duration-ms']),
  )
  for (const kind of CAPTURED_TOPICS) {
    ctx.captured.set(kind, [])
    net.subscribe(kind, (data) => {
      const list = ctx.captured.get(kind) as Uint8Array[]
      if (list.length < 500) list.push(data)
    })
  }
  await net.start()
  // Best effort: after 20 s it reports 'joined' with however many peers it has (the test waits for that).
  await waitFor(() => net.topicPeers('prepare').length >= validators.n - 2, {
    timeoutMs: 20_000,
    intervalMs: 100,
    message: 'prepare-topic peers',
  }).catch((err: unknown) => {
    if (!(err instanceof WaitTimeoutError)) throw err
  })
  ctx.report('joined', { index: me.index, peerId: key.peerId, peers: net.topicPeers('prepare').length })
  const shutdown = (): void => {
    ctx.stop()
  }
  process.once('SIGTERM', shutdown)
  process.once('SIGINT', shutdown)
  return ctx
}

export function variantArg(): string {
  const { values } = parseArgs({ options: { variant: { type: 'string', default: '' } }, strict: false })
  return typeof values.variant === 'string' ? values.variant : ''
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Runs `body` until the duration ends or SIGTERM, then leaves the network and exits 0. */
export async function runByzantine(
  ctx: ByzContext,
  body: () => Promise<void>,
  everyMs: number,
): Promise<void> {
  while (ctx.running) {
    try {
      await body()
    } catch (err) {
      ctx.report('error', { message: (err as Error).message })
    }
    // the misbehaviour's own rhythm (one round every everyMs), not a wait for a condition
    await sleep(everyMs)
  }
  ctx.report('done')
  await ctx.net.stop()
  process.exit(0)
}

export { fromHex, toHex }
