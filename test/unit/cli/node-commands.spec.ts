import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { makeGenesis } from '../../../src/chain/genesis.js'
import { ExitCode } from '../../../src/cli/exit-codes.js'
import { toHex } from '../../../src/crypto/hash.js'
import { generateNodeKey } from '../../../src/crypto/node-key.js'
import { defaultConfig } from '../../../src/node/config.js'
import { initHome, writeHome } from '../../../src/node/home.js'
import { silentLogger } from '../../../src/node/logger.js'
import { PbftNode } from '../../../src/node/node.js'
import { RpcClient } from '../../../src/rpc/client.js'
import type { DecodedTx } from '../../../src/rpc/describe-tx.js'
import type { BlockchainResult, BlockResult, StatusResult, TxResult } from '../../../src/rpc/types.js'
import { type CliResult, oneErrorLine, runPbft, withEnv } from './run.js'

const CHAIN = 'cli-commands'

/** A port nothing listens on: bound once by the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

function json<T>(result: CliResult): T {
  expect(result.stderr, result.stderr).to.equal('')
  expect(result.code).to.equal(0)
  return JSON.parse(result.stdout) as T
}

function text(result: CliResult): string {
  expect(result.stderr, result.stderr).to.equal('')
  expect(result.code).to.equal(0)
  return result.stdout
}

/** The failure of a command: its exit code and its one stderr line, with nothing on stdout. */
function failure(result: CliResult): { code: number; line: string } {
  const line = oneErrorLine(result)
  expect(result.stdout).to.equal('')
  expect(line).not.to.match(/\n\s+at /)
  return { code: result.code, line }
}

function config() {
  return defaultConfig({ p2pHost: '127.0.0.1', p2pPort: 0, rpcPort: 0 })
}

