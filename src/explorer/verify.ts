/**
 * Checking a block in the browser (docs/EXPLORER.md "Decoding and verification"): re-hash the header,
 * rebuild the tx root, and verify each COMMIT signature of the certificate with WebCrypto Ed25519
 * against the validators' public keys. Nothing here takes the node's word: the node sends the header,
 * the txs and the signatures; what they sign is recomputed from them. No DOM: runs in Node too.
 */
import { commitSignBytes, encodeHeader, fromHex, type HeaderFields, toHex } from './codec.js'

/** The parts of a `block` result (docs/RPC.md) checked here. */
export interface BlockToVerify {
  hash: string
  header: HeaderFields
  txs: readonly string[]
  commit: {
    height: number
    view: number
    block_hash: string
    votes: { validator: number; signature: string }[]
  } | null
}

/** One validator's place in the certificate. */
export interface VoteCheck {
  validator: number
  public_key: string
  /** absent: no vote in the certificate; valid / invalid: its signature checked */
  state: 'valid' | 'invalid' | 'absent'
}

export interface BlockCheck {
  /** SHA-256 of the re-encoded header, and whether it equals the hash the node named */
  computed_hash: string
  hash_matches: boolean
  /** the Merkle root of the tx hashes (RFC 6962), and whether it equals header.tx_root */
  tx_root_matches: boolean
  /** null for the genesis block, which has no certificate */
  certificate: {
    /** the certificate names this block's height and recomputed hash */
    for_this_block: boolean
    votes: VoteCheck[]
    valid: number
    /** the quorum of n (2f+1 when n = 3f+1) */
    quorum: number
    /** a quorum of valid signatures over this very block */
    proves_final: boolean
    /** votes naming an index beyond the validator set */
    unknown_validators: number[]
  } | null
}

function subtle(): typeof globalThis.crypto.subtle {
  const c = globalThis.crypto
  if (c?.subtle === undefined) throw new Error('WebCrypto is not available (a secure context is needed)')
  return c.subtle
}

/** An ArrayBuffer of exactly these bytes, as WebCrypto's typings want. */
function buffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer
}

export async function sha256(...parts: Uint8Array[]): Promise<Uint8Array> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    all.set(p, at)
    at += p.length
  }
  return new Uint8Array(await subtle().digest('SHA-256', buffer(all)))
}

/** RFC 6962 Merkle tree hash of the leaves (as src/chain/merkle.ts: an odd last node carried up). */
export async function merkleRoot(leaves: readonly Uint8Array[]): Promise<Uint8Array> {
  if (leaves.length === 0) return await sha256()
  let level = await Promise.all(leaves.map((leaf) => sha256(Uint8Array.of(0), leaf)))
  while (level.length > 1) {
    const next: Promise<Uint8Array>[] = []
    for (let i = 0; i + 1 < level.length; i += 2) {
      next.push(sha256(Uint8Array.of(1), level[i] as Uint8Array, level[i + 1] as Uint8Array))
    }
    if (level.length % 2 === 1) next.push(Promise.resolve(level[level.length - 1] as Uint8Array))
    level = await Promise.all(next)
  }
  return level[0] as Uint8Array
}

/** Ed25519 verification with WebCrypto; a malformed key or signature is simply not valid. */
export async function ed25519Verify(
  publicKey: string,
  signature: string,
  message: Uint8Array,
): Promise<boolean> {
  try {
    const key = await subtle().importKey('raw', buffer(fromHex(publicKey)), { name: 'Ed25519' }, false, [
      'verify',
    ])
    return await subtle().verify({ name: 'Ed25519' }, key, buffer(fromHex(signature)), buffer(message))
  } catch {
    return false
  }
}

/** The quorum of n validators as the node counts it (src/chain/validators.ts): ⌊(n+f)/2⌋+1, f = ⌊(n−1)/3⌋. */
export function quorumOf(n: number): number {
  const f = Math.floor((n - 1) / 3)
  return Math.floor((n + f) / 2) + 1
}

/**
 * Checks a block against the validator set (public keys in genesis order = index): its hash, its
 * tx root, and each certificate signature over commitSignBytes(chain, view, height, recomputed hash).
 */
export async function verifyBlock(
  block: BlockToVerify,
  validatorKeys: readonly string[],
): Promise<BlockCheck> {
  const computed = toHex(await sha256(encodeHeader(block.header)))
  const txHashes = await Promise.all(block.txs.map((tx) => sha256(fromHex(tx))))
  const txRoot = toHex(await merkleRoot(txHashes))
  const result: BlockCheck = {
    computed_hash: computed,
    hash_matches: computed === block.hash.toLowerCase(),
    tx_root_matches: txRoot === block.header.tx_root.toLowerCase(),
    certificate: null,
  }
  const cert = block.commit
  if (cert === null) return result
  const forThisBlock = cert.height === block.header.height && cert.block_hash.toLowerCase() === computed
  // the signed bytes are rebuilt from the recomputed hash, not the certificate's own field
  const message = commitSignBytes(block.header.chain_id, cert.view, block.header.height, computed)
  const byValidator = new Map(cert.votes.map((v) => [v.validator, v.signature]))
  const votes = await Promise.all(
    validatorKeys.map(async (publicKey, validator): Promise<VoteCheck> => {
      const signature = byValidator.get(validator)
      if (signature === undefined) return { validator, public_key: publicKey, state: 'absent' }
      const ok = await ed25519Verify(publicKey, signature, message)
      return { validator, public_key: publicKey, state: ok ? 'valid' : 'invalid' }
    }),
  )
  const valid = votes.filter((v) => v.state === 'valid').length
  const quorum = quorumOf(validatorKeys.length)
  result.certificate = {
    for_this_block: forThisBlock,
    votes,
    valid,
    quorum,
    proves_final: forThisBlock && result.hash_matches && valid >= quorum,
    unknown_validators: cert.votes.map((v) => v.validator).filter((i) => i < 0 || i >= validatorKeys.length),
  }
  return result
}
