/**
 * A few DOM helpers for the explorer's pages. Text always goes in as text nodes, never as HTML: keys,
 * values and chain ids are anyone's strings, and none of them may become markup.
 */

type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | undefined>

/** An element with attributes (undefined ones left out) and children (strings become text). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) el.setAttribute(name, value)
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    el.append(typeof child === 'number' ? String(child) : child)
  }
  return el
}

/** A link to a route of the explorer (#/…). */
export function link(route: string, text: Child, cls?: string): HTMLAnchorElement {
  return h('a', { href: `#${route}`, class: cls }, text)
}

/** A hex string cut to its start and end, the whole of it in the tooltip. */
export function short(hex: string, keep = 10): string {
  return hex.length <= 2 * keep + 3 ? hex : `${hex.slice(0, keep)}…${hex.slice(-6)}`
}

export function mono(text: string, title?: string): HTMLElement {
  return h('span', { class: 'mono', title }, text)
}

/** A definition list: label, value. */
export function fields(rows: [string, Child | Child[]][]): HTMLDListElement {
  return h(
    'dl',
    { class: 'fields' },
    rows.flatMap(([label, value]) => [
      h('dt', {}, label),
      h('dd', {}, ...(Array.isArray(value) ? value : [value])),
    ]),
  )
}

/** A table with a header row; `rowAttrs` marks rows (e.g. the ones just arrived). */
export function table(
  head: string[],
  rows: (Child | Child[])[][],
  rowAttrs?: (i: number) => Attrs,
): HTMLTableElement {
  return h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        head.map((c) => h('th', {}, c)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((row, i) =>
        h(
          'tr',
          rowAttrs?.(i) ?? {},
          row.map((c) => h('td', {}, ...(Array.isArray(c) ? c : [c]))),
        ),
      ),
    ),
  )
}

export function stat(label: string, value: Child | Child[], testId?: string): HTMLElement {
  return h(
    'div',
    { class: 'stat' },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value', 'data-test': testId }, value),
  )
}

/** Printable text of a key or value: control characters shown as \xNN, long text cut. */
export function printable(text: string, max = 64): string {
  let shown = ''
  for (const c of text) {
    const code = c.charCodeAt(0)
    shown += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : c
  }
  return shown.length > max ? `${shown.slice(0, max)}…` : shown
}

/** "3 s ago", "2 min ago" from a timestamp in ms. */
export function age(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86_400)} d ago`
}

/** An age that stays current: app.ts redraws every [data-age-of] element once a second. */
export function liveAge(ms: number, testId?: string): HTMLElement {
  return h('span', { 'data-age-of': String(ms), title: isoTime(ms), 'data-test': testId }, age(ms))
}

/** Redraws every live age on the page (see liveAge). */
export function refreshAges(root: ParentNode, now = Date.now()): void {
  for (const el of root.querySelectorAll<HTMLElement>('[data-age-of]')) {
    const text = age(Number(el.dataset.ageOf), now)
    if (el.textContent !== text) el.textContent = text
  }
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString()
}
