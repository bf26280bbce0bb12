import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Ed25519Signer, SEED_BYTES } from '../crypto/ed25519.js'
import { bytesEqual, fromHex, toHex } from '../crypto/hash.js'

/** A bad, unreadable or existing client key file. */
export class ClientKeyError extends Error {
  override name = 'ClientKeyError'
}

/** A client (transaction-signing) key file; the public key is the account address. */
interface ClientKeyFile {
  type: 'Ed25519'
  /** base64 of the 32-byte Ed25519 seed */
  private_key: string
  /** 0x-hex of the 32-byte public key */
  public_key: string
}

/** Writes a new client key with mode 0600; never replaces an existing file. */
async function saveClientKey(path: string, signer: Ed25519Signer): Promise<void> {
  const file: ClientKeyFile = {
    type: 'Ed25519',
    private_key: Buffer.from(signer.seed).toString('base64'),
    public_key: toHex(signer.publicKey),
  }
  try {
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
    // The umask may have narrowed the mode; it can never have widened it, but make it exact.
    await chmod(path, 0o600)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new ClientKeyError(`key file ${path} already exists; refusing to overwrite`)
    throw new ClientKeyError(`cannot write key file ${path}: ${code ?? (err as Error).message}`)
  }
}

export async function generateClientKey(path: string): Promise<Ed25519Signer> {
  const signer = Ed25519Signer.generate()
  await saveClientKey(path, signer)
  return signer
}

export async function loadClientKey(path: string): Promise<Ed25519Signer> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ClientKeyError(
      `cannot read key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new ClientKeyError(`key file ${path} is not valid JSON`)
  }
  const file = value as Partial<Record<keyof ClientKeyFile, unknown>> | null
  if (
    file === null ||
    typeof file !== 'object' ||
    file.type !== 'Ed25519' ||
    typeof file.private_key !== 'string'
  ) {
    throw new ClientKeyError(
      `key file ${path} must be {"type":"Ed25519","private_key":"<base64 seed>","public_key":"0x..."}`,
    )
  }
  const seed = Buffer.from(file.private_key, 'base64')
  // Buffer's base64 decoder skips junk silently; a round trip proves the text was exact base64.
  if (seed.length !== SEED_BYTES || seed.toString('base64') !== file.private_key) {
    throw new ClientKeyError(
      `key file ${path}: private_key must be the base64 of a ${SEED_BYTES}-byte Ed25519 seed`,
    )
  }
  const signer = new Ed25519Signer(new Uint8Array(seed))
  if (file.public_key !== undefined) {
    let publicKey: Uint8Array | undefined
    try {
      publicKey = typeof file.public_key === 'string' ? fromHex(file.public_key) : undefined
    } catch {
      publicKey = undefined
    }
    if (publicKey === undefined || !bytesEqual(publicKey, signer.publicKey)) {
      throw new ClientKeyError(`key file ${path}: public_key does not match private_key`)
    }
  }
  return signer
}
