import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'chai'
import { Ed25519Signer, verifySignature } from '../../../src/crypto/ed25519.js'
import { bytesEqual, fromHex, sha256, toHex } from '../../../src/crypto/hash.js'
import {
  generateNodeKey,
  loadNodeKey,
  NodeKeyError,
  nodeKeyFromSeed,
  peerIdOfPublicKey,
  saveNodeKey,
} from '../../../src/crypto/node-key.js'

describe('crypto', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pbft-crypto-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('signs and verifies; any change to message, signature or key fails verification', () => {
    const signer = new Ed25519Signer(sha256(new TextEncoder().encode('seed')))
    const msg = new TextEncoder().encode('hello')
    const sig = signer.sign(msg)
    expect(verifySignature(signer.publicKey, msg, sig)).to.equal(true)
    expect(verifySignature(signer.publicKey, new TextEncoder().encode('hellp'), sig)).to.equal(false)
    const badSig = sig.slice()
    badSig[0] = (badSig[0] as number) ^ 1
    expect(verifySignature(signer.publicKey, msg, badSig)).to.equal(false)
    expect(verifySignature(Ed25519Signer.generate().publicKey, msg, sig)).to.equal(false)
    expect(verifySignature(new Uint8Array(31), msg, sig)).to.equal(false)
    expect(verifySignature(signer.publicKey, msg, sig.subarray(0, 63))).to.equal(false)
    // Not a valid curve point: false, never a throw.
    expect(verifySignature(new Uint8Array(32).fill(0xff), msg, sig)).to.equal(false)
  })

  it('Ed25519 keys are deterministic from the seed (RFC 8032 test vector 1)', () => {
    const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')
    const signer = new Ed25519Signer(seed)
    expect(toHex(signer.publicKey)).to.equal(
      '0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    )
    expect(toHex(signer.sign(new Uint8Array(0)))).to.equal(
      '0xe5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    )
  })

  it('sha256 equals a createHash digest for any input split, as a plain 32-byte array', () => {
    const reference = (parts: Uint8Array[]): string => {
      const h = createHash('sha256')
      for (const p of parts) h.update(p)
      return h.digest('hex')
    }
    const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
    // one part (crypto.hash), small parts joined, parts over the join limit streamed
    const cases: Uint8Array[][] = [
      [],
      [new Uint8Array(0)],
      [new Uint8Array(0), new Uint8Array(0)],
      ...[1, 32, 55, 56, 63, 64, 65, 150, 1000, 4096, 4097, 100_000].map((n) => [random(n)]),
      [new Uint8Array([1]), random(64)],
      [random(2000), random(2096)],
      [random(2000), random(2097)],
      [random(10), random(100_000), random(3)],
    ]
    // a view into a larger buffer hashes only its own bytes
    const big = random(512)
    cases.push([big.subarray(7, 200)], [big.subarray(0, 1), big.subarray(300, 364)])
    for (const parts of cases) {
      const d = sha256(...parts)
      expect(Buffer.from(d).toString('hex')).to.equal(reference(parts))
      expect(Buffer.from(sha256(Buffer.concat(parts))).toString('hex')).to.equal(reference(parts))
      expect(Buffer.isBuffer(d)).to.equal(false)
      expect(d).to.be.instanceOf(Uint8Array)
      expect(d.byteLength).to.equal(32)
      // owns its memory: keeps no larger buffer alive, shares nothing with another digest
      expect(d.buffer.byteLength).to.equal(32)
    }
    const a = sha256(new Uint8Array([1]))
    const b = sha256(new Uint8Array([1]))
    a[0] = (a[0] as number) ^ 0xff
    expect(Buffer.from(b).toString('hex')).to.equal(reference([new Uint8Array([1])]))
  })

  it('fromHex accepts and decodes exactly what the hex-regex definition does', () => {
    const reference = (hex: string): string | null => {
      const s = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex
      if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null
      return Buffer.from(s, 'hex').toString('hex')
    }
    const ours = (hex: string): string | null => {
      try {
        const out = fromHex(hex)
        expect(out.buffer.byteLength).to.equal(out.length)
        return Buffer.from(out).toString('hex')
      } catch (err) {
        expect(err).to.be.instanceOf(TypeError)
        return null
      }
    }
    const alphabet = [
      '0',
      '9',
      'a',
      'f',
      'A',
      'F',
      'g',
      'G',
      'x',
      'X',
      ' ',
      '-',
      'é',
      '٣',
      '\u0000',
      '\ud800',
    ]
    let seed = 7
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    const fixed = [
      '',
      '0x',
      '0X',
      '00',
      '0x00',
      '0xfF',
      'ff',
      '0x0',
      'x0',
      '0xx0',
      '0x 0',
      ' 00',
      '00 ',
      '0g',
    ]
    const cases = [...fixed]
    for (let i = 0; i < 3000; i++) {
      const len = next(9)
      let s = next(3) === 0 ? '0x' : ''
      for (let j = 0; j < len; j++)
        s += next(4) === 0 ? (alphabet[next(alphabet.length)] as string) : '0123456789abcdefABCDEF'[next(22)]
      cases.push(s)
    }
    let valid = 0
    for (const c of cases) {
      expect(ours(c), JSON.stringify(c)).to.equal(reference(c))
      if (reference(c) !== null) valid++
    }
    expect(valid).to.be.greaterThan(500)
  })

  it('hex helpers round-trip and reject garbage', () => {
    const b = new Uint8Array([0, 1, 254, 255])
    expect(toHex(b)).to.equal('0x0001feff')
    expect(bytesEqual(fromHex('0x0001feff'), b)).to.equal(true)
    expect(bytesEqual(fromHex('0001FEFF'), b)).to.equal(true)
    expect(() => fromHex('0x123')).to.throw(TypeError)
    expect(() => fromHex('0xzz')).to.throw(TypeError)
  })

  it('node_key.json: saved with mode 0600, reloads to the same PeerId and signing key', async () => {
    const key = await generateNodeKey()
    const path = join(dir, 'node_key.json')
    await saveNodeKey(path, key)
    expect((await stat(path)).mode & 0o777).to.equal(0o600)
    const loaded = await loadNodeKey(path)
    expect(loaded.peerId).to.equal(key.peerId)
    expect(peerIdFromPrivateKey(loaded.privateKey).toString()).to.equal(key.peerId)
    expect(bytesEqual(loaded.signer.publicKey, key.signer.publicKey)).to.equal(true)
    expect(peerIdOfPublicKey(loaded.signer.publicKey)).to.equal(key.peerId)
    const text = await readFile(path, 'utf8')
    expect(text).to.not.include(toHex(key.signer.seed).slice(2))
    // never overwrites an existing key
    await saveNodeKey(path, await generateNodeKey()).then(
      () => expect.fail('overwrote a key file'),
      (err: NodeJS.ErrnoException) => expect(err.code).to.equal('EEXIST'),
    )
  })

  it('a seed gives the same identity every time', async () => {
    const seed = sha256(new TextEncoder().encode('fixed'))
    expect((await nodeKeyFromSeed(seed)).peerId).to.equal((await nodeKeyFromSeed(seed)).peerId)
  })

  it('bad node key files fail with one clear NodeKeyError', async () => {
    const path = join(dir, 'bad.json')
    const cases: [string, RegExp][] = [
      ['not json', /not valid JSON/],
      ['null', /must be/],
      ['{"type":"RSA","private_key":"AAAA"}', /must be/],
      ['{"type":"Ed25519","private_key":"AAAA"}', /no valid private key/],
    ]
    for (const [content, pattern] of cases) {
      await writeFile(path, content)
      await loadNodeKey(path).then(
        () => expect.fail(`accepted ${content}`),
        (err: Error) => {
          expect(err).to.be.instanceOf(NodeKeyError)
          expect(err.message).to.match(pattern)
        },
      )
    }
    const key = await generateNodeKey()
    const good = join(dir, 'good.json')
    await saveNodeKey(good, key)
    const file = JSON.parse(await readFile(good, 'utf8')) as Record<string, string>
    file.peer_id = (await generateNodeKey()).peerId
    await writeFile(path, JSON.stringify(file))
    await loadNodeKey(path).then(
      () => expect.fail('accepted a mismatched peer_id'),
      (err: Error) => expect(err.message).to.match(/does not match/),
    )
    await loadNodeKey(join(dir, 'missing.json')).then(
      () => expect.fail('accepted a missing file'),
      (err: Error) => expect(err.message).to.match(/cannot read node key/),
    )
  })
})
