import type { FastifyBaseLogger } from 'fastify'
import type { Counter } from 'prom-client'
import { asNativePromise, type TimerClock, type WindowCounter, type WindowCounts } from '@wsguard/core'

/** What counts with a store: a storm gate, or the failure-spike detector. */
export type StoreUse = 'ip' | 'principal' | 'failure-spike'
/** What was decided without the store: the handshake refused (503), or decided from this process's counts. */
export type StoreDecision = 'refused' | 'local'

/**
 * A store's answer as its caller gets it: the counts; `undefined` when the store let the
 * caller decide (fail-open); an `Error` when it threw, rejected, answered something that is
 * not counts, or gave no answer within `storeTimeoutMs` (fail-closed).
 */
export type StoreAnswer = WindowCounts | undefined | Error

export interface StoreContext {
  readonly clock: TimerClock
  /**
   * Asks `store` to count: its answer as is when it answers synchronously, else a promise of
   * it that never rejects (a rejection or no answer within the timeout is an `Error` answer).
   */
  ask(store: WindowCounter, key: string, windowMs: number, amount: number): StoreAnswer | Promise<StoreAnswer>
  /** Logs what failed while acting on an answer that came late (a promise's `catch`). */
  lateError(err: unknown): void
  /** Counts a decision made without the store (metric), and logs once per outage. */
  failed(store: WindowCounter, use: StoreUse, decision: StoreDecision, err?: unknown): void
  /** The store answered: the end of an outage is logged once. */
  answered(store: WindowCounter): void
}

const SOURCE = '@wsguard/telemetry'

function isCounts (value: unknown): value is WindowCounts {
  const c = value as Record<string, unknown> | null
  return typeof c === 'object' && c !== null &&
    [c.current, c.previous, c.start, c.elapsedMs].every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0)
}

function asError (err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

function asAnswer (value: unknown): StoreAnswer {
  if (value === undefined || isCounts(value)) return value
  return new Error('the counter store answered something that is not counts')
}

/**
 * How telemetry talks to a counter store: every question bounded by `timeoutMs` on the
 * telemetry clock (a store that hangs cannot hold a handshake), every decision taken without
 * the store counted in `metric`, and each outage logged once, at `warn`, with its end at `info`.
 */
export function storeContext (clock: TimerClock, timeoutMs: number, log: FastifyBaseLogger, metric: Counter<'use' | 'decision'> | undefined): StoreContext {
  const failing = new Set<WindowCounter>()
  return {
    clock,
    ask (store, key, windowMs, amount) {
      let answer: ReturnType<WindowCounter['hit']>
      try {
        answer = asNativePromise(store.hit(key, windowMs, clock.now(), amount))
      } catch (err) {
        return asError(err)
      }
      if (!(answer instanceof Promise)) return asAnswer(answer)
      const pending = answer
      return new Promise<StoreAnswer>((resolve) => {
        const timer = clock.setTimer(() => { resolve(new Error(`the counter store gave no answer within ${timeoutMs} ms`)) }, timeoutMs)
        pending.then(asAnswer, asError).then((a) => {
          clock.clearTimer(timer)
          resolve(a)
        })
      })
    },
    lateError (err) {
      log.error({ err }, `${SOURCE}: acting on the counter store's answer failed`)
    },
    failed (store, use, decision, err) {
      metric?.inc({ use, decision })
      if (failing.has(store)) return
      failing.add(store)
      const what = decision === 'refused'
        ? 'storm gates refuse handshakes (503 WSG_UNAVAILABLE) until it answers'
        : "deciding from this process's own counts until it answers"
      log.warn({ ...(err !== undefined ? { err } : {}), use }, `${SOURCE}: the counter store cannot answer; ${what}`)
    },
    answered (store) {
      if (failing.delete(store)) log.info(`${SOURCE}: the counter store answers again`)
    }
  }
}
