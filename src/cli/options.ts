import { homedir } from 'node:os'
import { join } from 'node:path'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { chainIdProblem } from '../chain/genesis.js'

/** `--rpc` without a flag or PBFT_RPC: the default rpc.laddr of a home (docs/HOME.md "rpc"). */
export const DEFAULT_RPC_URL = 'http://127.0.0.1:26657'

/** `--home` without a flag or PBFT_HOME: ~/.pbft. */
export function defaultHome(): string {
  return join(homedir(), '.pbft')
}

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

/** A boolean flag's optional value: `--mdns` alone is true, `--mdns false` (or PBFT_MDNS=0) is false. */
export function booleanOption(value: string): boolean {
  const v = value.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(v)) return true
  if (['false', '0', 'no', 'off'].includes(v)) return false
  throw new InvalidArgumentError('Expected true or false.')
}

/** A 32-byte value (a tx hash, an account address) as hex, 0x optional; returned as lowercase 0x-hex. */
export function bytes32Option(what: string): (value: string) => string {
  return (value) => {
    if (!/^(0[xX])?[0-9a-fA-F]{64}$/.test(value))
      throw new InvalidArgumentError(`${what} must be 32 bytes as hex (64 hex digits, 0x optional).`)
    return `0x${value.replace(/^0[xX]/, '').toLowerCase()}`
  }
}

/** An http(s) URL of a node's JSON-RPC server. */
export function rpcUrlOption(value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InvalidArgumentError('Expected an http(s) URL such as http://127.0.0.1:26657.')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('Expected an http(s) URL such as http://127.0.0.1:26657.')
  return value
}

/** `--home DIR`: ~/.pbft unless the flag or PBFT_HOME says otherwise. */
export function addHomeOption(cmd: Command, description = 'the node home'): Command {
  return cmd.addOption(
    new Option('--home <dir>', description).env('PBFT_HOME').default(defaultHome(), '~/.pbft'),
  )
}

/** `--rpc URL`: a node's JSON-RPC URL, http://127.0.0.1:26657 unless the flag or PBFT_RPC says otherwise. */
export function addRpcOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--rpc <url>', "a node's JSON-RPC URL")
      .env('PBFT_RPC')
      .default(DEFAULT_RPC_URL)
      .argParser(rpcUrlOption),
  )
}
