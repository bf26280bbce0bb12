import { CodecError } from './errors.js'

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Encoder = new TextEncoder()

/**
 * Canonical binary writer: fixed-width big-endian integers, u32 length prefixes, fields in a fixed
 * order. There is exactly one encoding of every value, so hashes and signatures are well defined.
 */
export class Writer {
  private buf: Buffer
  private pos = 0

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize)
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  u8(v: number): this {
    this.reserve(1)
    this.buf[this.pos++] = v & 0xff
    return this
  }

  u16(v: number): this {
    this.reserve(2)
    this.buf.writeUInt16BE(v, this.pos)
    this.pos += 2
    return this
  }

  u32(v: number): this {
    this.reserve(4)
    this.buf.writeUInt32BE(v, this.pos)
    this.pos += 4
    return this
  }

  /** A non-negative safe integer as 8 bytes big-endian. */
  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new CodecError(`u64 out of range: ${v}`)
    this.reserve(8)
    this.buf.writeBigUInt64BE(BigInt(v), this.pos)
    this.pos += 8
    return this
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0)
  }

  fixed(bytes: Uint8Array, length: number): this {
    if (bytes.length !== length) throw new CodecError(`expected ${length} bytes, got ${bytes.length}`)
    this.reserve(length)
    this.buf.set(bytes, this.pos)
    this.pos += length
    return this
  }

  bytes(bytes: Uint8Array): this {
    this.u32(bytes.length)
    this.reserve(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
    return this
  }

  string(s: string): this {
    return this.bytes(utf8Encoder.encode(s))
  }

  finish(): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.pos).slice()
  }
}

/** Strict reader: every read is bounds-checked, every failure is a CodecError. */
export class Reader {
  private pos = 0
  private readonly view: DataView

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  }

  get offset(): number {
    return this.pos
  }

  get remaining(): number {
    return this.data.length - this.pos
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.data.length) throw new CodecError(`truncated input reading ${what}`)
  }

  u8(what = 'u8'): number {
    this.need(1, what)
    return this.data[this.pos++] as number
  }

  u16(what = 'u16'): number {
    this.need(2, what)
    const v = this.view.getUint16(this.pos)
    this.pos += 2
    return v
  }

  u32(what = 'u32'): number {
    this.need(4, what)
    const v = this.view.getUint32(this.pos)
    this.pos += 4
    return v
  }

  u64(what = 'u64'): number {
    this.need(8, what)
    const v = this.view.getBigUint64(this.pos)
    this.pos += 8
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CodecError(`${what} exceeds the safe integer range`)
    return Number(v)
  }

  bool(what = 'bool'): boolean {
    const v = this.u8(what)
    if (v > 1) throw new CodecError(`${what}: invalid boolean ${v}`)
    return v === 1
  }

  fixed(length: number, what = 'bytes'): Uint8Array {
    this.need(length, what)
    const out = this.data.slice(this.pos, this.pos + length)
    this.pos += length
    return out
  }

  bytes(maxLength: number, what = 'bytes'): Uint8Array {
    const len = this.u32(`${what} length`)
    if (len > maxLength) throw new CodecError(`${what} too long: ${len} > ${maxLength}`)
    return this.fixed(len, what)
  }

  string(maxBytes: number, what = 'string'): string {
    const raw = this.bytes(maxBytes, what)
    try {
      return utf8Decoder.decode(raw)
    } catch {
      throw new CodecError(`${what} is not valid UTF-8`)
    }
  }

  /** A count of repeated items, bounded before any allocation. */
  count(max: number, what = 'count'): number {
    const n = this.u32(what)
    if (n > max) throw new CodecError(`${what} too large: ${n} > ${max}`)
    return n
  }

  tag(expected: number, what: string): void {
    const t = this.u8(`${what} tag`)
    if (t !== expected) throw new CodecError(`${what}: unexpected tag ${t}, expected ${expected}`)
  }

  end(what = 'message'): void {
    if (this.pos !== this.data.length)
      throw new CodecError(`${what}: ${this.data.length - this.pos} trailing bytes`)
  }
}

/** Runs a decoder over the whole input, rejecting oversized input first and trailing bytes after. */
export function decodeExact<T>(data: Uint8Array, maxBytes: number, what: string, body: (r: Reader) => T): T {
  if (!(data instanceof Uint8Array)) throw new CodecError(`${what}: input is not bytes`)
  if (data.length > maxBytes) throw new CodecError(`${what} too large: ${data.length} > ${maxBytes} bytes`)
  const r = new Reader(data)
  const out = body(r)
  r.end(what)
  return out
}
