import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import fc from 'fast-check'
import {
  type Genesis,
  GenesisError,
  type GenesisFile,
  genesisToFile,
  genesisValidatorSet,
  loadGenesis,
  makeGenesis,
  parseGenesis,
  saveGenesis,
  serializeGenesis,
} from '../../../src/chain/genesis.js'
import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from '../../../src/codec/limits.js'
import { toHex } from '../../../src/crypto/hash.js'
import { type NodeKey, nodeKeyFromSeed } from '../../../src/crypto/node-key.js'

function seed(i: number): Uint8Array {
  return new Uint8Array(32).fill(i + 1)
}

describe('chain/genesis', () => {
  let keys: NodeKey[]

  before(async () => {
    keys = await Promise.all([0, 1, 2, 3, 4].map((i) => nodeKeyFromSeed(seed(i))))
  })

  function validFile(): GenesisFile {
    return {
      chain_id: 'test-chain.1',
      genesis_time: '2026-11-24T12:00:00.000Z',
      validators: keys.slice(0, 4).map((k) => ({ peer_id: k.peerId, public_key: toHex(k.signer.publicKey) })),
      app_state: { kv: { hello: 'world' } },
    }
  }

  function expectError(input: unknown, pattern: RegExp): void {
    let thrown: unknown
    try {
      parseGenesis(typeof input === 'string' ? input : JSON.stringify(input))
    } catch (err) {
      thrown = err
    }
    expect(thrown, 'expected a GenesisError').to.be.instanceOf(GenesisError)
    expect((thrown as Error).message).to.match(pattern)
    expect((thrown as Error).message).not.to.include('\n')
  }

  it('parses a valid genesis and keeps the validator order', () => {
    const g = parseGenesis(JSON.stringify(validFile()))
    expect(g.chainId).to.equal('test-chain.1')
    expect(g.genesisTime).to.equal('2026-11-24T12:00:00.000Z')
    expect(g.genesisTimeMs).to.equal(Date.UTC(2026, 10, 24, 12))
    expect(g.validators.map((v) => v.peerId)).to.deep.equal(keys.slice(0, 4).map((k) => k.peerId))
    expect(g.validators[2]?.publicKey).to.deep.equal(keys[2]?.signer.publicKey)
    expect(g.appState.kv).to.deep.equal({ hello: 'world' })
  })

  it('accepts an already parsed value', () => {
    expect(parseGenesis(validFile()).chainId).to.equal('test-chain.1')
    expect(() => parseGenesis(null)).to.throw(GenesisError)
    expect(() => parseGenesis(42)).to.throw(GenesisError)
  })

  it('round-trips through its file form and through disk', async () => {
    const g = parseGenesis(validFile())
    expect(parseGenesis(serializeGenesis(g))).to.deep.equal(g)
    expect(genesisToFile(g)).to.deep.equal(validFile())
    const dir = await mkdtemp(join(tmpdir(), 'pbft-genesis-'))
    try {
      const path = join(dir, 'genesis.json')
      await saveGenesis(path, g)
      expect(await loadGenesis(path)).to.deep.equal(g)
      await saveGenesis(path, g).then(
        () => expect.fail('overwrote genesis'),
        (err: Error) =>
          expect(err)
            .to.be.instanceOf(GenesisError)
            .with.property('message')
            .match(/already exists/),
      )
      await saveGenesis(path, makeGenesis({ chainId: 'other', validators: g.validators }), {
        overwrite: true,
      })
      expect((await loadGenesis(path)).chainId).to.equal('other')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('canonicalises the time to UTC with milliseconds', () => {
    const g = parseGenesis({ ...validFile(), genesis_time: '2026-11-24T13:30:00+01:30' })
    expect(g.genesisTime).to.equal('2026-11-24T12:00:00.000Z')
    expect(parseGenesis({ ...validFile(), genesis_time: '2024-02-29t00:00:00.5z' }).genesisTime).to.equal(
      '2024-02-29T00:00:00.500Z',
    )
  })

  it('defaults a missing app_state to an empty kv', () => {
    const { app_state: _omitted, ...rest } = validFile()
    expect(parseGenesis(rest).appState.kv).to.deep.equal({})
    expect(parseGenesis({ ...rest, app_state: {} }).appState.kv).to.deep.equal({})
  })

  it('makeGenesis applies the same rules', () => {
    const g: Genesis = makeGenesis({
      chainId: 'x',
      genesisTime: new Date(5),
      validators: [keys[0] as NodeKey].map((k) => ({ peerId: k.peerId, publicKey: k.signer.publicKey })),
    })
    expect(g.genesisTimeMs).to.equal(5)
    expect(() => makeGenesis({ chainId: 'bad id', validators: g.validators })).to.throw(GenesisError)
    expect(() => makeGenesis({ chainId: 'x', validators: [] })).to.throw(GenesisError, /at least one/)
  })

  it('gives the validator set with indices in genesis order', () => {
    const set = genesisValidatorSet(parseGenesis(validFile()))
    expect(set.n).to.equal(4)
    expect(set.f).to.equal(1)
    expect(set.quorum).to.equal(3)
    expect(set.byPeerId(keys[3]?.peerId ?? '')?.index).to.equal(3)
  })

  describe('rejects', () => {
    it('corrupt JSON', () => {
      expectError('{"chain_id": "x",', /invalid JSON/)
      expectError('', /invalid JSON/)
    })

    it('missing and unknown fields', () => {
      const { chain_id: _c, ...noChain } = validFile()
      expectError(noChain, /chain_id/)
      const { validators: _v, ...noValidators } = validFile()
      expectError(noValidators, /validators/)
      expectError({ ...validFile(), extra: 1 }, /extra/)
      const file = validFile()
      expectError({ ...file, validators: [{ ...file.validators[0], power: 10 }] }, /validators\[0\].*power/)
      expectError({ ...file, app_state: { kv: {}, other: {} } }, /app_state.*other/)
      expectError({ ...file, chain_id: 7 }, /chain_id/)
      expectError([], /expected object/)
    })

    it('bad chain ids', () => {
      expectError({ ...validFile(), chain_id: '' }, /chain_id must be 1..64/)
      expectError({ ...validFile(), chain_id: 'a'.repeat(65) }, /chain_id/)
      expectError({ ...validFile(), chain_id: 'has space' }, /chain_id/)
      expectError({ ...validFile(), chain_id: 'ünïcode' }, /chain_id/)
      expect(parseGenesis({ ...validFile(), chain_id: 'a'.repeat(64) }).chainId).to.have.length(64)
    })

    it('bad times', () => {
      for (const t of [
        'yesterday',
        '2026-11-24',
        '2026-11-24T12:00:00',
        '2026-02-30T00:00:00Z',
        '2026-13-01T00:00:00Z',
        '2026-11-24T24:00:00Z',
        '2026-11-24T12:60:00Z',
        '2026-11-24T12:00:00+25:00',
        '1969-12-31T23:59:59Z',
        ' 2026-11-24T12:00:00Z',
      ]) {
        expectError({ ...validFile(), genesis_time: t }, /genesis_time/)
      }
    })

    it('an empty validator list', () => {
      expectError({ ...validFile(), validators: [] }, /at least one validator/)
    })

    it('bad public keys', () => {
      const file = validFile()
      const v0 = file.validators[0] as GenesisFile['validators'][number]
      const withKey = (public_key: string) => ({ ...file, validators: [{ ...v0, public_key }] })
      expectError(withKey(`0x${'zz'.repeat(32)}`), /validators\[0\].public_key must be 0x-prefixed hex/)
      expectError(withKey(v0.public_key.slice(2)), /0x-prefixed/)
      expectError(withKey(`${v0.public_key}0`), /0x-prefixed/)
      expectError(withKey(v0.public_key.slice(0, -2)), /must be 32 bytes.*got 31/)
      expectError(withKey(`${v0.public_key}00`), /must be 32 bytes.*got 33/)
      expectError(withKey('0x'), /got 0/)
    })

    it('a peer id that does not match the public key', () => {
      const file = validFile()
      const v1 = file.validators[1] as GenesisFile['validators'][number]
      expectError(
        { ...file, validators: [file.validators[0], { ...v1, peer_id: keys[4]?.peerId }] },
        /validators\[1\].peer_id .* does not match/,
      )
      expectError({ ...file, validators: [{ ...v1, peer_id: 'not-a-peer-id' }] }, /does not match/)
    })

    it('duplicate validators', () => {
      const file = validFile()
      expectError(
        { ...file, validators: [...file.validators, file.validators[1]] },
        /validators\[4\] duplicates validators\[1\]/,
      )
    })

    it('kv entries beyond the size limits or of the wrong type', () => {
      const kv = (entries: Record<string, unknown>) => ({ ...validFile(), app_state: { kv: entries } })
      expect(
        parseGenesis(kv({ ['k'.repeat(MAX_KEY_BYTES)]: 'v'.repeat(MAX_VALUE_BYTES) })).appState.kv,
      ).to.have.property('k'.repeat(MAX_KEY_BYTES))
      expectError(kv({ ['k'.repeat(MAX_KEY_BYTES + 1)]: 'v' }), /key is longer than 256 bytes/)
      // limits count UTF-8 bytes, not characters
      expectError(kv({ ['é'.repeat(MAX_KEY_BYTES / 2 + 1)]: 'v' }), /key is longer/)
      expectError(kv({ k: 'v'.repeat(MAX_VALUE_BYTES + 1) }), /value is longer than 4096 bytes/)
      expectError(kv({ k: 1 }), /app_state.kv\["k"\] must be a string/)
      expectError(kv({ '': 'v' }), /empty key/)
      expectError({ ...validFile(), app_state: { kv: ['a'] } }, /app_state.kv must be an object/)
    })
  })

  it('keeps a "__proto__" kv key as an ordinary entry', () => {
    const g = parseGenesis(
      `{"chain_id":"c","genesis_time":"2026-01-01T00:00:00Z","validators":${JSON.stringify(
        validFile().validators,
      )},"app_state":{"kv":{"__proto__":"x","a":"b"}}}`,
    )
    expect(Object.keys(g.appState.kv)).to.deep.equal(['__proto__', 'a'])
    expect(Object.getOwnPropertyDescriptor(g.appState.kv, '__proto__')?.value).to.equal('x')
  })

  it('names the file when loading fails', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pbft-genesis-'))
    try {
      const path = join(dir, 'genesis.json')
      await loadGenesis(path).then(
        () => expect.fail('loaded a missing file'),
        (err: Error) => expect(err.message).to.equal(`cannot read genesis ${path}: ENOENT`),
      )
      await writeFile(path, '{not json')
      await loadGenesis(path).then(
        () => expect.fail('loaded corrupt JSON'),
        (err: Error) => {
          expect(err).to.be.instanceOf(GenesisError)
          expect(err.message).to.match(new RegExp(`^genesis ${path}: invalid JSON`))
        },
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('throws nothing but GenesisError on mutated input', () => {
    const text = JSON.stringify(validFile())
    fc.assert(
      fc.property(fc.nat(text.length), fc.nat(8), fc.string({ maxLength: 4 }), (at, cut, insert) => {
        const mutated = text.slice(0, at) + insert + text.slice(at + cut)
        try {
          parseGenesis(mutated)
        } catch (err) {
          expect(err).to.be.instanceOf(GenesisError)
        }
      }),
      { seed: 42, numRuns: 500 },
    )
  })
})
