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
          ignore: 'pid,hostname',
          singleLine: true,
        },
      },
    })
  }
  return pino({ level, name: opts.name, base: undefined })
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
