import { setTimeout as delay } from 'node:timers/promises'

/**
 * Condition waits: the one way tests wait for something to happen. Poll until it holds; at the
 * deadline fail with an error that says what was awaited. A bare sleep belongs in a test only when
 * the delay is itself part of the scenario ("let the load run for 2 s"), and says so in a comment.
 */
export interface WaitOptions {
  /** Give up after this long (default 10 s). The condition is checked at least once, and once more at the deadline. */
  timeoutMs?: number
  /** Pause between checks (default 20 ms). Poll real processes over RPC more gently (100 ms or more). */
  intervalMs?: number
  /** What is awaited, for the error: "timed out after 10000 ms waiting for <message>". */
  message?: string
}

/** Thrown at the deadline; callers that want a best-effort result can catch exactly this. */
export class WaitTimeoutError extends Error {
  constructor(
    message: string,
    readonly lastError?: unknown,
  ) {
    super(message)
    this.name = 'WaitTimeoutError'
  }
}

const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_INTERVAL_MS = 20

/**
 * Polls `probe` until it returns something other than undefined and resolves with that value. A
 * probe that throws counts as "not yet" (a node still starting refuses its RPC connection); the last
 * error thrown is appended to the timeout message. A probe answering a boolean is a mistake (false
 * would count as a value): that fails at once — a yes/no condition is what waitFor is for.
 */
export function waitForValue<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  opts: WaitOptions = {},
): Promise<T> {
  return poll(async () => {
    const value = await probe()
    if (typeof value === 'boolean') {
      throw new MisuseError(
        `waitForValue: the probe for ${opts.message ?? 'a value'} returned a boolean; use waitFor`,
      )
    }
    return value
  }, opts)
}

/** Polls `condition` until it returns true (see waitForValue for the deadline and thrown errors). */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  opts: WaitOptions = {},
): Promise<void> {
  await poll(async () => ((await condition()) ? true : undefined), opts)
}

/** Not retried: a wrong use of the helper, not a condition that may still come true. */
class MisuseError extends TypeError {}

async function poll<T>(probe: () => Promise<T | undefined>, opts: WaitOptions): Promise<T> {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, intervalMs = DEFAULT_INTERVAL_MS, message = 'a condition' } = opts
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      if (err instanceof MisuseError) throw err
      lastError = err
    }
    const left = deadline - Date.now()
    if (left <= 0) {
      const cause = lastError === undefined ? '' : ` (last error: ${errorText(lastError)})`
      throw new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${message}${cause}`, lastError)
    }
    await delay(Math.min(intervalMs, left))
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
