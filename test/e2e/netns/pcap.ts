/**
 * Just enough of the pcap format (as written by `tcpdump -w`) to get TCP payloads back, grouped
 * into one byte stream per direction of each connection, so a search also finds a string that
 * TCP split across two segments.
 */

export class PcapFormatError extends Error {
  override name = 'PcapFormatError'
}

const LINKTYPE_ETHERNET = 1
const LINKTYPE_LINUX_SLL = 113
const LINKTYPE_LINUX_SLL2 = 276
const ETHERTYPE_IPV4 = 0x0800
const IPPROTO_TCP = 6

export interface TcpCapture {
  packets: number
  /** packets whose TCP segment carried payload bytes */
  payloadPackets: number
  payloadBytes: number
  /** key `src:port>dst:port` → the payload bytes in capture order */
  streams: Map<string, Buffer>
}

/** The IPv4 packet inside one captured frame, or undefined for anything else. */
function ipv4Of(linkType: number, frame: Buffer): Buffer | undefined {
  let offset: number
  let etherType: number
  if (linkType === LINKTYPE_ETHERNET) {
    if (frame.length < 14) return undefined
    etherType = frame.readUInt16BE(12)
    offset = 14
  } else if (linkType === LINKTYPE_LINUX_SLL) {
    if (frame.length < 16) return undefined
    etherType = frame.readUInt16BE(14)
    offset = 16
  } else if (linkType === LINKTYPE_LINUX_SLL2) {
    if (frame.length < 20) return undefined
    etherType = frame.readUInt16BE(0)
    offset = 20
  } else {
    throw new PcapFormatError(`unsupported pcap link type ${linkType}`)
  }
  return etherType === ETHERTYPE_IPV4 ? frame.subarray(offset) : undefined
}

export function parseTcpCapture(file: Buffer): TcpCapture {
  if (file.length < 24) throw new PcapFormatError(`pcap file too short (${file.length} bytes)`)
  const magic = file.readUInt32LE(0)
  // microsecond (a1b2c3d4) or nanosecond (a1b23c4d) pcap, written little- or big-endian
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d
  const be = magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1
  if (!le && !be) throw new PcapFormatError(`not a pcap file (magic 0x${magic.toString(16)})`)
  const u32 = (at: number) => (le ? file.readUInt32LE(at) : file.readUInt32BE(at))
  const linkType = u32(20) & 0x0fffffff
  const chunks = new Map<string, Buffer[]>()
  const capture: TcpCapture = { packets: 0, payloadPackets: 0, payloadBytes: 0, streams: new Map() }
  let at = 24
  // a record cut short by stopping tcpdump is simply the end of the capture
  while (at + 16 <= file.length) {
    const inclLen = u32(at + 8)
    const frame = file.subarray(at + 16, at + 16 + inclLen)
    at += 16 + inclLen
    if (frame.length < inclLen) break
    capture.packets++
    const ip = ipv4Of(linkType, frame)
    if (ip === undefined || ip.length < 20 || ip[9] !== IPPROTO_TCP) continue
    const ipHeader = ((ip[0] as number) & 0x0f) * 4
    const totalLen = Math.min(ip.readUInt16BE(2), ip.length)
    const tcp = ip.subarray(ipHeader, totalLen)
    if (tcp.length < 20) continue
    const tcpHeader = (((tcp[12] as number) >> 4) & 0x0f) * 4
    const payload = tcp.subarray(tcpHeader)
    if (payload.length === 0) continue
    capture.payloadPackets++
    capture.payloadBytes += payload.length
    const src = `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}:${tcp.readUInt16BE(0)}`
    const dst = `${ip[16]}.${ip[17]}.${ip[18]}.${ip[19]}:${tcp.readUInt16BE(2)}`
    const key = `${src}>${dst}`
    const list = chunks.get(key) ?? []
    list.push(Buffer.from(payload))
    chunks.set(key, list)
  }
  for (const [key, list] of chunks) capture.streams.set(key, Buffer.concat(list))
  return capture
}

/** Which of the named needles occur in any stream of the capture or anywhere in the raw file. */
export function findInCapture(
  file: Buffer,
  capture: TcpCapture,
  needles: Record<string, Uint8Array>,
): string[] {
  const found: string[] = []
  for (const [name, needle] of Object.entries(needles)) {
    if (needle.length === 0) throw new Error(`empty needle ${name}`)
    const n = Buffer.from(needle)
    const hit = file.includes(n) || [...capture.streams.values()].some((s) => s.includes(n))
    if (hit) found.push(name)
  }
  return found
}
