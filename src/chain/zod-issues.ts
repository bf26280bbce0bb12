/** Messages for zod issues in hand-edited JSON files (genesis.json, config.json). */

/** Plainer words than zod's defaults for the two commonest mistakes in a hand-edited file. */
export function zodMessage(issue: {
  code?: string
  input?: unknown
  keys?: readonly string[]
}): string | undefined {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'required field is missing'
  if (issue.code === 'unrecognized_keys' && issue.keys !== undefined) {
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`
  }
  return undefined
}

export function issuePath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`
  return out
}
