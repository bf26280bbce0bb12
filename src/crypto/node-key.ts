import { chmod, readFile, writeFile } from 'node:fs/promises'
import {
  generateKeyPairFromSeed,
  privateKeyFromProtobuf,
  privateKeyToProtobuf,
  publicKeyFromRaw,
} from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { Ed25519Signer, PUBLIC_KEY_BYTES, SEED_BYTES } from './ed25519.js'

export class NodeKeyError extends Error {
  override name = 'NodeKeyError'
}

/** A node's identity: its Ed25519 key as a libp2p PrivateKey (its PeerId) and as a fast signer. */
export interface NodeKey {
  readonly privateKey: PrivateKey
  readonly signer: Ed25519Signer
  readonly peerId: string
}

export async function nodeKeyFromSeed(seed: Uint8Array): Promise<NodeKey> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', seed)
  return { privateKey, signer: new Ed25519Signer(seed), peerId: peerIdFromPrivateKey(privateKey).toString() }
}

export async function generateNodeKey(): Promise<NodeKey> {
  return nodeKeyFromSeed(Ed25519Signer.generate().seed)
}

/** The PeerId string of a raw 32-byte Ed25519 public key. */
export function peerIdOfPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw new TypeError('Ed25519 public key must be 32 bytes')
  return peerIdFromPublicKey(publicKeyFromRaw(publicKey)).toString()
}

/** The raw 32-byte Ed25519 public key inside a PeerId string; undefined for any other kind of id. */
export function publicKeyOfPeerId(peerId: string): Uint8Array | undefined {
  try {
    const key = peerIdFromString(peerId).publicKey
    return key?.type === 'Ed25519' ? key.raw : undefined
  } catch {
    return undefined
  }
}

interface NodeKeyFile {
  type: 'Ed25519'
  /** base64 of the libp2p protobuf encoding of the private key */
  private_key: string
  peer_id: string
}

/** Writes node_key.json with mode 0600 (the private key never leaves this file). */
export async function saveNodeKey(path: string, key: NodeKey): Promise<void> {
  const file: NodeKeyFile = {
    type: 'Ed25519',
    private_key: Buffer.from(privateKeyToProtobuf(key.privateKey)).toString('base64'),
    peer_id: key.peerId,
  }
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  await chmod(path, 0o600)
}

export async function loadNodeKey(path: string): Promise<NodeKey> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new NodeKeyError(`cannot read node key ${path}: ${(err as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new NodeKeyError(`node key ${path} is not valid JSON`)
  }
  const file = parsed as Partial<NodeKeyFile> | null
  if (
    file === null ||
    typeof file !== 'object' ||
    file.type !== 'Ed25519' ||
    typeof file.private_key !== 'string'
  ) {
    throw new NodeKeyError(`node key ${path} must be {"type":"Ed25519","private_key":"<base64>"}`)
  }
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(Buffer.from(file.private_key, 'base64'))
  } catch (err) {
    throw new NodeKeyError(`node key ${path} holds no valid private key: ${(err as Error).message}`)
  }
  if (privateKey.type !== 'Ed25519') throw new NodeKeyError(`node key ${path} is not an Ed25519 key`)
  const seed = (privateKey as Ed25519PrivateKey).raw.subarray(0, SEED_BYTES)
  const key: NodeKey = {
    privateKey,
    signer: new Ed25519Signer(seed),
    peerId: peerIdFromPrivateKey(privateKey).toString(),
  }
  if (file.peer_id !== undefined && file.peer_id !== key.peerId) {
    throw new NodeKeyError(`node key ${path}: peer_id ${file.peer_id} does not match the key (${key.peerId})`)
  }
  return key
}
