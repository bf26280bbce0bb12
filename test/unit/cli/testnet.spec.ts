import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { loadGenesis } from '../../../src/chain/genesis.js'
import { loadNodeKey } from '../../../src/crypto/node-key.js'
import { loadConfig } from '../../../src/node/config.js'
import { loadHome } from '../../../src/node/home.js'
import { oneErrorLine, runPbft, withTempDir } from './run.js'

describe('cli/testnet', () => {
  it('creates validator and observer homes sharing one genesis, with ports and bootstrap lists', async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, 'net')
      const result = await runPbft([
        'testnet',
        '--validators',
        '4',
        '--observers',
        '2',
        '--output',
        out,
        '--base-port',
        '30000',
        '--chain-id',
        'devnet-7',
      ])
      expect(result.stderr).to.equal('')
      expect(result.code).to.equal(0)
      const names = ['node0', 'node1', 'node2', 'node3', 'observer0', 'observer1']
      expect((await readdir(out)).sort()).to.deep.equal(names)

      const homes = await Promise.all(names.map((n) => loadHome(join(out, n))))
      const genesisText = await readFile(join(out, 'node0', 'genesis.json'), 'utf8')
      for (const n of names)
        expect(await readFile(join(out, n, 'genesis.json'), 'utf8')).to.equal(genesisText)
      const genesis = await loadGenesis(join(out, 'node0', 'genesis.json'))
      expect(genesis.chainId).to.equal('devnet-7')
      // all validators in order, observers not listed
      expect(genesis.validators.map((v) => v.peerId)).to.deep.equal(
        homes.slice(0, 4).map((h) => h.nodeKey.peerId),
      )

      const ports = new Set<number>()
      for (const [k, h] of homes.entries()) {
        const p2pPort = 30000 + 2 * k
        expect(h.config.p2p.listen).to.deep.equal([`/ip4/127.0.0.1/tcp/${p2pPort}`])
        expect(h.config.rpc.laddr).to.equal(`127.0.0.1:${p2pPort + 1}`)
        const expectedBootstrap = homes
          .map((other, j) => `/ip4/127.0.0.1/tcp/${30000 + 2 * j}/p2p/${other.nodeKey.peerId}`)
          .filter((_, j) => j !== k)
        expect(h.config.p2p.bootstrap).to.deep.equal(expectedBootstrap)
        for (const laddr of [h.config.rpc.laddr, h.config.metrics.laddr])
          ports.add(Number(laddr.split(':')[1]))
        ports.add(p2pPort)
        expect((await stat(h.paths.nodeKey)).mode & 0o777).to.equal(0o600)
        expect((await stat(h.paths.data)).isDirectory()).to.equal(true)
        expect(result.stdout).to.include(
          `rpc 127.0.0.1:${p2pPort + 1}  p2p /ip4/127.0.0.1/tcp/${p2pPort}/p2p/${h.nodeKey.peerId}`,
        )
      }
      expect(ports.size, 'every p2p, rpc and metrics port distinct').to.equal(3 * names.length)
      const peerIds = new Set(homes.map((h) => h.nodeKey.peerId))
      expect(peerIds.size).to.equal(names.length)
    })
  })

  it('allows a single validator with no bootstrap peers, on the default ports', async () => {
    await withTempDir(async (dir) => {
      const result = await runPbft(['testnet', '--validators', '1', '--output', dir])
      expect(result.code).to.equal(0)
      expect(await readdir(dir)).to.deep.equal(['node0'])
      const config = await loadConfig(join(dir, 'node0'))
      expect(config.p2p.bootstrap).to.deep.equal([])
      expect(config.p2p.listen).to.deep.equal(['/ip4/127.0.0.1/tcp/26656'])
      expect(config.rpc.laddr).to.equal('127.0.0.1:26657')
      const genesis = await loadGenesis(join(dir, 'node0', 'genesis.json'))
      expect(genesis.chainId).to.equal('pbft-local')
      expect(genesis.validators.map((v) => v.peerId)).to.deep.equal([
        (await loadNodeKey(join(dir, 'node0', 'node_key.json'))).peerId,
      ])
    })
  })

  it('supports an IPv6 host', async () => {
    await withTempDir(async (dir) => {
      expect(
        (await runPbft(['testnet', '--validators', '2', '--output', dir, '--host', '::1'])).code,
      ).to.equal(0)
      const config = await loadConfig(join(dir, 'node1'))
      expect(config.p2p.listen).to.deep.equal(['/ip6/::1/tcp/26658'])
      expect(config.rpc.laddr).to.equal('[::1]:26659')
      expect(config.p2p.bootstrap[0]).to.match(/^\/ip6\/::1\/tcp\/26656\/p2p\/12D3Koo/)
    })
  })

  it('refuses a non-empty output directory and leaves it untouched', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'keep.txt'), 'mine')
      const result = await runPbft(['testnet', '--validators', '4', '--output', dir])
      expect(oneErrorLine(result)).to.equal(`error: output directory ${dir} is not empty`)
      expect(await readdir(dir)).to.deep.equal(['keep.txt'])
    })
  })

  it('accepts a folder holding only its README (keys/ in git), as make run needs', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'README.md'), '# keys')
      expect((await runPbft(['testnet', '--validators', '1', '--output', dir])).code).to.equal(0)
      expect((await readdir(dir)).sort()).to.deep.equal(['README.md', 'node0'])
    })
  })

  it('refuses an output that is a file', async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, 'f')
      await writeFile(file, '')
      expect(oneErrorLine(await runPbft(['testnet', '--validators', '1', '--output', file]))).to.match(
        /not a directory/,
      )
    })
  })

  it('validates counts, host and ports with one-line errors', async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, 'net')
      const cases: [string[], RegExp][] = [
        [['--validators', '0'], /--validators <n>.*invalid/],
        [['--validators', 'four'], /--validators <n>.*invalid/],
        [['--validators', '1.5'], /--validators <n>.*invalid/],
        [['--validators', '4', '--observers', '-1'], /--observers/],
        [['--validators', '4', '--base-port', '65530'], /--base-port 65530 leaves no room/],
        [['--validators', '4', '--base-port', '0'], /--base-port <p>.*invalid/],
        [['--validators', '4', '--host', '0.0.0.0'], /--host must be an IPv4 or IPv6 address peers can dial/],
        [['--validators', '4', '--host', 'example.com'], /--host/],
        [['--validators', '4', '--chain-id', 'no spaces'], /--chain-id <id>.*invalid/],
        [['--output', out], /required option '--validators <n>'/],
      ]
      for (const [args, pattern] of cases) {
        const argv = ['testnet', ...args]
        if (!args.includes('--output')) argv.push('--output', out)
        expect(oneErrorLine(await runPbft(argv)), args.join(' ')).to.match(pattern)
      }
      expect(await readdir(dir)).to.deep.equal([])
    })
  })

  it('fills an existing empty directory', async () => {
    await withTempDir(async (dir) => {
      expect(
        (await runPbft(['testnet', '--validators', '2', '--observers', '1', '--output', dir])).code,
      ).to.equal(0)
      expect((await readdir(dir)).sort()).to.deep.equal(['node0', 'node1', 'observer0'])
      const genesis = await loadGenesis(join(dir, 'observer0', 'genesis.json'))
      const observer = await loadNodeKey(join(dir, 'observer0', 'node_key.json'))
      expect(genesis.validators.map((v) => v.peerId)).not.to.include(observer.peerId)
    })
  })
})
