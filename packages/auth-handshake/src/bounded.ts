/** The store's answer, or a rejection after `ms`: no request waits on a store for longer. */
export function bounded<T> (run: () => T | Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // Not unref()ed: it belongs to a request in flight, which must get its answer.
    const timer = setTimeout(() => { reject(new Error(`the ${what} gave no answer within ${ms} ms`)) }, ms)
    Promise.resolve().then(run).then(
      (value) => { clearTimeout(timer); resolve(value) },
      (err: unknown) => { clearTimeout(timer); reject(err) }
    )
  })
}
