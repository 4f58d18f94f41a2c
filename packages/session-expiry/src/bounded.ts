import { asNativePromise, type TimerClock } from '@wsguard/core'

/**
 * A store's answer, or a rejection once `ms` have passed without one: a check that cannot
 * answer in time denies, like one that fails. An answer given synchronously is returned as is.
 */
export function bounded<T> (given: T | Promise<T>, clock: TimerClock, ms: number, what: string): T | Promise<T> {
  const answer = asNativePromise(given)
  if (!(answer instanceof Promise)) return answer
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimer(() => { reject(new Error(`${what} gave no answer within ${ms} ms`)) }, ms)
    answer.then(
      (value) => { clock.clearTimer(timer); resolve(value) },
      (err: unknown) => { clock.clearTimer(timer); reject(err) }
    )
  })
}
