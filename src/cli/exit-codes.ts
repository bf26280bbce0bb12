/**
 * The exit codes of `pbft` (docs/CLI.md "Exit status") and one error class per kind. Commands throw
 * these (or errors that exitCodeOf maps to them); runCli prints the one `error:` line and returns
 * the code. Scripts rely on the numbers: never renumber one.
 */
import { CommanderError } from 'commander'
import { FlagError } from '../node/config.js'
import { RpcClientError } from '../rpc/client.js'
import { RpcErrorCode } from '../rpc/errors.js'

export const ExitCode = {
  /** success; also --help and --version */
  OK: 0,
  /** any other failure: a file that cannot be read or written, a bad home or config.json, a certificate that does not verify, a node that fails to start */
  FAILURE: 1,
  /** the command line is wrong: unknown command or flag, a missing or malformed argument */
  USAGE: 2,
  /** no node answers at the RPC URL: connection refused, host not found, connect timeout */
  UNREACHABLE: 3,
  /** the node answered with a JSON-RPC error: a rejected tx, a block or tx that does not exist */
  REJECTED: 4,
  /** a deadline passed: `tx send --wait` not final in time, or a node that stopped answering */
  TIMEOUT: 5,
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** A failure a command reports as one `error: <message>` line; exit code 1 unless a subclass says otherwise. */
export class CliError extends Error {
  override name = 'CliError'
  readonly exitCode: ExitCode = ExitCode.FAILURE
}

/** The invocation is wrong (a malformed hash, a bad op, a flag value out of range): exit 2. */
export class UsageError extends CliError {
  override name = 'UsageError'
  override readonly exitCode = ExitCode.USAGE
}

/** No node could be reached at the RPC URL: exit 3. */
export class UnreachableError extends CliError {
  override name = 'UnreachableError'
  override readonly exitCode = ExitCode.UNREACHABLE
}

/** The node refused the request with a JSON-RPC error; `rpcCode` is its code (docs/RPC.md "Error codes"): exit 4. */
export class RejectedError extends CliError {
  override name = 'RejectedError'
  override readonly exitCode = ExitCode.REJECTED
  constructor(
    message: string,
    readonly rpcCode: number | null = null,
  ) {
    super(message)
  }
}

/** A deadline passed before the answer came: exit 5. */
export class DeadlineError extends CliError {
  override name = 'DeadlineError'
  override readonly exitCode = ExitCode.TIMEOUT
}

/** The CliError an RPC client failure stands for. */
function fromRpcClientError(err: RpcClientError): CliError {
  switch (err.kind) {
    case 'rpc':
      // The node's own TIMEOUT (broadcast_tx_commit's deadline) is a timeout, not a refusal.
      return err.code === RpcErrorCode.TIMEOUT
        ? new DeadlineError(`${err.message}; the tx may still become final (check with pbft tx get)`)
        : new RejectedError(err.message, err.code)
    case 'timeout':
      return new DeadlineError(err.message)
    case 'url':
      return new UsageError(err.message)
    default:
      // transport, http, protocol: nothing that speaks our JSON-RPC answered at that URL.
      return new UnreachableError(err.message)
  }
}

/** Maps any error a command lets escape to the CliError (and so the exit code) it stands for. */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err
  if (err instanceof RpcClientError) return fromRpcClientError(err)
  const message = err instanceof Error ? err.message : String(err)
  // Commander's own errors (unknown option, missing argument, invalid value) and bad flag values.
  if (err instanceof CommanderError || err instanceof FlagError) return new UsageError(message)
  const out = new CliError(message)
  if (err instanceof Error && err.stack !== undefined) out.stack = err.stack
  return out
}

/** The exit code for an error a command let escape. */
export function exitCodeOf(err: unknown): ExitCode {
  return toCliError(err).exitCode
}
