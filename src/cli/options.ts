import { InvalidArgumentError } from 'commander'
import { chainIdProblem } from '../chain/genesis.js'

/** A commander parser for an integer option within [min, max]. */
export function intOption(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`Expected an integer >= ${min}.`)
    const n = Number(value)
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`Expected an integer from ${min} to ${max}.`)
    }
    return n
  }
}

export function chainIdOption(value: string): string {
  const problem = chainIdProblem(value)
  if (problem !== undefined) throw new InvalidArgumentError(`A chain id ${problem}.`)
  return value
}

/** Splits a comma-separated list; an empty value gives [] (e.g. --bootstrap '' clears the list). */
export function listOption(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}
