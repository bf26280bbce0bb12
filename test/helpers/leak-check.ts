/**
 * Mocha root hook (registered by "require" in .mocharc.json). Mocha runs without --exit, so once the
 * last test is done the process ends by itself — unless a test left something running: a server, a
 * socket, a child process, an interval, a libp2p node, a LevelDB handle. Rather than let such a run
 * hang, this arms an unref'd timer after the last test (it cannot keep the process alive itself):
 * if the process is still there PBFT_LEAK_CHECK_MS later (default 10 s), it prints what keeps it
 * alive and exits with status 1.
 */
import type { ChildProcess } from 'node:child_process'
import type { Server, Socket } from 'node:net'

const GRACE_MS = Number(process.env.PBFT_LEAK_CHECK_MS ?? 10_000)

export const mochaHooks = {
  afterAll(): void {
    setTimeout(() => {
      console.error(
        `\nleak check: the test process is still running ${GRACE_MS} ms after the last test; ` +
          `something a test started was not stopped. Active: ${activeResources()}\n${handleDetails()}`,
      )
      // mocha's own 'exit' listener sets the exit code to the number of failures; this one runs
      // after it, so a run that only leaked still fails
      process.on('exit', () => {
        process.exitCode = Math.max(Number(process.exitCode ?? 0), 1)
      })
      process.exit(1)
    }, GRACE_MS).unref()
  },
}

/** Counts of the resources keeping the event loop alive, e.g. "TCPSocketWrap x2, Timeout x1". */
function activeResources(): string {
  const counts = new Map<string, number>()
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1)
  return [...counts].map(([r, n]) => `${r} x${n}`).join(', ') || '(nothing reported)'
}

/** A line per live handle with what identifies it: addresses of sockets and servers, child commands. */
function handleDetails(): string {
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? []
  return handles
    .map((h) => {
      const name = (h as object).constructor?.name ?? typeof h
      if (name === 'Socket') {
        const s = h as Socket
        if (s === process.stdout || s === process.stderr || s === process.stdin) return undefined
        return `  Socket ${s.localAddress}:${s.localPort} -> ${s.remoteAddress}:${s.remotePort}`
      }
      if (name === 'Server') return `  Server ${JSON.stringify((h as Server).address())}`
      if (name === 'ChildProcess') {
        const c = h as ChildProcess
        return `  ChildProcess pid ${c.pid}: ${c.spawnargs.join(' ').slice(0, 200)}`
      }
      return `  ${name}`
    })
    .filter((line) => line !== undefined)
    .join('\n')
}
