/**
 * Calls each of `listeners` with `value`, in order. One that throws has its error thrown again
 * on the next tick (as `diagnostics_channel` does), after the others: a listener is app code,
 * and the work it is told from (a revocation being recorded, a store's read loop) must not stop
 * on its bug. For listeners of no request, which have no request logger to report to.
 */
export function callEach<T> (listeners: Iterable<(value: T) => void>, value: T): void {
  for (const listener of listeners) {
    try {
      listener(value)
    } catch (err) {
      process.nextTick(() => { throw err })
    }
  }
}
