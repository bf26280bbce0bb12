/**
 * Where a node's CPU went: reads a V8 .cpuprofile (written by `node --cpu-prof`, which
 * `bench/run.ts --profile` passes to every node) and sums self time by function and by area
 * (our src/ folders, each npm package, node internals, GC). Also runnable alone:
 *   npx tsx bench/profile.ts FILE.cpuprofile [--top 30]
 */
import { existsSync, readFileSync } from 'node:fs'

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
  readonly startTime: number
  readonly endTime: number
}

export interface ProfileEntry {
  readonly name: string
  readonly ms: number
  readonly share: number
}

export interface ProfileSummary {
  readonly totalMs: number
  /** time not idle: what the process actually spent CPU on */
  readonly busyMs: number
  readonly byArea: readonly ProfileEntry[]
  readonly byFunction: readonly ProfileEntry[]
}

/** The area a frame belongs to: a src/ folder of ours, an npm package, node internals, or V8. */
function areaOf(frame: CallFrame): string {
  const url = frame.url
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (pkg !== null) return pkg[1] as string
  const ours = /\/dist\/([^/]+)\//.exec(url) ?? /\/src\/([^/]+)\//.exec(url)
  if (ours !== null) return `src/${ours[1]}`
  if (url.startsWith('node:')) return 'node internals'
  return url.split('/').slice(-2).join('/')
}

function shortUrl(url: string): string {
  const i = url.lastIndexOf('node_modules/')
  if (i >= 0) return url.slice(i + 'node_modules/'.length)
  const d = url.indexOf('/dist/')
  if (d >= 0) return url.slice(d + 1)
  return url.replace(/^file:\/\//, '')
}

function top(map: Map<string, number>, busyMs: number, n: number): ProfileEntry[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => ({ name, ms, share: ms / busyMs }))
}

export function summarizeProfile(path: string, topN = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile
  const byId = new Map<number, ProfileNode>()
  for (const n of profile.nodes) byId.set(n.id, n)
  const selfMs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number
    selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000)
  }
  const byArea = new Map<string, number>()
  const byFunction = new Map<string, number>()
  let totalMs = 0
  let idleMs = 0
  for (const [id, ms] of selfMs) {
    const frame = (byId.get(id) as ProfileNode).callFrame
    totalMs += ms
    if (frame.functionName === '(idle)') {
      idleMs += ms
      continue
    }
    const area = areaOf(frame)
    byArea.set(area, (byArea.get(area) ?? 0) + ms)
    const fn = `${frame.functionName || '(anonymous)'} ${frame.url === '' ? '' : `${shortUrl(frame.url)}:${frame.lineNumber + 1}`}`
    byFunction.set(fn.trim(), (byFunction.get(fn.trim()) ?? 0) + ms)
  }
  const busyMs = totalMs - idleMs
  return { totalMs, busyMs, byArea: top(byArea, busyMs, topN), byFunction: top(byFunction, busyMs, topN) }
}

export function formatProfile(name: string, s: ProfileSummary): string {
  const lines = [
    `${name}: ${(s.busyMs / 1000).toFixed(1)} s busy of ${(s.totalMs / 1000).toFixed(1)} s profiled`,
    '  by area:',
    ...s.byArea.map((e) => `    ${(e.share * 100).toFixed(1).padStart(5)} %  ${e.name}`),
    '  by function (self time):',
    ...s.byFunction.map((e) => `    ${(e.share * 100).toFixed(1).padStart(5)} %  ${e.name}`),
  ]
  return lines.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  const usage = 'usage: tsx bench/profile.ts FILE.cpuprofile [--top N]'
  if (file === '--help' || file === '-h') {
    console.log(usage)
    process.exit(0)
  }
  if (file === undefined || !existsSync(file)) {
    console.error(file === undefined ? usage : `bench/profile.ts: no such file: ${file}\n${usage}`)
    process.exit(2)
  }
  const t = process.argv.indexOf('--top')
  const n = t > 0 ? Number(process.argv[t + 1]) : 30
  console.log(formatProfile(file, summarizeProfile(file, n)))
}
