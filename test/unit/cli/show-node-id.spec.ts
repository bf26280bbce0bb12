import { join } from 'node:path'
import { expect } from 'chai'
import { dialableAddrs } from '../../../src/cli/show-node-id.js'
import { loadNodeKey } from '../../../src/crypto/node-key.js'
import { defaultConfig } from '../../../src/node/config.js'
import { oneErrorLine, runPbft, withTempDir } from './run.js'

const PEER = '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp'

describe('cli/show-node-id', () => {
  it('prints the peer id, then each full /p2p/ multiaddr; --json gives both', async () => {
    await withTempDir(async (dir) => {
      await runPbft(['testnet', '--validators', '2', '--output', dir, '--base-port', '31000'])
      const home = join(dir, 'node1')
      const { peerId } = await loadNodeKey(join(home, 'node_key.json'))
      const text = await runPbft(['show-node-id', '--home', home])
      expect(text.code).to.equal(0)
      expect(text.stdout).to.equal(`${peerId}\n/ip4/127.0.0.1/tcp/31002/p2p/${peerId}\n`)
      const json = await runPbft(['show-node-id', '--home', home, '--json'])
      expect(JSON.parse(json.stdout)).to.deep.equal({
        peer_id: peerId,
        addrs: [`/ip4/127.0.0.1/tcp/31002/p2p/${peerId}`],
      })
    })
  })

  it('expands a wildcard listen address to this machine’s interface addresses', async () => {
    await withTempDir(async (dir) => {
      await runPbft(['init', '--home', dir])
      const { peerId } = await loadNodeKey(join(dir, 'node_key.json'))
      const lines = (await runPbft(['show-node-id', '--home', dir])).stdout.trim().split('\n')
      expect(lines[0]).to.equal(peerId)
      expect(lines.slice(1)).to.include(`/ip4/127.0.0.1/tcp/26656/p2p/${peerId}`)
      for (const line of lines.slice(1)) {
        expect(line).not.to.include('0.0.0.0')
        expect(line).to.match(new RegExp(`^/ip4/[\\d.]+/tcp/26656/p2p/${peerId}$`))
      }
    })
  })

  it('announce addresses replace the listen ones', () => {
    const config = {
      ...defaultConfig(),
      p2p: {
        ...defaultConfig().p2p,
        announce: ['/dns4/node.example.org/tcp/4001', `/ip4/203.0.113.9/tcp/4001/p2p/${PEER}`],
      },
    }
    expect(dialableAddrs(config, PEER)).to.deep.equal([
      `/dns4/node.example.org/tcp/4001/p2p/${PEER}`,
      `/ip4/203.0.113.9/tcp/4001/p2p/${PEER}`,
    ])
  })

  it('fails in one line on a missing home, or a directory that is not one', async () => {
    await withTempDir(async (dir) => {
      expect(oneErrorLine(await runPbft(['show-node-id', '--home', join(dir, 'x')]))).to.match(
        /node home .*x does not exist \(create it with pbft init/,
      )
      expect(oneErrorLine(await runPbft(['show-node-id', '--home', dir]))).to.match(/cannot read config/)
    })
  })
})
