import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Cluster, Redis } from 'ioredis'
import type { StoreLogger } from './options.js'
import { callEach } from '@wsguard/core'

export type Client = Redis | Cluster

/**
 * An error as it may leave this package: its name, message and stack only. ioredis gives every
 * error Redis answers the command it answered, arguments included (`err.command.args`), and
 * rejects the commands queued behind a failed connection with that same error: a `HELLO 3
 * AUTH user password` refused after a password rotation, a ticket's key. A logger's error
 * serializer copies every enumerable property, so none is kept.
 */
export function plainError (err: unknown): Error {
  if (!(err instanceof Error)) return new Error(String(err))
  const plain = new Error(err.message)
  // Not enumerable, as on the error it copies: a serializer adds nothing of its own.
  Object.defineProperty(plain, 'name', { value: err.name, configurable: true, writable: true })
  plain.stack = err.stack
  return plain
}

/** A command's answer, or a rejection once `ms` have passed: no caller waits on Redis longer. */
export function timed<T> (answer: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`redis: ${what} gave no answer within ${ms} ms`)) }, ms)
    timer.unref()
    answer.then(
      (value) => { clearTimeout(timer); resolve(value) },
      (err: unknown) => { clearTimeout(timer); reject(plainError(err)) }
    )
  })
}

/** A Lua script run with EVALSHA, sent whole only when Redis does not have it (NOSCRIPT). */
export class Script {
  readonly #lua: string
  readonly #sha: string

  constructor (lua: string) {
    this.#lua = lua
    this.#sha = createHash('sha1').update(lua).digest('hex')
  }

  async run (client: Client, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await client.evalsha(this.#sha, keys.length, ...keys, ...args)
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
      return await client.eval(this.#lua, keys.length, ...keys, ...args)
    }
  }
}

/** The key names: all under one hash tag, `{prefix}`, so multi-key commands and scripts work on a Cluster. */
export class Keys {
  readonly tag: string
  readonly stream: string
  readonly records: string
  readonly instances: string
  /** the count of revocations appended to the stream: each entry carries its number */
  readonly sequence: string
  /**
   * a hash without a TTL beside the records: `until`, the latest the records key was given
   * (while it is ahead, the key must exist), and `lost`, when a revocation found it gone
   */
  readonly recordsMeta: string
  /** set for a while when an instance found its registry keys lost: other instances' may be gone too */
  readonly registryLost: string

  constructor (prefix: string) {
    this.tag = `{${prefix}}`
    this.stream = `${this.tag}revocations`
    this.records = `${this.tag}revoked`
    this.instances = `${this.tag}instances`
    this.sequence = `${this.tag}revocations:n`
    this.recordsMeta = `${this.tag}revoked:meta`
    this.registryLost = `${this.tag}registry:lost`
  }

  sessions (instance: string): string { return `${this.tag}s:${instance}` }
  counts (instance: string): string { return `${this.tag}c:${instance}` }
  replay (id: string): string { return `${this.tag}replay:${id}` }
  /** a waiting one-time ticket, by its digest */
  ticket (id: string): string { return `${this.tag}ticket:${id}` }
  /** a window counter: its window length, and its key as `counterField` made it */
  counter (windowMs: number, field: string): string { return `${this.tag}n:${windowMs}:${field}` }
  /** the counters of one window length, by their last count */
  counters (windowMs: number): string { return `${this.tag}n:${windowMs}` }
}

/** Compares two stream ids (`ms-seq`). */
export function compareIds (a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number]
  const [bm, bs] = b.split('-').map(Number) as [number, number]
  return am !== bm ? am - bm : as - bs
}

export interface HealthEvents {
  /** Redis became unreachable (or the revocation mirror stale); emitted once per outage */
  unavailable: [{ reason: string, error?: Error }]
  /** Redis answers and the mirror has caught up again, after an outage */
  recovered: [{ downMs: number }]
}

/**
 * Whether the stores can answer from Redis: every part (`commands`, `mirror`) up. An outage
 * is reported (event and log line) once, when the first part goes down after all were up or
 * the stores never came up; its end once, when every part is up again.
 */
export class Health extends EventEmitter<HealthEvents> {
  readonly #down = new Set<string>()
  readonly #logger: StoreLogger | undefined
  readonly #failOpen: boolean
  #since: number | undefined
  #reported = false

  constructor (parts: readonly string[], logger: StoreLogger | undefined, failOpen: boolean) {
    super()
    for (const p of parts) this.#down.add(p)
    this.#since = Date.now()
    this.#logger = logger
    this.#failOpen = failOpen
  }

  get available (): boolean { return this.#down.size === 0 }

  down (part: string, reason: string, failure?: Error): void {
    const error = failure === undefined ? undefined : plainError(failure)
    this.#down.add(part)
    this.#since ??= Date.now()
    if (this.#reported) return
    this.#reported = true
    const mode = this.#failOpen ? 'fail-open: deciding from what this instance knows' : 'fail-closed: refusing new handshakes'
    this.#logger?.warn({ reason, ...(error !== undefined ? { err: error } : {}) }, `@wsguard/redis: Redis unavailable (${mode})`)
    this.#tell('unavailable', { reason, ...(error !== undefined ? { error } : {}) })
  }

  up (part: string): void {
    this.#down.delete(part)
    if (this.#down.size > 0 || this.#since === undefined) return
    const downMs = Date.now() - (this.#since as number)
    this.#since = undefined
    if (!this.#reported) return
    this.#reported = false
    this.#logger?.info({ downMs }, '@wsguard/redis: Redis available again')
    this.#tell('recovered', { downMs })
  }

  /**
   * Tells every listener of `event` (callEach: an error thrown again on the next tick, after
   * the others). It runs inside the stores' own work (the revocation mirror's read loop, a
   * connection's close), which an app's listener must not break off, or the mirror would stop
   * following revocations for good. rawListeners: a once() listener is removed as it is called.
   */
  #tell<K extends keyof HealthEvents> (event: K, payload: HealthEvents[K][0]): void {
    callEach(this.rawListeners(event) as Array<(e: HealthEvents[K][0]) => void>, payload)
  }
}