describe('cli: commands against one in-process validator', function () {
  this.timeout(60_000)
  let dir: string
  let home: string
  let node: PbftNode
  let rpc: string
  let keyFile: string
  let address: string
  let finalTx: DecodedTx

  const pbft = (...argv: string[]) => runPbft(argv)
  const pbftRpc = (...argv: string[]) => runPbft([...argv, '--rpc', rpc])

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pbft-cli-node-'))
    home = join(dir, 'home')
    await initHome(home, { chainId: CHAIN, config: config() })
    node = await PbftNode.open({ home, logger: silentLogger() })
    await node.start()
    rpc = node.rpcUrl()
    keyFile = join(dir, 'alice.json')
    address = text(await pbft('keys', 'generate', '--out', keyFile)).trim()
    const receipt = json<{ hash: string; height: number }>(
      await pbftRpc('tx', 'send', '--key', keyFile, '--wait', '--timeout', '20', 'set', 'color', 'blue'),
    )
    const tx = json<TxResult & { decoded: DecodedTx }>(await pbftRpc('tx', 'get', receipt.hash))
    finalTx = tx.decoded
  })

  after(async () => {
    await node?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  describe('env defaults and precedence', () => {
    it('--rpc: the flag, else PBFT_RPC, else http://127.0.0.1:26657', async () => {
      const closed = `http://127.0.0.1:${await closedPort()}`
      await withEnv({ PBFT_RPC: rpc }, async () => {
        expect(json<StatusResult>(await pbft('status')).node_info.chain_id).to.equal(CHAIN)
      })
      // the flag wins over the variable, either way round
      await withEnv({ PBFT_RPC: closed }, async () => {
        expect(json<StatusResult>(await pbft('status', '--rpc', rpc)).node_info.chain_id).to.equal(CHAIN)
        expect(failure(await pbft('status')).code).to.equal(ExitCode.UNREACHABLE)
      })
      await withEnv({ PBFT_RPC: rpc }, async () => {
        const r = failure(await pbft('status', '--rpc', closed))
        expect(r.code).to.equal(ExitCode.UNREACHABLE)
        expect(r.line).to.include(closed)
      })
      const help = text(await pbft('status', '--help')).replace(/\s+/g, ' ')
      expect(help).to.include('(default: "http://127.0.0.1:26657", env: PBFT_RPC)')
      // a malformed URL, from either source, is a usage error
      expect(failure(await pbft('status', '--rpc', 'localhost:26657')).code).to.equal(ExitCode.USAGE)
      await withEnv({ PBFT_RPC: 'nope' }, async () => {
        const r = failure(await pbft('status'))
        expect(r.code).to.equal(ExitCode.USAGE)
        expect(r.line).to.include("from env 'PBFT_RPC'")
      })
    })

    it('--home: the flag, else PBFT_HOME, else ~/.pbft', async () => {
      await withEnv({ PBFT_HOME: home }, async () => {
        expect(json<{ index: number }>(await pbft('show-validator')).index).to.equal(0)
        const r = failure(await pbft('show-validator', '--home', join(dir, 'nowhere')))
        expect(r.code).to.equal(ExitCode.FAILURE)
        expect(r.line).to.equal(
          `error: node home ${join(dir, 'nowhere')} does not exist (create it with pbft init, or point --home or PBFT_HOME at one)`,
        )
      })
      const fakeHome = join(dir, 'user')
      await withEnv({ HOME: fakeHome, PBFT_HOME: undefined }, async () => {
        expect(text(await pbft('init', '--chain-id', 'home-default'))).to.include(join(fakeHome, '.pbft'))
        expect(existsSync(join(fakeHome, '.pbft', 'node_key.json'))).to.equal(true)
        expect(json<{ chain_id: string }>(await pbft('show-validator')).chain_id).to.equal('home-default')
      })
    })
  })

  describe('read commands: --output json is the RPC result, --output text is for people', () => {
    it('status', async () => {
      const status = json<StatusResult>(await pbftRpc('status'))
      expect(status).to.have.keys('node_info', 'sync_info', 'consensus', 'mempool', 'n_peers')
      expect(status.consensus.is_validator).to.equal(true)
      const out = text(await pbftRpc('status', '--output', 'text'))
      expect(out).to.match(/^peer id +12D3KooW\w+ \(validator\)$/m)
      expect(out).to.match(new RegExp(`^chain +${CHAIN}$`, 'm'))
      // a terminal gets text without the flag, a pipe JSON
      expect((await runPbft(['status', '--rpc', rpc], undefined, { isTTY: true })).stdout).to.match(
        /^peer id/,
      )
      expect(failure(await pbftRpc('status', '--output', 'yaml')).code).to.equal(ExitCode.USAGE)
    })

    it('block: decoded txs next to the hex, by height, hash or latest', async () => {
      const tx = json<TxResult>(await pbftRpc('tx', 'get', finalTx.hash))
      const block = json<BlockResult & { decoded: DecodedTx[] }>(
        await pbftRpc('block', String(tx.height), '--output', 'json'),
      )
      expect(Object.keys(block)).to.deep.equal(['hash', 'header', 'txs', 'decoded', 'commit'])
      expect(block.decoded).to.deep.equal([finalTx])
      expect(finalTx).to.include({ sender: address, nonce: 0, op: 'set', key: 'color', value: 'blue' })
      expect(finalTx.chain_id).to.equal(CHAIN)
      const byHash = json<BlockResult>(await pbftRpc('block', block.hash))
      expect(byHash.header.height).to.equal(tx.height)
      expect(json<BlockResult>(await pbftRpc('block')).header.height).to.be.at.least(tx.height ?? 0)
      const out = text(await pbftRpc('block', String(tx.height), '--output', 'text'))
      expect(out).to.match(new RegExp(`^hash +${block.hash}$`, 'm'))
      expect(out).to.match(/^# {2}hash +sender +nonce +op +key +value$/m)
      expect(out).to.match(new RegExp(`^0  ${finalTx.hash}  0x\\w+…\\w+  0 +set  color  blue$`, 'm'))
      expect(text(await pbftRpc('block', '0', '--output', 'text'))).to.match(
        /^commit +none \(the genesis block\)$/m,
      )
    })

    it('blocks --from --to: the range, paged, oldest first', async () => {
      const tip = json<StatusResult>(await pbftRpc('status')).sync_info.latest_block_height
      const r = json<BlockchainResult>(await pbftRpc('blocks', '--from', '0', '--to', String(tip)))
      expect(r.block_metas.map((m) => m.header.height)).to.deep.equal([...Array(tip + 1).keys()])
      expect(r.last_height).to.be.at.least(tip)
      const latest = json<BlockchainResult>(await pbftRpc('blocks'))
      expect(latest.block_metas.at(-1)?.header.height).to.be.at.least(tip)
      const out = text(await pbftRpc('blocks', '--to', '1', '--output', 'text'))
      expect(out.split('\n')[0]).to.match(/^height +hash +time +txs +view +proposer$/)
      expect(out).to.match(/^0 +0x[0-9a-f]{64} /m)
      const bad = failure(await pbftRpc('blocks', '--from', '3', '--to', '2'))
      expect(bad).to.deep.equal({ code: ExitCode.USAGE, line: 'error: --from 3 is above --to 2' })
      expect(failure(await pbftRpc('blocks', '--from', String(tip + 5))).line).to.equal(
        `error: --from ${tip + 5} is above the tip ${tip}`,
      )
    })

    it('get, account, validators, net-info', async () => {
      expect(json(await pbftRpc('get', 'color'))).to.deep.include({ key: 'color', value: 'blue' })
      expect(text(await pbftRpc('get', 'nothing', '--output', 'text'))).to.match(/^value +\(absent\)$/m)
      const account = json<{ nonce: number; pending_nonce: number }>(await pbftRpc('account', address))
      expect(account).to.deep.equal({ address, nonce: 1, pending_nonce: 1 })
      // upper case and no 0x are the same address
      expect(json(await pbftRpc('account', address.slice(2).toUpperCase()))).to.deep.equal(account)
      expect(text(await pbftRpc('account', address, '--output', 'text'))).to.match(/^pending nonce +1 /m)
      const client = new RpcClient(rpc)
      expect(json(await pbftRpc('validators'))).to.deep.equal(await client.call('validators'))
      expect(text(await pbftRpc('validators', '--output', 'text'))).to.match(
        new RegExp(`^0 +${node.peerId} +0x[0-9a-f]{64}  primary$`, 'm'),
      )
      const net = json<{ listening: boolean; peers: unknown[] }>(await pbftRpc('net-info'))
      expect(net).to.include({ listening: true }).and.have.keys('listening', 'listeners', 'n_peers', 'peers')
      expect(text(await pbftRpc('net-info', '--output', 'text'))).to.match(
        /^listening +yes on \/ip4\/127\.0\.0\.1/m,
      )
    })

    it('mempool: pending txs decoded', async () => {
      const empty = json<{ total: number; txs: string[]; decoded: unknown[] }>(await pbftRpc('mempool'))
      expect(empty).to.include({ total: 0 })
      expect(empty.decoded).to.deep.equal([])
      expect(text(await pbftRpc('mempool', '--output', 'text'))).to.match(
        /^0 pending txs, 0 bytes; showing 0/,
      )
      expect(failure(await pbftRpc('mempool', '--limit', '101')).code).to.equal(ExitCode.USAGE)
    })

    it('tx get: status, location and the decoded tx', async () => {
      const tx = json<TxResult & { decoded: DecodedTx }>(await pbftRpc('tx', 'get', finalTx.hash))
      expect(Object.keys(tx).slice(-2)).to.deep.equal(['tx', 'decoded'])
      expect(tx).to.include({ hash: finalTx.hash, status: 'final' })
      const out = text(
        await pbftRpc('tx', 'get', finalTx.hash.toUpperCase().replace('0X', '0x'), '--output', 'text'),
      )
      for (const line of [
        /^status +final$/m,
        new RegExp(`^sender +${address}$`, 'm'),
        /^key +color$/m,
        /^value +blue$/m,
      ])
        expect(out).to.match(line)
    })

    it('version and show-validator', async () => {
      const v = json<{ version: string; node: string }>(await pbft('version', '--json'))
      expect(v.version).to.match(/^\d+\.\d+\.\d+$/)
      expect(v.node).to.equal(process.version)
      expect(json(await pbft('version', '--output', 'json'))).to.deep.equal(v)
      expect(text(await pbft('version', '--output', 'text'))).to.match(
        new RegExp(`^pbft +${v.version}$`, 'm'),
      )
      const id = json<{ peer_id: string; public_key: string; index: number | null }>(
        await pbft('show-validator', '--home', home),
      )
      expect(id).to.deep.include({ peer_id: node.peerId, index: 0, chain_id: CHAIN, validators: 1 })
      expect(id.public_key).to.match(/^0x[0-9a-f]{64}$/)
      expect(text(await pbft('show-validator', '--home', home, '--output', 'text'))).to.match(
        /^validator +yes: index 0 of 1$/m,
      )
    })
  })

  describe('transactions', () => {
    it('tx sign offline, then tx submit: the same tx as tx send would make', async () => {
      const account = json<{ pending_nonce: number }>(await pbftRpc('account', address))
      const signed = text(
        await pbft(
          'tx',
          'sign',
          '--key',
          keyFile,
          '--nonce',
          String(account.pending_nonce),
          '--chain-id',
          CHAIN,
          'set',
          'k',
          'v',
        ),
      ).trim()
      expect(signed).to.match(/^0x01[0-9a-f]+$/)
      const asJson = json<{ hash: string; tx: string; decoded: DecodedTx }>(
        await pbft(
          'tx',
          'sign',
          '--key',
          keyFile,
          '--nonce',
          String(account.pending_nonce),
          '--genesis',
          join(home, 'genesis.json'),
          '--output',
          'json',
          'set',
          'k',
          'v',
        ),
      )
      expect(asJson.tx).to.equal(signed)
      expect(asJson.decoded).to.include({
        nonce: account.pending_nonce,
        key: 'k',
        value: 'v',
        chain_id: CHAIN,
      })
      const receipt = json<{ hash: string; certificate: { verified: boolean } }>(
        await pbftRpc(
          'tx',
          'submit',
          signed,
          '--wait',
          '--timeout',
          '20',
          '--genesis',
          join(home, 'genesis.json'),
        ),
      )
      expect(receipt.hash).to.equal(asJson.hash)
      expect(receipt.certificate.verified).to.equal(true)
      // offline means offline: the chain must be given, and the nonce
      expect(failure(await pbft('tx', 'sign', '--key', keyFile, '--nonce', '0', 'del', 'k')).code).to.equal(
        ExitCode.USAGE,
      )
      expect(
        failure(await pbft('tx', 'sign', '--key', keyFile, '--chain-id', CHAIN, 'del', 'k')).code,
      ).to.equal(ExitCode.USAGE)
      expect(failure(await pbftRpc('tx', 'submit', '0x0102')).code).to.equal(ExitCode.USAGE)
    })
  })

  describe('exit codes: one line on stderr, never a stack trace', () => {
    it('2 usage: unknown flag, malformed hash or address, bad op', async () => {
      for (const argv of [
        ['status', '--frob'],
        ['tx', 'get', '0x1234'],
        ['account', 'alice'],
        ['block', 'latest'],
        ['tx', 'send', '--key', keyFile, 'put', 'k', 'v'],
        ['tx', 'send', '--key', keyFile, 'set', 'k'],
        ['completion', 'fish'],
      ]) {
        expect(failure(await pbftRpc(...argv)).code, argv.join(' ')).to.equal(ExitCode.USAGE)
      }
      expect(failure(await pbftRpc('tx', 'get', '0x1234')).line).to.include('HASH must be 32 bytes as hex')
    })

    it('3 unreachable: a closed port, an unknown host', async () => {
      const closed = `http://127.0.0.1:${await closedPort()}`
      for (const cmd of ['status', 'validators', 'net-info', 'mempool', 'blocks']) {
        const r = failure(await pbft(cmd, '--rpc', closed))
        expect(r, cmd).to.deep.equal({
          code: ExitCode.UNREACHABLE,
          line: `error: cannot connect to ${closed}: connection refused (is the node running?)`,
        })
      }
      const send = failure(await pbft('tx', 'send', '--rpc', closed, '--key', keyFile, 'set', 'a', 'b'))
      expect(send.code).to.equal(ExitCode.UNREACHABLE)
      // .invalid never resolves (RFC 2606)
      const dns = failure(await pbft('status', '--rpc', 'http://pbft-node.invalid:26657'))
      expect(dns).to.deep.equal({
        code: ExitCode.UNREACHABLE,
        line: 'error: cannot connect to http://pbft-node.invalid:26657: host not found',
      })
    })

    it('4 rejected: a tx with a used nonce, a tx or block that does not exist', async () => {
      const reused = failure(await pbftRpc('tx', 'send', '--key', keyFile, '--nonce', '0', 'set', 'a', 'b'))
      expect(reused.code).to.equal(ExitCode.REJECTED)
      expect(reused.line).to.match(/^error: broadcast_tx_sync: nonce 0 already used.*\(code -32002\)$/)
      const missing = failure(await pbftRpc('tx', 'get', toHex(new Uint8Array(32).fill(7))))
      expect(missing.code).to.equal(ExitCode.REJECTED)
      expect(missing.line).to.include('(code -32008)')
      expect(failure(await pbftRpc('block', '999999')).code).to.equal(ExitCode.REJECTED)
    })

    it('1 failure: a missing key file, a node home that does not exist', async () => {
      const r = failure(await pbftRpc('tx', 'send', '--key', join(dir, 'no-key.json'), 'set', 'a', 'b'))
      expect(r.code).to.equal(ExitCode.FAILURE)
      expect(r.line).to.include('cannot read key file')
      expect(failure(await pbft('start', '--home', join(dir, 'nowhere'))).code).to.equal(ExitCode.FAILURE)
      expect(failure(await pbft('show-node-id', '--home', join(dir, 'nowhere'))).code).to.equal(
        ExitCode.FAILURE,
      )
    })

    it('2 usage: bad start flags and variables name the flag or the variable', async () => {
      const flag = failure(await pbft('start', '--home', home, '--consensus.pipeline_depth', '9'))
      expect(flag).to.deep.equal({
        code: ExitCode.USAGE,
        line: 'error: --consensus.pipeline_depth: Too big: expected number to be <=4',
      })
      await withEnv({ PBFT_MEMPOOL_MAX_TXS: '0' }, async () => {
        const env = failure(await pbft('start', '--home', home))
        expect(env).to.deep.equal({
          code: ExitCode.USAGE,
          line: 'error: PBFT_MEMPOOL_MAX_TXS: Too small: expected number to be >0',
        })
      })
    })
  })

  describe('unsafe-reset-all', () => {
    it('refuses while the node runs, even with --force', async () => {
      const r = failure(await pbft('unsafe-reset-all', '--home', home, '--force'))
      expect(r.code).to.equal(ExitCode.FAILURE)
      expect(r.line).to.include('a node is running with this home')
    })

    it("refuses a validator's home without --force, saying why; deletes data/ with it", async () => {
      const other = join(dir, 'validator')
      await initHome(other, { chainId: CHAIN, config: config() })
      const stopped = await PbftNode.open({ home: other, logger: silentLogger() })
      await stopped.stop()
      expect(readdirSync(join(other, 'data')).length).to.be.greaterThan(0)
      const refused = failure(await pbft('unsafe-reset-all', '--home', other))
      expect(refused.code).to.equal(ExitCode.USAGE)
      expect(refused.line)
        .to.include("validator 0's home")
        .and.include('double-signing')
        .and.include('--force')
      expect(readdirSync(join(other, 'data')).length).to.be.greaterThan(0)
      expect(text(await pbft('unsafe-reset-all', '--home', other, '--force'))).to.include(
        'deleted the chain data',
      )
      expect(readdirSync(join(other, 'data'))).to.deep.equal([])
      for (const f of ['node_key.json', 'config.json', 'genesis.json'])
        expect(existsSync(join(other, f))).to.equal(true)
    })

    it("deletes an observer's data without --force", async () => {
      const observer = join(dir, 'observer')
      const [own, validator] = await Promise.all([generateNodeKey(), generateNodeKey()])
      const genesis = makeGenesis({
        chainId: CHAIN,
        validators: [{ peerId: validator.peerId, publicKey: validator.signer.publicKey }],
      })
      await writeHome(observer, { nodeKey: own, config: config(), genesis })
      expect(json<{ index: null }>(await pbft('show-validator', '--home', observer)).index).to.equal(null)
      expect(text(await pbft('unsafe-reset-all', '--home', observer))).to.include('deleted the chain data')
    })
  })
})

describe('cli: tx send --wait where nothing can finalize (one validator of four)', function () {
  this.timeout(60_000)
  let dir: string
  let node: PbftNode

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pbft-cli-timeout-'))
    const keys = await Promise.all([0, 1, 2, 3].map(() => generateNodeKey()))
    const genesis = makeGenesis({
      chainId: 'cli-timeout',
      validators: keys.map((k) => ({ peerId: k.peerId, publicKey: k.signer.publicKey })),
    })
    await writeHome(join(dir, 'home'), { nodeKey: keys[0] as (typeof keys)[0], config: config(), genesis })
    node = await PbftNode.open({ home: join(dir, 'home'), logger: silentLogger() })
    await node.start()
  })

  after(async () => {
    await node?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('exits 5 (timeout) at the --timeout deadline, the tx pending', async () => {
    const key = join(dir, 'k.json')
    expect((await runPbft(['keys', 'generate', '--out', key])).code).to.equal(0)
    const started = Date.now()
    const r = failure(
      await runPbft([
        'tx',
        'send',
        '--rpc',
        node.rpcUrl(),
        '--key',
        key,
        '--wait',
        '--timeout',
        '1',
        'set',
        'a',
        'b',
      ]),
    )
    expect(r.code).to.equal(ExitCode.TIMEOUT)
    expect(r.line).to.match(/^error: broadcast_tx_commit: .*\(code -32007\).*pbft tx get/)
    expect(Date.now() - started).to.be.below(20_000)
    const pending = JSON.parse((await runPbft(['mempool', '--rpc', node.rpcUrl()])).stdout) as {
      decoded: DecodedTx[]
    }
    expect(pending.decoded.map((d) => d.key)).to.deep.equal(['a'])
  })
})
