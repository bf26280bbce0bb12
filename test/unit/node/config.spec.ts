import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { MAX_TXS_PER_BLOCK } from '../../../src/codec/limits.js'
import { gossipsubInit } from '../../../src/network/gossipsub-config.js'
import { defaultGossipOptions, defaultValidatorBudgets } from '../../../src/network/options.js'
import {
  applyFlags,
  CONFIG_FIELDS,
  ConfigError,
  configToFile,
  defaultConfig,
  FlagError,
  flagName,
  loadConfig,
  type NodeConfig,
  parseConfig,
  parseHostPort,
  saveConfig,
} from '../../../src/node/config.js'
import { gossipOptions, validatorBudgets } from '../../../src/node/node-network.js'

const PEER = '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp'
const BOOT = `/ip4/10.0.0.2/tcp/26656/p2p/${PEER}`

function expectConfigError(fn: () => unknown, pattern: RegExp): void {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(thrown, 'expected a ConfigError').to.be.instanceOf(ConfigError)
  expect((thrown as Error).message).to.match(pattern)
  expect((thrown as Error).message).not.to.include('\n')
}

describe('node/config', () => {
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pbft-config-'))
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  describe('defaults', () => {
    it('binds p2p to every interface and RPC and metrics to loopback', () => {
      const c = defaultConfig()
      expect(c.p2p).to.deep.equal({
        listen: ['/ip4/0.0.0.0/tcp/26656'],
        announce: [],
        bootstrap: [],
        mdns: false,
        validatorMsgRate: 500,
        validatorMsgBurst: 1000,
        validatorViewChangeRate: 5,
        validatorViewChangeBurst: 50,
        faultyValidatorCooldownMs: 600_000,
        compactProposals: true,
        gossipMeshDegree: 2,
        gossipMeshDegreeLow: 2,
        gossipMeshDegreeHigh: 3,
        gossipLazyDegree: 4,
        gossipFloodPublish: true,
        gossipIdontwantMinBytes: 0,
        gossipRelays: 'always',
      })
      expect(c.rpc.laddr).to.equal('127.0.0.1:26657')
      expect(c.metrics).to.deep.equal({ enabled: false, laddr: '127.0.0.1:26660' })
      expect(c.log.level).to.equal('info')
      expect(c.consensus.viewChangeTimeoutMaxMs).to.be.at.least(c.consensus.viewChangeTimeoutMs)
    })

    it('takes ports and hosts', () => {
      const c = defaultConfig({
        p2pHost: '127.0.0.1',
        rpcHost: '127.0.0.2',
        p2pPort: 1000,
        rpcPort: 1001,
        metricsPort: 1002,
      })
      expect(c.p2p.listen).to.deep.equal(['/ip4/127.0.0.1/tcp/1000'])
      expect(c.rpc.laddr).to.equal('127.0.0.2:1001')
      expect(c.metrics.laddr).to.equal('127.0.0.2:1002')
    })

    it('an empty file, or missing sections and fields, take the defaults', () => {
      expect(parseConfig({})).to.deep.equal(defaultConfig())
      const c = parseConfig({ mempool: { max_txs: 5 }, p2p: { mdns: true } })
      expect(c.mempool).to.deep.equal({ ...defaultConfig().mempool, maxTxs: 5 })
      expect(c.p2p).to.deep.equal({ ...defaultConfig().p2p, mdns: true })
      expect(c.consensus).to.deep.equal(defaultConfig().consensus)
    })

    it('rpc: the per-address connection cap and the header and body timeouts', () => {
      expect(defaultConfig().rpc).to.deep.equal({
        laddr: '127.0.0.1:26657',
        maxConnectionsPerIp: 256,
        headerTimeoutMs: 10_000,
        bodyTimeoutMs: 10_000,
        corsAllowedOrigins: [],
      })
      const c = parseConfig({ rpc: { max_connections_per_ip: 8, body_timeout_ms: 500 } })
      expect(c.rpc).to.deep.equal({ ...defaultConfig().rpc, maxConnectionsPerIp: 8, bodyTimeoutMs: 500 })
      expect(configToFile(c).rpc).to.deep.equal({
        laddr: '127.0.0.1:26657',
        max_connections_per_ip: 8,
        header_timeout_ms: 10_000,
        body_timeout_ms: 500,
        cors_allowed_origins: [],
      })
    })

    it('rpc.cors_allowed_origins: none by default; origins as browsers send them, or *', () => {
      const origins = ['http://localhost:3000', 'https://explorer.example', 'http://[::1]:8080']
      const c = parseConfig({ rpc: { cors_allowed_origins: origins } })
      expect(c.rpc.corsAllowedOrigins).to.deep.equal(origins)
      expect(configToFile(c).rpc?.cors_allowed_origins).to.deep.equal(origins)
      expect(parseConfig({ rpc: { cors_allowed_origins: ['*'] } }).rpc.corsAllowedOrigins).to.deep.equal([
        '*',
      ])
    })

    it('p2p: the per-validator budgets, in the gossip validators’ form', () => {
      const c = parseConfig({ p2p: { validator_msg_rate: 50.5, validator_view_change_burst: 3 } })
      expect(c.p2p).to.deep.equal({
        ...defaultConfig().p2p,
        validatorMsgRate: 50.5,
        validatorViewChangeBurst: 3,
      })
      expect(validatorBudgets(c.p2p)).to.deep.equal({
        votes: { ratePerSec: 50.5, burst: 1000 },
        viewChanges: { ratePerSec: 5, burst: 3 },
      })
      expect(validatorBudgets(defaultConfig().p2p)).to.deep.equal(defaultValidatorBudgets)
      expect(configToFile(c).p2p).to.include({ validator_msg_rate: 50.5, validator_view_change_burst: 3 })
      expectConfigError(
        () => parseConfig({ p2p: { validator_msg_rate: 0 } }),
        /^config.json: p2p.validator_msg_rate: /,
      )
      expectConfigError(
        () => parseConfig({ p2p: { validator_msg_burst: 1.5 } }),
        /^config.json: p2p.validator_msg_burst: /,
      )
      expectConfigError(
        () => parseConfig({ p2p: { validator_view_change_rate: -1 } }),
        /^config.json: p2p.validator_view_change_rate: /,
      )
    })

    it('p2p: the proven-faulty cool-down, 0 allowed (no exclusion), never negative or fractional', () => {
      expect(
        parseConfig({ p2p: { faulty_validator_cooldown_ms: 0 } }).p2p.faultyValidatorCooldownMs,
      ).to.equal(0)
      expect(
        parseConfig({ p2p: { faulty_validator_cooldown_ms: 5000 } }).p2p.faultyValidatorCooldownMs,
      ).to.equal(5000)
      for (const bad of [-1, 1.5, '60s'])
        expectConfigError(
          () => parseConfig({ p2p: { faulty_validator_cooldown_ms: bad } }),
          /^config.json: p2p.faulty_validator_cooldown_ms: /,
        )
    })

    it('consensus.view_change_timeout_per_tx_ms: 1 by default, 0–100, fractions allowed', () => {
      expect(parseConfig({}).consensus.viewChangeTimeoutPerTxMs).to.equal(1)
      for (const ok of [0, 0.25, 100])
        expect(
          parseConfig({ consensus: { view_change_timeout_per_tx_ms: ok } }).consensus
            .viewChangeTimeoutPerTxMs,
        ).to.equal(ok)
      for (const bad of [-1, 100.5, '1ms'])
        expectConfigError(
          () => parseConfig({ consensus: { view_change_timeout_per_tx_ms: bad } }),
          /^config.json: consensus.view_change_timeout_per_tx_ms: /,
        )
    })

    it('p2p.gossip_relays: always by default, or on_demand; nothing else', () => {
      expect(parseConfig({}).p2p.gossipRelays).to.equal('always')
      expect(parseConfig({ p2p: { gossip_relays: 'on_demand' } }).p2p.gossipRelays).to.equal('on_demand')
      expect(gossipOptions(parseConfig({ p2p: { gossip_relays: 'on_demand' } }).p2p).relays).to.equal(
        'on_demand',
      )
      for (const bad of ['never', true, 1])
        expectConfigError(
          () => parseConfig({ p2p: { gossip_relays: bad } }),
          /^config.json: p2p.gossip_relays: /,
        )
    })

    it("runtime.heap_growth_percent: 0 (V8's own policy) by default, 0–1000, whole numbers", () => {
      expect(parseConfig({}).runtime.heapGrowthPercent).to.equal(0)
      expect(parseConfig({ runtime: { heap_growth_percent: 30 } }).runtime.heapGrowthPercent).to.equal(30)
      for (const bad of [-1, 1.5, 1001, '30%'])
        expectConfigError(
          () => parseConfig({ runtime: { heap_growth_percent: bad } }),
          /^config.json: runtime.heap_growth_percent: /,
        )
    })

    it('checks the gossip mesh degrees against each other', () => {
      const p2p = parseConfig({
        p2p: { gossip_mesh_degree: 2, gossip_mesh_degree_low: 2, gossip_mesh_degree_high: 2 },
      }).p2p
      expect([p2p.gossipMeshDegreeLow, p2p.gossipMeshDegree, p2p.gossipMeshDegreeHigh]).to.deep.equal([
        2, 2, 2,
      ])
      expectConfigError(
        () => parseConfig({ p2p: { gossip_mesh_degree: 2, gossip_mesh_degree_low: 3 } }),
        /^config.json: p2p.gossip_mesh_degree_low: must be <= gossip_mesh_degree \(2\)$/,
      )
      expectConfigError(
        () => parseConfig({ p2p: { gossip_mesh_degree: 5, gossip_mesh_degree_high: 4 } }),
        /^config.json: p2p.gossip_mesh_degree_high: must be >= gossip_mesh_degree \(5\)$/,
      )
      for (const [key, bad] of [
        ['gossip_mesh_degree', -1],
        ['gossip_mesh_degree', 1.5],
        ['gossip_lazy_degree', -1],
        ['gossip_idontwant_min_bytes', 1.5],
        ['gossip_flood_publish', 'yes'],
      ] as const)
        expectConfigError(
          () => parseConfig({ p2p: { [key]: bad } }),
          new RegExp(`^config.json: p2p.${key}: `),
        )
    })

    it('p2p: the gossip fields in the network’s form; Dout and Dscore follow the mesh degrees', () => {
      const defaults = gossipOptions(parseConfig({}).p2p)
      for (const key of Object.keys(defaults) as (keyof typeof defaults)[])
        expect(defaults[key], key).to.equal(defaultGossipOptions[key])
      const one = gossipOptions(
        parseConfig({
          p2p: {
            gossip_mesh_degree: 1,
            gossip_mesh_degree_low: 1,
            gossip_mesh_degree_high: 1,
            gossip_flood_publish: false,
            gossip_idontwant_min_bytes: 1000,
          },
        }).p2p,
      )
      expect(one).to.include({
        D: 1,
        Dlo: 1,
        Dhi: 1,
        Dout: 0,
        Dscore: 1,
        floodPublish: false,
        idontwantMinBytes: 1000,
      })
      // D = 0: no eager relays at all (flood publish and IHAVE only); Dout and Dscore follow
      const none = gossipOptions(
        parseConfig({ p2p: { gossip_mesh_degree: 0, gossip_mesh_degree_low: 0, gossip_mesh_degree_high: 0 } })
          .p2p,
      )
      expect(none).to.include({ D: 0, Dlo: 0, Dhi: 0, Dout: 0, Dscore: 0 })
      expectConfigError(
        () => parseConfig({ p2p: { gossip_mesh_degree: 0 } }),
        /^config.json: p2p.gossip_mesh_degree_low: must be <= gossip_mesh_degree \(0\)$/,
      )
      // gossipsub's own threshold: 0 turns IDONTWANT off (no message is that big), else as given
      const init = (o: Partial<typeof defaultGossipOptions>) =>
        gossipsubInit({ ...defaultGossipOptions, ...o }, ['t']).idontwantMinDataSize
      expect(init({ idontwantMinBytes: 0 })).to.equal(Number.MAX_SAFE_INTEGER)
      expect(init({ idontwantMinBytes: 1000 })).to.equal(1000)
    })

    it('does not share default arrays between parses', () => {
      const a = parseConfig({})
      ;(a.p2p.listen as string[]).push('/ip4/1.2.3.4/tcp/1')
      expect(parseConfig({}).p2p.listen).to.deep.equal(['/ip4/0.0.0.0/tcp/26656'])
    })
  })

  it('round-trips through config.json in snake_case', async () => {
    const config: NodeConfig = {
      ...defaultConfig(),
      p2p: {
        listen: ['/ip4/127.0.0.1/tcp/4000'],
        announce: ['/dns4/example.org/tcp/4000'],
        bootstrap: [BOOT],
        mdns: true,
        validatorMsgRate: 200,
        validatorMsgBurst: 400,
        validatorViewChangeRate: 0.5,
        validatorViewChangeBurst: 10,
        faultyValidatorCooldownMs: 0,
        compactProposals: false,
        gossipMeshDegree: 3,
        gossipMeshDegreeLow: 1,
        gossipMeshDegreeHigh: 5,
        gossipLazyDegree: 0,
        gossipFloodPublish: false,
        gossipIdontwantMinBytes: 1024,
        gossipRelays: 'on_demand',
      },
      consensus: { ...defaultConfig().consensus, proposeDelayMs: 0 },
      log: { level: 'debug', format: 'json' },
    }
    await saveConfig(dir, config)
    const raw = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))
    expect(raw.consensus.propose_delay_ms).to.equal(0)
    expect(raw.mempool).to.have.keys('max_txs', 'max_bytes', 'max_nonce_ahead', 'ttl_ms')
    expect(await loadConfig(dir)).to.deep.equal(config)
    expect(configToFile(config)).to.deep.equal(raw)
  })

  it('refuses to overwrite unless asked, and never writes an invalid config', async () => {
    await saveConfig(dir, defaultConfig())
    await saveConfig(dir, defaultConfig()).then(
      () => expect.fail('overwrote'),
      (err: Error) => expect(err.message).to.match(/already exists/),
    )
    await saveConfig(
      dir,
      { ...defaultConfig(), rpc: { ...defaultConfig().rpc, laddr: 'nope' } },
      { overwrite: true },
    ).then(
      () => expect.fail('saved an invalid config'),
      (err: Error) => expect(err).to.be.instanceOf(ConfigError),
    )
    expect(await loadConfig(dir)).to.deep.equal(defaultConfig())
  })

  describe('rejects, naming the field', () => {
    it('a missing or corrupt file', async () => {
      await loadConfig(dir).then(
        () => expect.fail('loaded a missing config'),
        (err: Error) =>
          expect(err.message).to.match(/cannot read config .*config.json: ENOENT \(is this a node home/),
      )
      await writeFile(join(dir, 'config.json'), '{"p2p": ')
      await loadConfig(dir).then(
        () => expect.fail('loaded corrupt JSON'),
        (err: Error) =>
          expect(err)
            .to.be.instanceOf(ConfigError)
            .with.property('message')
            .match(/invalid JSON/),
      )
    })

    it('unknown sections and fields (typos)', () => {
      expectConfigError(() => parseConfig({ pp2: {} }), /unknown field "pp2"/)
      expectConfigError(() => parseConfig({ p2p: { listn: [] } }), /^config.json: p2p: unknown field "listn"/)
      expectConfigError(() => parseConfig([]), /expected object/)
    })

    it('pipeline_depth outside 1..MAX_PIPELINE_DEPTH (4); the default is 4', () => {
      expect(parseConfig({}).consensus.pipelineDepth).to.equal(4)
      expect(parseConfig({ consensus: { pipeline_depth: 1 } }).consensus.pipelineDepth).to.equal(1)
      expectConfigError(() => parseConfig({ consensus: { pipeline_depth: 5 } }), /consensus.pipeline_depth/)
      expectConfigError(() => parseConfig({ consensus: { pipeline_depth: 0 } }), /consensus.pipeline_depth/)
      expectConfigError(() => parseConfig({ consensus: { pipeline_depth: 2.5 } }), /consensus.pipeline_depth/)
    })

    it('bad multiaddrs', () => {
      expectConfigError(
        () => parseConfig({ p2p: { bootstrap: [BOOT, '/ip4/1.2.3/tcp/1'] } }),
        /p2p.bootstrap\[1\]: invalid multiaddr/,
      )
      expectConfigError(
        () => parseConfig({ p2p: { bootstrap: ['/ip4/1.2.3.4/tcp/1'] } }),
        /p2p.bootstrap\[0\].*\/p2p\/<peer id>/,
      )
      expectConfigError(
        () => parseConfig({ p2p: { listen: ['/ip4/1.2.3.4/udp/1'] } }),
        /p2p.listen\[0\].*only TCP/,
      )
      expectConfigError(
        () => parseConfig({ p2p: { listen: [`/ip4/1.2.3.4/tcp/1/p2p/${PEER}`] } }),
        /must not contain \/p2p\//,
      )
      expectConfigError(() => parseConfig({ p2p: { announce: ['garbage'] } }), /p2p.announce\[0\]/)
      expectConfigError(
        () => parseConfig({ p2p: { listen: '/ip4/1.2.3.4/tcp/1' } }),
        /p2p.listen: .*expected array/,
      )
    })

    it('bad host:port addresses', () => {
      expectConfigError(() => parseConfig({ rpc: { laddr: '127.0.0.1' } }), /rpc.laddr: must be HOST:PORT/)
      expectConfigError(
        () => parseConfig({ rpc: { laddr: '127.0.0.1:70000' } }),
        /rpc.laddr: .*port out of range/,
      )
      expectConfigError(
        () => parseConfig({ metrics: { laddr: '300.1.1.1:80' } }),
        /metrics.laddr: .*invalid host/,
      )
    })

    it('bad CORS origins name the entry and say what to write', () => {
      expectConfigError(
        () => parseConfig({ rpc: { cors_allowed_origins: ['http://localhost:3000/'] } }),
        /^config.json: rpc.cors_allowed_origins\[0\]: .*write "http:\/\/localhost:3000"/,
      )
      expectConfigError(
        () => parseConfig({ rpc: { cors_allowed_origins: ['*', 'localhost:3000'] } }),
        /rpc.cors_allowed_origins\[1\]: "localhost:3000" is not an http or https origin/,
      )
      expectConfigError(
        () => parseConfig({ rpc: { cors_allowed_origins: ['example.com'] } }),
        /rpc.cors_allowed_origins\[0\]: "example.com" is not an origin/,
      )
      expectConfigError(() => parseConfig({ rpc: { cors_allowed_origins: '*' } }), /rpc.cors_allowed_origins/)
      expectConfigError(
        () => parseConfig({ rpc: { cors_allowed_origins: [3000] } }),
        /rpc.cors_allowed_origins\[0\]/,
      )
    })

    it('bad numbers, booleans and levels', () => {
      expectConfigError(() => parseConfig({ mempool: { max_txs: 0 } }), /mempool.max_txs/)
      expectConfigError(() => parseConfig({ mempool: { ttl_ms: 1.5 } }), /mempool.ttl_ms/)
      expectConfigError(() => parseConfig({ mempool: { max_nonce_ahead: -1 } }), /mempool.max_nonce_ahead/)
      expectConfigError(
        () => parseConfig({ consensus: { max_block_txs: MAX_TXS_PER_BLOCK + 1 } }),
        /consensus.max_block_txs/,
      )
      expectConfigError(
        () => parseConfig({ consensus: { max_block_bytes: 10 ** 9 } }),
        /consensus.max_block_bytes/,
      )
      expectConfigError(
        () => parseConfig({ consensus: { view_change_timeout_ms: 5000, view_change_timeout_max_ms: 1000 } }),
        /consensus.view_change_timeout_max_ms: must be >= view_change_timeout_ms/,
      )
      expectConfigError(
        () => parseConfig({ rpc: { max_connections_per_ip: 0 } }),
        /rpc.max_connections_per_ip/,
      )
      expectConfigError(
        () => parseConfig({ rpc: { max_connections_per_ip: 4097 } }),
        /rpc.max_connections_per_ip: Too big/,
      )
      expectConfigError(() => parseConfig({ rpc: { header_timeout_ms: 0 } }), /rpc.header_timeout_ms/)
      expectConfigError(() => parseConfig({ rpc: { body_timeout_ms: 2.5 } }), /rpc.body_timeout_ms/)
      expectConfigError(() => parseConfig({ p2p: { mdns: 'yes' } }), /p2p.mdns/)
      expectConfigError(() => parseConfig({ log: { level: 'loud' } }), /log.level/)
    })
  })

  it('parseHostPort accepts IPv4, bracketed IPv6, hostnames and port 0', () => {
    expect(parseHostPort('127.0.0.1:26657')).to.deep.equal({ host: '127.0.0.1', port: 26657 })
    expect(parseHostPort('[::1]:80')).to.deep.equal({ host: '::1', port: 80 })
    expect(parseHostPort('localhost:0')).to.deep.equal({ host: 'localhost', port: 0 })
    for (const bad of ['::1:80', ':80', 'host:', 'host:-1', 'a b:1', '[zz]:1', '1.2.3.4:99999', '1.2.3:4']) {
      expect(() => parseHostPort(bad), bad).to.throw(ConfigError)
    }
  })

  describe('applyFlags', () => {
    it('flags replace the configured values and leave the rest', () => {
      const base = { ...defaultConfig(), p2p: { ...defaultConfig().p2p, bootstrap: [BOOT] } }
      const c = applyFlags(base, {
        'p2p.bootstrap': [`/ip4/10.0.0.3/tcp/1/p2p/${PEER}`],
        'p2p.listen': ['/ip4/127.0.0.1/tcp/0'],
        'p2p.announce': ['/ip4/203.0.113.5/tcp/26656'],
        'rpc.laddr': '0.0.0.0:8080',
        'p2p.mdns': true,
      })
      expect(c.p2p).to.deep.equal({
        ...base.p2p,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        announce: ['/ip4/203.0.113.5/tcp/26656'],
        bootstrap: [`/ip4/10.0.0.3/tcp/1/p2p/${PEER}`],
        mdns: true,
      })
      expect(c.rpc).to.deep.equal({ ...base.rpc, laddr: '0.0.0.0:8080' })
      expect(c.mempool).to.deep.equal(base.mempool)
      expect(base.p2p.bootstrap).to.deep.equal([BOOT])
    })

    it('every field has a flag: mempool, consensus, metrics, log, the rpc limits', () => {
      const c = applyFlags(defaultConfig(), {
        'mempool.max_txs': 7,
        'mempool.max_nonce_ahead': 0,
        'consensus.view_change_timeout_ms': 500,
        'consensus.pipeline_depth': 1,
        'consensus.view_change_timeout_per_tx_ms': 0.5,
        'metrics.enabled': true,
        'metrics.laddr': '127.0.0.1:0',
        'log.level': 'debug',
        'log.format': 'json',
        'rpc.max_connections_per_ip': 8,
        'runtime.heap_growth_percent': 40,
      })
      expect(c.mempool).to.deep.equal({ ...defaultConfig().mempool, maxTxs: 7, maxNonceAhead: 0 })
      expect(c.consensus).to.deep.equal({
        ...defaultConfig().consensus,
        viewChangeTimeoutMs: 500,
        pipelineDepth: 1,
        viewChangeTimeoutPerTxMs: 0.5,
      })
      expect(c.metrics).to.deep.equal({ enabled: true, laddr: '127.0.0.1:0' })
      expect(c.log).to.deep.equal({ level: 'debug', format: 'json' })
      expect(c.rpc.maxConnectionsPerIp).to.equal(8)
      expect(c.runtime).to.deep.equal({ heapGrowthPercent: 40 })
      // one entry per config.json field, each with its flag
      const file = configToFile(defaultConfig())
      const paths = Object.entries(file).flatMap(([section, fields]) =>
        Object.keys(fields ?? {}).map((key) => `${section}.${key}`),
      )
      expect(CONFIG_FIELDS.map((f) => f.path)).to.deep.equal(paths)
      expect(CONFIG_FIELDS.find((f) => f.path === 'log.level')?.choices).to.include('debug')
      expect(flagName('p2p.bootstrap')).to.equal('--bootstrap')
      expect(flagName('mempool.ttl_ms')).to.equal('--mempool.ttl_ms')
    })

    it('no flags change nothing; an empty list clears; false turns a switch off', () => {
      const base = { ...defaultConfig(), p2p: { ...defaultConfig().p2p, bootstrap: [BOOT], mdns: true } }
      expect(applyFlags(base, {})).to.deep.equal(base)
      expect(applyFlags(base, { 'p2p.bootstrap': [] }).p2p.bootstrap).to.deep.equal([])
      expect(applyFlags(base, { 'p2p.mdns': false }).p2p.mdns).to.equal(false)
    })

    it('bad flag values are FlagErrors naming the flag (or the name given for it)', () => {
      expectConfigError(
        () => applyFlags(defaultConfig(), { 'p2p.bootstrap': ['/ip4/1.2.3.4/tcp/1'] }),
        /^--bootstrap: /,
      )
      expectConfigError(
        () => applyFlags(defaultConfig(), { 'p2p.listen': ['nope'] }),
        /^--p2p.listen: invalid multiaddr/,
      )
      expectConfigError(
        () => applyFlags(defaultConfig(), { 'p2p.announce': ['/ip4/1.2.3.4'] }),
        /^--p2p.announce: /,
      )
      expectConfigError(
        () => applyFlags(defaultConfig(), { 'rpc.laddr': 'localhost' }),
        /^--rpc.laddr: must be HOST:PORT/,
      )
      expectConfigError(
        () => applyFlags(defaultConfig(), { 'consensus.pipeline_depth': 5 }),
        /^--consensus.pipeline_depth: Too big/,
      )
      expectConfigError(() => applyFlags(defaultConfig(), { 'mempool.max_txs': 0 }), /^--mempool.max_txs: /)
      expectConfigError(
        () => applyFlags(defaultConfig(), { 'mempool.ttl_ms': 0 }, () => 'PBFT_MEMPOOL_TTL_MS'),
        /^PBFT_MEMPOOL_TTL_MS: /,
      )
      // a check across two fields names the one the flags left to config.json
      expectConfigError(
        () => applyFlags(defaultConfig(), { 'consensus.view_change_timeout_ms': 60_000 }),
        /^consensus.view_change_timeout_max_ms \(config.json\): must be >= view_change_timeout_ms \(60000\)/,
      )
      expect(() => applyFlags(defaultConfig(), { 'mempool.max_txs': 0 })).to.throw(FlagError)
    })
  })
})
