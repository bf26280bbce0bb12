import { basename, resolve } from 'node:path'
import { type Logger, pino } from 'pino'

export type { Logger }

/**
 * Structured logs (pino). In a terminal they are pretty-printed; piped or in CI they stay JSON
 * lines so they can be shipped and grepped (`log.format` auto; json or pretty force one). `name`
 * prefixes every line (e.g. node0).
 */
export function createLogger(
  opts: { level?: string; name?: string; pretty?: boolean; format?: 'auto' | 'json' | 'pretty' } = {},
): Logger {
  const level = opts.level ?? process.env.PBFT_LOG_LEVEL ?? 'info'
  const auto = process.stdout.isTTY === true || process.env.PBFT_LOG_PRETTY === '1'
  const pretty = opts.pretty ?? (opts.format === 'json' ? false : opts.format === 'pretty' ? true : auto)
  if (pretty) {
    return pino({
      level,
      name: opts.name,
      transport: {
        target: 'pino-pretty',
        options: {
          colorize: process.stdout.isTTY === true,
          translateTime: 'HH:MM:ss.l',
          // in a terminal the devnet prefixes each line with its node; JSON lines keep both fields
          ignore: 'pid,hostname,chain_id,node',
          singleLine: true,
        },
      },
    })
  }
  // JSON lines for shipping: ISO-8601 times, errors through pino's serializer (type, message, stack)
  return pino({
    level,
    name: opts.name,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: pino.stdSerializers.err },
  })
}

/**
 * The `node` field of every line: the home folder's name (node0, observer1, …), or `pbft` for a
 * home named like a hidden folder (~/.pbft) — one name per node that also tells devnet homes apart.
 */
export function nodeName(home: string): string {
  const name = basename(resolve(home))
  return name.startsWith('.') ? name.slice(1) || 'pbft' : name
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
