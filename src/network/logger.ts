/**
 * The logging surface the network layer needs. pino's Logger satisfies it; the network never
 * imports node/ (layering), so it takes this structural type instead.
 */
export interface NetworkLogger {
  debug(obj: unknown, msg?: string): void
  info(obj: unknown, msg?: string): void
  warn(obj: unknown, msg?: string): void
  error(obj: unknown, msg?: string): void
}

const noop = (): void => {}

export const silentNetworkLogger: NetworkLogger = { debug: noop, info: noop, warn: noop, error: noop }
