/**
 * Yields `source`'s items in order while pulling up to `maxWeight` (by `weight`) ahead of the
 * consumer, starting `prepare` on each item as soon as it arrives; an item is yielded once its
 * prepare settled (a failed prepare is ignored: it only saves work). Catch-up uses it to verify the
 * tx signatures of fetched blocks on other threads while the current block is applied.
 */
export async function* readAhead<T>(
  source: AsyncIterable<T>,
  opts: { weight(item: T): number; maxWeight: number; prepare(item: T): Promise<void> },
): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]()
  const queue: { item: T; ready: Promise<void>; weight: number }[] = []
  let queued = 0
  let done = false
  let failure: { err: unknown } | undefined
  let pulling: Promise<void> | undefined
  const pump = (): void => {
    if (pulling !== undefined || done || failure !== undefined) return
    if (queue.length > 0 && queued >= opts.maxWeight) return
    pulling = it.next().then(
      (r) => {
        pulling = undefined
        if (r.done === true) {
          done = true
          return
        }
        const weight = opts.weight(r.value)
        let ready: Promise<void>
        try {
          ready = opts.prepare(r.value).catch(() => {})
        } catch {
          ready = Promise.resolve()
        }
        queue.push({ item: r.value, ready, weight })
        queued += weight
        pump()
      },
      (err: unknown) => {
        pulling = undefined
        failure = { err }
      },
    )
  }
  try {
    for (;;) {
      pump()
      const head = queue[0]
      if (head === undefined) {
        if (failure !== undefined) throw failure.err
        if (done) return
        await pulling
        continue
      }
      await head.ready
      queue.shift()
      queued -= head.weight
      pump()
      yield head.item
    }
  } finally {
    // Stop the source without waiting for a fetch in flight (the source aborts its own requests).
    if (!done)
      void Promise.resolve(pulling)
        .then(() => it.return?.())
        .catch(() => {})
  }
}
