/**
 * The chain's encodings as a reader sees them (docs/PROTOCOL.md §3.2, docs/EXPLORER.md "Decoding and
 * verification"): decode a signed tx into its fields, encode a header to re-hash it, build the bytes
 * a COMMIT signs. Plain ES (Uint8Array, DataView, TextEncoder/TextDecoder), no Node and no DOM, so the
 * browser explorer and the CLI (src/rpc/describe-tx.ts) decode txs with this one module. The node's
 * own codec (src/codec/chain.ts) stays the authority; a unit test checks the two agree.
 */

const TX_TAG = 0x01
const HEADER_TAG = 0x02
const COMMIT_VOTE_TAG = 0x12
const OP_SET = 1
const OP_DEL = 2
/** The bounds the node's codec enforces on a tx (src/codec/limits.ts; a unit test keeps them equal). */
export const TX_LIMITS = { tx: 8192, chainId: 64, key: 256, value: 4096 } as const
const MAX_TX_BYTES = TX_LIMITS.tx
const MAX_CHAIN_ID_BYTES = TX_LIMITS.chainId
const MAX_KEY_BYTES = TX_LIMITS.key
const MAX_VALUE_BYTES = TX_LIMITS.value
const PUBLIC_KEY_BYTES = 32
const SIGNATURE_BYTES = 64
const HASH_BYTES = 32

/** Input that is not what it claims to be: bad hex, a wrong tag, a truncated field, trailing bytes. */
export class DecodeError extends Error {
  override name = 'DecodeError'
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Encoder = new TextEncoder()

/** Lowercase 0x-hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = '0x'
  for (const b of bytes) out += b.toString(16).padStart(2, '0')
  return out
}

/** Bytes of 0x-prefixed (or bare) hex; DecodeError for anything else. */
export function fromHex(hex: string): Uint8Array {
  const s = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new DecodeError('not a hex string')
  const out = new Uint8Array(s.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(2 * i, 2 * i + 2), 16)
  return out
}

class Reader {
  private pos = 0
  private readonly view: DataView

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.data.length) throw new DecodeError(`truncated input reading ${what}`)
  }

  u8(what: string): number {
    this.need(1, what)
    return this.data[this.pos++] as number
  }

  u32(what: string): number {
    this.need(4, what)
    const v = this.view.getUint32(this.pos)
    this.pos += 4
    return v
  }

  u64(what: string): number {
    this.need(8, what)
    const v = this.view.getBigUint64(this.pos)
    this.pos += 8
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DecodeError(`${what} exceeds the safe integer range`)
    return Number(v)
  }

  fixed(length: number, what: string): Uint8Array {
    this.need(length, what)
    const out = this.data.slice(this.pos, this.pos + length)
    this.pos += length
    return out
  }

  string(maxBytes: number, what: string): string {
    const len = this.u32(`${what} length`)
    if (len > maxBytes) throw new DecodeError(`${what} too long: ${len} > ${maxBytes}`)
    try {
      return utf8Decoder.decode(this.fixed(len, what))
    } catch (err) {
      if (err instanceof DecodeError) throw err
      throw new DecodeError(`${what} is not valid UTF-8`)
    }
  }

  end(what: string): void {
    if (this.pos !== this.data.length)
      throw new DecodeError(`${what}: ${this.data.length - this.pos} trailing bytes`)
  }
}

class Writer {
  private readonly parts: Uint8Array[] = []

  u8(v: number): this {
    this.parts.push(Uint8Array.of(v & 0xff))
    return this
  }

  u32(v: number): this {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, v)
    this.parts.push(b)
    return this
  }

  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new DecodeError(`u64 out of range: ${v}`)
    const b = new Uint8Array(8)
    new DataView(b.buffer).setBigUint64(0, BigInt(v))
    this.parts.push(b)
    return this
  }

  fixed(bytes: Uint8Array, length: number, what: string): this {
    if (bytes.length !== length)
      throw new DecodeError(`${what}: expected ${length} bytes, got ${bytes.length}`)
    this.parts.push(bytes)
    return this
  }

  string(s: string): this {
    const bytes = utf8Encoder.encode(s)
    return this.u32(bytes.length).fixed(bytes, bytes.length, 'string')
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0))
    let at = 0
    for (const p of this.parts) {
      out.set(p, at)
      at += p.length
    }
    return out
  }
}

/** The fields of one signed tx, named as in the RPC's JSON (docs/RPC.md). */
export interface TxFields {
  chain_id: string
  /** the sender's public key (its address) */
  sender: string
  nonce: number
  op: 'set' | 'del'
  key: string
  /** the value set; null for del */
  value: string | null
  signature: string
}

/** Decodes an encoded signed tx (hex or bytes); DecodeError for anything that is not exactly one tx. */
export function decodeTxFields(encoded: string | Uint8Array): TxFields {
  const data = typeof encoded === 'string' ? fromHex(encoded) : encoded
  if (data.length > MAX_TX_BYTES)
    throw new DecodeError(`tx too large: ${data.length} > ${MAX_TX_BYTES} bytes`)
  const r = new Reader(data)
  const tag = r.u8('tx tag')
  if (tag !== TX_TAG) throw new DecodeError(`tx: unexpected tag ${tag}, expected ${TX_TAG}`)
  const chainId = r.string(MAX_CHAIN_ID_BYTES, 'chain_id')
  if (chainId.length === 0) throw new DecodeError('chain_id is empty')
  const sender = toHex(r.fixed(PUBLIC_KEY_BYTES, 'from'))
  const nonce = r.u64('nonce')
  const opType = r.u8('op type')
  let op: 'set' | 'del'
  let key: string
  let value: string | null = null
  if (opType === OP_SET) {
    op = 'set'
    key = r.string(MAX_KEY_BYTES, 'key')
    value = r.string(MAX_VALUE_BYTES, 'value')
  } else if (opType === OP_DEL) {
    op = 'del'
    key = r.string(MAX_KEY_BYTES, 'key')
  } else {
    throw new DecodeError(`unknown op type ${opType}`)
  }
  const signature = toHex(r.fixed(SIGNATURE_BYTES, 'signature'))
  r.end('tx')
  return { chain_id: chainId, sender, nonce, op, key, value, signature }
}

/** A block header as the RPC sends it (src/rpc/types.ts HeaderJson). */
export interface HeaderFields {
  chain_id: string
  height: number
  view: number
  timestamp: number
  proposer: string
  parent_hash: string
  tx_root: string
  app_hash: string
}

/** The canonical header bytes: the block hash is their SHA-256. */
export function encodeHeader(h: HeaderFields): Uint8Array {
  return new Writer()
    .u8(HEADER_TAG)
    .string(h.chain_id)
    .u64(h.height)
    .u64(h.view)
    .u64(h.timestamp)
    .fixed(fromHex(h.proposer), PUBLIC_KEY_BYTES, 'proposer')
    .fixed(fromHex(h.parent_hash), HASH_BYTES, 'parent_hash')
    .fixed(fromHex(h.tx_root), HASH_BYTES, 'tx_root')
    .fixed(fromHex(h.app_hash), HASH_BYTES, 'app_hash')
    .finish()
}

/** The bytes each validator signs in a COMMIT: (tag, chain_id, view, height, block hash). */
export function commitSignBytes(
  chainId: string,
  view: number,
  height: number,
  blockHash: string,
): Uint8Array {
  return new Writer()
    .u8(COMMIT_VOTE_TAG)
    .string(chainId)
    .u64(view)
    .u64(height)
    .fixed(fromHex(blockHash), HASH_BYTES, 'block_hash')
    .finish()
}
