import { randomUUID } from 'node:crypto'
import type { ReplayStore } from '@wsguard/core'
import type { RedisStoresConfig } from './options.js'
import { Script, timed, type Client, type Keys } from './redis.js'

/** Deletes the key only while it holds this claim's value: never another claim of the same id. */
const RELEASE_IF_MINE = new Script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

const MAX_ID_LENGTH = 256

function checkClaim (id: unknown, until: unknown): void {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) {
    throw new TypeError(`@wsguard/redis replays: an id is a string of 1 to ${MAX_ID_LENGTH} characters`)
  }
  if (typeof until !== 'number' || !Number.isFinite(until)) throw new TypeError('@wsguard/redis replays: until is ms since epoch')
}

/**
 * Ids used once (back-channel logout `jti`s), shared by every instance: one key per id,
 * `SET key value NX PX ttl`, so exactly one instance's claim succeeds and the key expires with
 * the id's `until`. The TTL is relative (PX), counted from this host's clock, so a Redis host
 * whose clock runs ahead does not forget an id early. Always fail-closed, whatever
 * `onUnavailable` says: a claim Redis has not answered within `commandTimeoutMs` rejects (the
 * logout answers 503), and is then undone if Redis applied it after all, so the IdP's retry is
 * no replay.
 */
export class RedisReplayStore implements ReplayStore {
  readonly #client: Client
  readonly #keys: Keys
  readonly #timeoutMs: number

  constructor (client: Client, keys: Keys, config: RedisStoresConfig) {
    this.#client = client
    this.#keys = keys
    this.#timeoutMs = config.commandTimeoutMs
  }

  async claim (id: string, until: number): Promise<boolean> {
    checkClaim(id, until)
    const key = this.#keys.replay(id)
    const mine = randomUUID()
    const ttl = Math.max(1, Math.ceil(until - Date.now()))
    try {
      return await timed(this.#client.set(key, mine, 'PX', ttl, 'NX'), this.#timeoutMs, 'claim') === 'OK'
    } catch (err) {
      // Queued behind the SET on the same connection: if the SET is applied late, this undoes it.
      RELEASE_IF_MINE.run(this.#client, [key], [mine]).catch(() => {})
      throw err
    }
  }

  async release (id: string): Promise<void> {
    checkClaim(id, 0)
    await timed(this.#client.del(this.#keys.replay(id)), this.#timeoutMs, 'release')
  }
}
