import type { TicketRecord, TicketStore } from '@wsguard/core'
import type { RedisStoresConfig } from './options.js'
import { timed, type Client, type Keys } from './redis.js'

// A ticket id is a base64url SHA-256 (43 characters); anything else is a caller's mistake.
const ID = /^[A-Za-z0-9_-]{1,128}$/

function checkId (id: unknown): asserts id is string {
  if (typeof id !== 'string' || !ID.test(id)) throw new TypeError('@wsguard/redis tickets: an id is 1 to 128 base64url characters')
}

/**
 * One-time tickets shared by every instance (auth-handshake's `tickets.store`): one key per
 * ticket digest, `SET key record PX ttl NX` to issue, `GETDEL` to consume, so of any number
 * of instances consuming one ticket exactly one gets its record. The TTL is relative (PX), on
 * this host's clock. Always fail-closed, whatever `onUnavailable` says: a command Redis has
 * not answered within `commandTimeoutMs` rejects (the ticket request or the handshake answers
 * 503). A consume that timed out may still be applied later: the ticket is then used up,
 * never used twice.
 */
export class RedisTicketStore implements TicketStore {
  readonly #client: Client
  readonly #keys: Keys
  readonly #timeoutMs: number

  constructor (client: Client, keys: Keys, config: RedisStoresConfig) {
    this.#client = client
    this.#keys = keys
    this.#timeoutMs = config.commandTimeoutMs
  }

  async issue (id: string, record: TicketRecord, ttlMs: number): Promise<void> {
    checkId(id)
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new TypeError('@wsguard/redis tickets: ttlMs is a whole number of ms, 1 or more')
    const set = await timed(this.#client.set(this.#keys.ticket(id), JSON.stringify(record), 'PX', ttlMs, 'NX'), this.#timeoutMs, 'ticket issue')
    // 256 random bits do not collide: a key already there is a caller issuing one id twice.
    if (set !== 'OK') throw new Error('@wsguard/redis tickets: a ticket with this id is already waiting')
  }

  async consume (id: string): Promise<TicketRecord | undefined> {
    checkId(id)
    const value = await timed(this.#client.getdel(this.#keys.ticket(id)), this.#timeoutMs, 'ticket consume')
    if (value === null) return undefined
    const record = JSON.parse(value) as unknown
    if (typeof record !== 'object' || record === null) throw new Error('@wsguard/redis tickets: the stored record is not an object')
    return record as TicketRecord
  }
}
