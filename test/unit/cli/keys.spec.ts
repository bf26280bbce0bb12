import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { ClientKeyError, loadClientKey } from '../../../src/cli/client-key.js'
import { verifySignature } from '../../../src/crypto/ed25519.js'
import { toHex } from '../../../src/crypto/hash.js'
import { oneErrorLine, runPbft, withTempDir } from './run.js'

describe('cli/keys generate and client keys', () => {
  it('writes a 0600 Ed25519 key file and prints its address', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'sub', 'alice.json')
      const result = await runPbft(['keys', 'generate', '--out', path])
      expect(result.code).to.equal(0)
      expect((await stat(path)).mode & 0o777).to.equal(0o600)
      const file = JSON.parse(await readFile(path, 'utf8'))
      expect(file).to.have.keys('type', 'private_key', 'public_key')
      expect(file.type).to.equal('Ed25519')
      expect(Buffer.from(file.private_key, 'base64')).to.have.length(32)
      expect(file.public_key).to.match(/^0x[0-9a-f]{64}$/)
      expect(result.stdout).to.equal(`${file.public_key}\n`)

      const signer = await loadClientKey(path)
      expect(toHex(signer.publicKey)).to.equal(file.public_key)
      const msg = new TextEncoder().encode('tx')
      expect(verifySignature(signer.publicKey, msg, signer.sign(msg))).to.equal(true)
    })
  })

  it('makes a different key each time', async () => {
    await withTempDir(async (dir) => {
      const a = await runPbft(['keys', 'generate', '--out', join(dir, 'a.json')])
      const b = await runPbft(['keys', 'generate', '--out', join(dir, 'b.json')])
      expect(a.stdout).not.to.equal(b.stdout)
    })
  })

  it('refuses to overwrite an existing file', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'k.json')
      await writeFile(path, 'precious')
      expect(oneErrorLine(await runPbft(['keys', 'generate', '--out', path]))).to.match(
        /already exists; refusing to overwrite/,
      )
      expect(await readFile(path, 'utf8')).to.equal('precious')
      expect(oneErrorLine(await runPbft(['keys', 'generate']))).to.match(/required option '--out <file>'/)
    })
  })

  it('loadClientKey rejects bad files with a ClientKeyError', async () => {
    await withTempDir(async (dir) => {
      const good = join(dir, 'good.json')
      await runPbft(['keys', 'generate', '--out', good])
      const file = JSON.parse(await readFile(good, 'utf8'))
      const cases: [string, RegExp][] = [
        ['{', /not valid JSON/],
        ['null', /must be \{"type":"Ed25519"/],
        [JSON.stringify({ ...file, type: 'secp256k1' }), /must be \{"type":"Ed25519"/],
        [JSON.stringify({ ...file, private_key: 'AAAA' }), /base64 of a 32-byte/],
        [
          JSON.stringify({ ...file, private_key: `${file.private_key.slice(0, -2)}!=` }),
          /base64 of a 32-byte/,
        ],
        [JSON.stringify({ ...file, public_key: `0x${'00'.repeat(32)}` }), /does not match/],
        [JSON.stringify({ ...file, public_key: 'zz' }), /does not match/],
      ]
      for (const [i, [text, pattern]] of cases.entries()) {
        const path = join(dir, `bad${i}.json`)
        await writeFile(path, text)
        await loadClientKey(path).then(
          () => expect.fail(`loaded ${text}`),
          (err: Error) => {
            expect(err, text).to.be.instanceOf(ClientKeyError)
            expect(err.message, text).to.match(pattern)
          },
        )
      }
      await loadClientKey(join(dir, 'missing.json')).then(
        () => expect.fail('loaded a missing file'),
        (err: Error) => expect(err.message).to.match(/cannot read key file .*ENOENT/),
      )
      // public_key is optional: the seed alone is the key
      const { public_key: _p, ...seedOnly } = file
      await writeFile(join(dir, 'seed.json'), JSON.stringify(seedOnly))
      expect(toHex((await loadClientKey(join(dir, 'seed.json'))).publicKey)).to.equal(file.public_key)
    })
  })
})
