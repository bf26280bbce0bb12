import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { genesisValidatorSet } from '../../../src/chain/genesis.js'
import { defaultConfig } from '../../../src/node/config.js'
import { HomeError, initHome, loadHome } from '../../../src/node/home.js'
import { oneErrorLine, runPbft, withEnv, withTempDir } from './run.js'

describe('cli/init and node/home', () => {
  it('creates a home: key (0600), default config, one-validator genesis, data/', async () => {
    await withTempDir(async (dir) => {
      const home = join(dir, 'a', 'b')
      const result = await runPbft(['init', '--home', home])
      expect(result.code).to.equal(0)
      expect((await readdir(home)).sort()).to.deep.equal([
        'config.json',
        'data',
        'genesis.json',
        'node_key.json',
      ])
      expect((await stat(join(home, 'node_key.json'))).mode & 0o777).to.equal(0o600)
      expect((await stat(home)).mode & 0o777).to.equal(0o700)
      const h = await loadHome(home)
      expect(h.config).to.deep.equal(defaultConfig())
      expect(h.genesis.chainId).to.equal('pbft-local')
      expect(h.genesis.validators).to.have.length(1)
      expect(h.genesis.validators[0]?.peerId).to.equal(h.nodeKey.peerId)
      expect(h.genesis.validators[0]?.publicKey).to.deep.equal(h.nodeKey.signer.publicKey)
      expect(genesisValidatorSet(h.genesis).quorum).to.equal(1)
      expect(result.stdout).to.include(h.nodeKey.peerId)
    })
  })

  it('takes --chain-id', async () => {
    await withTempDir(async (dir) => {
      expect((await runPbft(['init', '--home', dir, '--chain-id', 'my-chain_1.0'])).code).to.equal(0)
      expect((await loadHome(dir)).genesis.chainId).to.equal('my-chain_1.0')
    })
  })

  it('refuses to overwrite an existing home, changing nothing', async () => {
    await withTempDir(async (dir) => {
      await runPbft(['init', '--home', dir])
      const before = await readFile(join(dir, 'node_key.json'), 'utf8')
      const line = oneErrorLine(await runPbft(['init', '--home', dir]))
      expect(line).to.match(/is already a node home .*refusing to overwrite/)
      expect(await readFile(join(dir, 'node_key.json'), 'utf8')).to.equal(before)
    })
  })

  it('refuses a directory holding only part of a home', async () => {
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'data'))
      await initHome(dir).then(
        () => expect.fail('initialised over data/'),
        (err: Error) =>
          expect(err)
            .to.be.instanceOf(HomeError)
            .with.property('message')
            .match(/has data/),
      )
      expect(await readdir(dir)).to.deep.equal(['data'])
    })
  })

  it('rejects a bad chain id in one line; without --home uses $PBFT_HOME, else ~/.pbft', async () => {
    await withTempDir(async (dir) => {
      expect(oneErrorLine(await runPbft(['init', '--home', dir, '--chain-id', '']))).to.match(
        /chain id must be 1..64/,
      )
      expect(await readdir(dir)).to.deep.equal([])
      await withEnv({ HOME: join(dir, 'user'), PBFT_HOME: join(dir, 'env') }, async () => {
        expect((await runPbft(['init'])).stdout).to.include(`initialized node home ${join(dir, 'env')}`)
        await withEnv({ PBFT_HOME: undefined }, async () => {
          expect((await runPbft(['init'])).stdout).to.include(
            `initialized node home ${join(dir, 'user', '.pbft')}`,
          )
          // the default never replaces a home
          expect(oneErrorLine(await runPbft(['init']))).to.match(/already a node home/)
        })
      })
      await rm(join(dir, 'env'), { recursive: true })
      await rm(join(dir, 'user'), { recursive: true })
      await initHome(dir, { chainId: 'x'.repeat(65) }).then(
        () => expect.fail('accepted a long chain id'),
        (err: Error) => expect(err).to.be.instanceOf(HomeError),
      )
    })
  })

  it('loadHome names what is missing', async () => {
    await withTempDir(async (dir) => {
      await loadHome(join(dir, 'none')).then(
        () => expect.fail('loaded a missing home'),
        (err: Error) => expect(err.message).to.match(/does not exist \(create it with pbft init\)/),
      )
      await loadHome(dir).then(
        () => expect.fail('loaded an empty dir'),
        (err: Error) => expect(err.message).to.match(/cannot read config .*config.json: ENOENT/),
      )
    })
  })
})
