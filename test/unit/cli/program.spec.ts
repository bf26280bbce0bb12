import { expect } from 'chai'
import { Command } from 'commander'
import { addNodeFlags, envName, nodeFlagsOf } from '../../../src/cli/node-flags.js'
import { COMMAND_GROUPS, type CommandRegistrar, errorLine } from '../../../src/cli/program.js'
import type { ConfigPath, NodeFlags } from '../../../src/node/config.js'
import { oneErrorLine, runPbft, withEnv } from './run.js'

describe('cli/program', () => {
  it('--help works for the program and every command, exit 0 on stdout', async () => {
    for (const argv of [
      ['--help'],
      ['init', '--help'],
      ['testnet', '--help'],
      ['show-node-id', '--help'],
      ['keys', '--help'],
      ['keys', 'generate', '--help'],
      ['help', 'testnet'],
    ]) {
      const result = await runPbft(argv)
      expect(result.code, argv.join(' ')).to.equal(0)
      expect(result.stderr, argv.join(' ')).to.equal('')
      expect(result.stdout, argv.join(' ')).to.match(/^Usage: pbft/)
    }
    const top = await runPbft(['--help'])
    for (const cmd of ['init', 'testnet', 'show-node-id', 'keys']) expect(top.stdout).to.include(cmd)
  })

  it('--version prints the package version', async () => {
    const result = await runPbft(['--version'])
    expect(result.code).to.equal(0)
    expect(result.stdout).to.match(/^\d+\.\d+\.\d+\n$/)
  })

  it('usage errors are one line on stderr and exit 2', async () => {
    for (const argv of [['--bogus'], ['frobnicate'], [], ['keys'], ['init', '--home'], ['status', 'extra']]) {
      expect((await runPbft(argv)).code, argv.join(' ')).to.equal(2)
    }
    expect(oneErrorLine(await runPbft(['--bogus']))).to.equal("error: unknown option '--bogus'")
    // no "(Did you mean ...)" second line
    expect(oneErrorLine(await runPbft(['init', '--home', '/tmp/x', '--hme']))).to.equal(
      "error: unknown option '--hme'",
    )
    expect(oneErrorLine(await runPbft(['frobnicate']))).to.equal("error: unknown command 'frobnicate'")
    expect(oneErrorLine(await runPbft([]))).to.equal("error: missing command; run 'pbft --help' to list them")
    expect(oneErrorLine(await runPbft(['keys']))).to.equal(
      "error: missing command; run 'pbft keys --help' to list them",
    )
    expect(oneErrorLine(await runPbft(['init', '--home']))).to.match(/argument missing/)
    expect(oneErrorLine(await runPbft(['init', '--home', '/tmp/x', 'extra']))).to.match(/too many arguments/)
  })

  it('errorLine makes any error one line', () => {
    expect(errorLine(new Error('first\n  second\n'))).to.equal('error: first second')
    expect(errorLine(new Error('error: already prefixed'))).to.equal('error: already prefixed')
    expect(errorLine('a string')).to.equal('error: a string')
  })

  it('commands added later (also via addCommand) get the same error handling', async () => {
    const failing: CommandRegistrar = (program) => {
      const cmd = new Command('explode').action(() => {
        throw new Error('bad thing\nwith detail')
      })
      program.addCommand(cmd)
    }
    const groups = [...COMMAND_GROUPS, failing]
    expect(oneErrorLine(await runPbft(['explode'], groups))).to.equal('error: bad thing with detail')
    expect(oneErrorLine(await runPbft(['explode', '--nope'], groups))).to.equal(
      "error: unknown option '--nope'",
    )
    const help = await runPbft(['explode', '--help'], groups)
    expect(help.code).to.equal(0)
    expect(help.stdout).to.match(/^Usage: pbft explode/)
  })

  it('addNodeFlags parses the start flags of docs/CLI.md, from the command line and PBFT_*', async () => {
    let seen: NodeFlags | undefined
    let names: string[] = []
    const start: CommandRegistrar = (program) => {
      addNodeFlags(program.command('start')).action((_opts: unknown, cmd: Command) => {
        const parsed = nodeFlagsOf(cmd)
        seen = parsed.flags
        names = (Object.keys(parsed.flags) as ConfigPath[]).map(parsed.name)
      })
    }
    const argv = [
      'start',
      '--bootstrap',
      '/ip4/1.2.3.4/tcp/1/p2p/A, /ip4/1.2.3.5/tcp/1/p2p/B',
      '--p2p.listen',
      '/ip4/127.0.0.1/tcp/0',
      '--p2p.announce',
      '/ip4/203.0.113.1/tcp/26656',
      '--rpc.laddr',
      '127.0.0.1:0',
      '--mdns',
      '--mempool.max_txs',
      '50',
      '--consensus.view_change_timeout_ms',
      '700',
      '--metrics.enabled',
      'false',
      '--log.level',
      'debug',
      '--log.format',
      'json',
    ]
    expect((await runPbft(argv, [start])).code).to.equal(0)
    expect(seen).to.deep.equal({
      'p2p.bootstrap': ['/ip4/1.2.3.4/tcp/1/p2p/A', '/ip4/1.2.3.5/tcp/1/p2p/B'],
      'p2p.listen': ['/ip4/127.0.0.1/tcp/0'],
      'p2p.announce': ['/ip4/203.0.113.1/tcp/26656'],
      'rpc.laddr': '127.0.0.1:0',
      'p2p.mdns': true,
      'mempool.max_txs': 50,
      'consensus.view_change_timeout_ms': 700,
      'metrics.enabled': false,
      'log.level': 'debug',
      'log.format': 'json',
    })
    expect(names).to.include('--bootstrap').and.include('--mempool.max_txs')
    expect((await runPbft(['start'], [start])).code).to.equal(0)
    expect(seen).to.deep.equal({})
    expect((await runPbft(['start', '--bootstrap', ''], [start])).code).to.equal(0)
    expect(seen).to.deep.equal({ 'p2p.bootstrap': [] })

    // The environment: PBFT_ + the flag in upper case, . and - as _; a flag wins over its variable.
    await withEnv(
      { PBFT_MEMPOOL_TTL_MS: '1000', PBFT_RPC_LADDR: '127.0.0.1:7', PBFT_MDNS: 'false', PBFT_BOOTSTRAP: '' },
      async () => {
        expect((await runPbft(['start', '--rpc.laddr', '127.0.0.1:8'], [start])).code).to.equal(0)
        expect(seen).to.deep.equal({
          'mempool.ttl_ms': 1000,
          'rpc.laddr': '127.0.0.1:8',
          'p2p.mdns': false,
          'p2p.bootstrap': [],
        })
        expect(names).to.include('PBFT_MEMPOOL_TTL_MS').and.include('--rpc.laddr')
      },
    )
    expect(envName('--consensus.pipeline_depth')).to.equal('PBFT_CONSENSUS_PIPELINE_DEPTH')
    expect(envName('--rpc.laddr')).to.equal('PBFT_RPC_LADDR')
    // a malformed value is a usage error naming the flag or the variable
    const bad = await runPbft(['start', '--mempool.max_txs', 'lots'], [start])
    expect(bad.code).to.equal(2)
    expect(oneErrorLine(bad)).to.include("'--mempool.max_txs <n>' argument 'lots' is invalid")
    // a rate is a decimal number, not only an integer
    expect((await runPbft(['start', '--p2p.validator_msg_rate', '0.5'], [start])).code).to.equal(0)
    expect(seen).to.deep.equal({ 'p2p.validator_msg_rate': 0.5 })
    const badRate = await runPbft(['start', '--p2p.validator_msg_rate', '1e3'], [start])
    expect(badRate.code).to.equal(2)
    expect(oneErrorLine(badRate)).to.include("argument '1e3' is invalid. Expected a number.")
    await withEnv({ PBFT_MDNS: 'maybe' }, async () => {
      const r = await runPbft(['start'], [start])
      expect(r.code).to.equal(2)
      expect(oneErrorLine(r)).to.include("from env 'PBFT_MDNS' is invalid")
    })
  })
})
