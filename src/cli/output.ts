/**
 * `--output json|text` (docs/CLI.md "Output"): JSON for scripts — the RPC result as it is, one
 * document — and text for people. Without the flag a terminal gets text, a pipe or file JSON.
 * The helpers below lay out that text: aligned fields and tables, one line per row.
 */
import { type Command, Option } from 'commander'
import type { CliContext, CliIo } from './io.js'

export type OutputFormat = 'json' | 'text'

interface OutputOptions {
  output?: OutputFormat
  json?: boolean
}

/** Adds `--output json|text` (and, where the command had it first, `--json` as its shorthand). */
export function addOutputOption(cmd: Command, opts: { json?: boolean; description?: string } = {}): Command {
  const description =
    opts.description ?? 'json for scripts, text for people (default: text in a terminal, else json)'
  cmd.addOption(new Option('--output <format>', description).choices(['json', 'text']))
  if (opts.json === true) cmd.option('--json', 'the same as --output json')
  return cmd
}

export function outputFormat(opts: OutputOptions, io: CliIo): OutputFormat {
  if (opts.output !== undefined) return opts.output
  if (opts.json === true) return 'json'
  return io.isTTY === true ? 'text' : 'json'
}

/** Prints one result: `json` as one indented JSON document, or the text `text()` lays out. */
export function printResult(ctx: CliContext, opts: OutputOptions, json: unknown, text: () => string): void {
  if (outputFormat(opts, ctx.io) === 'json') ctx.io.out(`${JSON.stringify(json, null, 2)}\n`)
  else ctx.io.out(text().replace(/\n*$/, '\n'))
}

/** Control characters escaped and long strings cut, so a user's key or value stays on its row. */
export function printable(s: string, max = Number.POSITIVE_INFINITY): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what is escaped
  const safe = s.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1))
  return safe.length > max ? `${safe.slice(0, Math.max(0, max - 1))}…` : safe
}

/** 0x1234abcd…ef01: a hash or key short enough for a table column. */
export function shortHex(hex: string): string {
  return hex.length > 18 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex
}

/** Milliseconds since the epoch as an ISO time. */
export function isoTime(ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString()
}

/** `label  value` lines with the values aligned. */
export function fields(rows: readonly (readonly [string, string | number])[]): string {
  const width = Math.max(0, ...rows.map(([label]) => label.length))
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`.trimEnd()).join('\n')
}

/** A table with a header row, columns aligned; `(none)` for no rows. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  if (rows.length === 0) return '(none)'
  const cells = [header, ...rows].map((r) => r.map(String))
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}
