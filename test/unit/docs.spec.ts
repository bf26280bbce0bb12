import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'

/**
 * The repository stands on its own: what users and contributors need of the product contract is in
 * docs/, and the code cites docs/ pages, never a file outside the repository. These checks keep it
 * that way: no citation of the external contract, and every cited page, heading and link exists.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The external contract's token, assembled so that this file does not cite it itself. */
const CONTRACT = ['S', 'P', 'E', 'C'].join('')
const CONTRACT_CITATION = new RegExp(`\\b${CONTRACT}\\b`)

function walk(dir: string, keep: (path: string) => boolean): string[] {
  const abs = join(ROOT, dir)
  if (!existsSync(abs)) return []
  const out: string[] = []
  for (const name of readdirSync(abs).sort()) {
    if (name === 'node_modules' || name === 'results') continue
    const rel = join(dir, name)
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...walk(rel, keep))
    else if (keep(rel)) out.push(rel)
  }
  return out
}

const read = (rel: string): string => readFileSync(join(ROOT, rel), 'utf8')
const sourceFiles = (dir: string) => walk(dir, (p) => p.endsWith('.ts'))
const markdownFiles = [...walk('docs', (p) => p.endsWith('.md')), 'README.md', 'CONTRIBUTING.md'].filter(
  (p) => existsSync(join(ROOT, p)),
)

/** Headings of a Markdown text, outside fenced code blocks, without their leading #s. */
function headings(markdown: string): string[] {
  const out: string[] = []
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced
    else if (!fenced && /^#{1,6} /.test(line)) out.push(line.replace(/^#+ +/, '').trim())
  }
  return out
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens. */
function headingAnchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-')
}

/** Every anchor of a page, with GitHub's -1, -2 … suffixes for repeated headings. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const h of headings(markdown)) {
    const base = headingAnchor(h)
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

/** The lines of a file with their `file:line`, for failure messages that point at the line. */
function numbered(rel: string): { where: string; text: string }[] {
  return read(rel)
    .split('\n')
    .map((text, i) => ({ where: `${rel}:${i + 1}`, text }))
}

/**
 * A citation of a docs page in code: `docs/PAGE.md`, optionally followed by the heading it means,
 * as `"Heading"` (part of a heading's text), `§3.8` (a numbered heading) or `#anchor`.
 */
const DOC_CITATION = /docs\/([A-Za-z0-9_-]+\.md)(?:,?\s+"([^"]+)"|\s+§(\d+(?:\.\d+)*)|#([\w-]+))?/g

/** What is wrong with one citation, or undefined when the page and its heading exist. */
function citationProblem(page: string, heading?: string, section?: string, anchor?: string) {
  const path = join(ROOT, 'docs', page)
  if (!existsSync(path)) return `docs/${page} does not exist`
  const text = readFileSync(path, 'utf8')
  if (heading !== undefined && !headings(text).some((h) => h.includes(heading)))
    return `docs/${page} has no heading containing "${heading}"`
  if (
    section !== undefined &&
    !headings(text).some((h) => h.startsWith(`${section}.`) || h.startsWith(`${section} `))
  )
    return `docs/${page} has no section §${section}`
  if (anchor !== undefined && !anchors(text).has(anchor)) return `docs/${page} has no heading #${anchor}`
  return undefined
}

describe('docs', () => {
  it('nothing cites the contract file outside the repository: docs/ holds it', () => {
    const files = [...sourceFiles('src'), ...sourceFiles('bench'), ...markdownFiles]
    expect(files.length).to.be.greaterThan(50)
    const hits = files.flatMap((f) =>
      numbered(f)
        .filter((l) => CONTRACT_CITATION.test(l.text))
        .map((l) => `${l.where}: ${l.text.trim()}`),
    )
    expect(hits, 'cite a page of docs/ instead').to.deep.equal([])
  })

  it('every docs/ page (and heading) cited in src/, test/ and bench/ exists', () => {
    const problems: string[] = []
    let citations = 0
    for (const f of [...sourceFiles('src'), ...sourceFiles('test'), ...sourceFiles('bench')]) {
      for (const { where, text } of numbered(f)) {
        for (const m of text.matchAll(DOC_CITATION)) {
          // this file's own examples of the forms are not citations
          if (f === 'test/unit/docs.spec.ts' && m[1] === 'PAGE.md') continue
          citations++
          const problem = citationProblem(m[1] as string, m[2], m[3], m[4])
          if (problem !== undefined) problems.push(`${where}: ${problem}`)
        }
      }
    }
    expect(citations).to.be.greaterThan(10)
    expect(problems).to.deep.equal([])
  })

  it('every relative link in docs/, README.md and CONTRIBUTING.md resolves, anchor included', () => {
    const problems: string[] = []
    for (const f of markdownFiles) {
      const text = read(f).replace(/^\s*```[\s\S]*?^\s*```/gm, '')
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1] as string
        if (/^[a-z]+:/i.test(link)) continue
        const [target = '', anchor] = link.split('#')
        const file = target === '' ? join(ROOT, f) : resolve(dirname(join(ROOT, f)), target)
        const shown = target === '' ? f : relative(ROOT, file)
        if (!existsSync(file)) {
          problems.push(`${f}: ${link}: ${shown} does not exist`)
          continue
        }
        if (anchor !== undefined && file.endsWith('.md') && !anchors(readFileSync(file, 'utf8')).has(anchor))
          problems.push(`${f}: ${link}: ${shown} has no heading #${anchor}`)
      }
    }
    expect(problems).to.deep.equal([])
  })

  it('the anchor of a heading is GitHub’s', () => {
    expect(headingAnchor('`pbft start`')).to.equal('pbft-start')
    expect(headingAnchor('Flags override config.json')).to.equal('flags-override-configjson')
    expect(headingAnchor('Rules → code → tests')).to.equal('rules--code--tests')
    expect(headingAnchor('3.8 WAL records (local, never on the wire)')).to.equal(
      '38-wal-records-local-never-on-the-wire',
    )
  })
})
