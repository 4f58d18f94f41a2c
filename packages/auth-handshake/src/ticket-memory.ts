import { invalidOption, isClock, systemClock, type Clock, type TicketRecord, type TicketStore } from '@wsguard/core'

export const DEFAULT_TICKET_MAX_ENTRIES = 10_000

export interface MemoryTicketStoreOptions {
  /** tickets waiting at most; issuing one more (none expired) throws, so the request gets 503. Default 10_000 */
  maxEntries?: number
  /** time source deciding which tickets have expired. Default `Date.now` */
  clock?: Clock
}

/**
 * The default ticket store: this process's memory, bounded. When `maxEntries` tickets are
 * waiting, issuing another sweeps the expired ones, and throws if none has (the ticket
 * request is answered 503): it never grows without bound. Consuming removes the record, so a
 * ticket is used once. Instances that share nothing each know only their own tickets: use
 * `@wsguard/redis`'s `stores.tickets` behind a load balancer.
 */
export class MemoryTicketStore implements TicketStore {
  readonly #records = new Map<string, TicketRecord>()
  readonly #max: number
  readonly #clock: Clock
  /** no ticket expires before this: a full store is swept only once one can have expired */
  #earliest = Number.POSITIVE_INFINITY

  constructor (opts: MemoryTicketStoreOptions = {}) {
    const { maxEntries = DEFAULT_TICKET_MAX_ENTRIES, clock = systemClock } = opts
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw invalidOption('MemoryTicketStore: opts.maxEntries must be an integer, 1 or more')
    if (!isClock(clock)) throw invalidOption('MemoryTicketStore: opts.clock must be an object with a now() method')
    this.#max = maxEntries
    this.#clock = clock
  }

  issue (id: string, record: TicketRecord, ttlMs: number): void {
    const now = this.#clock.now()
    if (this.#records.size >= this.#max) {
      if (now >= this.#earliest) this.#sweep(now)
      if (this.#records.size >= this.#max) throw new Error(`MemoryTicketStore: ${this.#max} tickets waiting (maxEntries); refusing to issue another`)
    }
    // The record's own expiry, or the TTL if that comes first: the store never keeps one longer.
    const expiresAt = Math.min(record.expiresAt, now + ttlMs)
    this.#records.set(id, { ...record, expiresAt })
    if (expiresAt < this.#earliest) this.#earliest = expiresAt
  }

  /** The record, removed: an expired one too (the handshake refuses it, saying why). */
  consume (id: string): TicketRecord | undefined {
    const record = this.#records.get(id)
    this.#records.delete(id)
    return record
  }

  #sweep (now: number): void {
    let earliest = Number.POSITIVE_INFINITY
    for (const [id, r] of this.#records) {
      if (r.expiresAt <= now) this.#records.delete(id)
      else if (r.expiresAt < earliest) earliest = r.expiresAt
    }
    this.#earliest = earliest
  }

  /** tickets held, expired ones included until a sweep */
  get size (): number { return this.#records.size }
}
