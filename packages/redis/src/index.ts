import { Cluster, Redis } from 'ioredis'
import type { EventEmitter } from 'node:events'
import { validateConnection, validateOptions, type RedisConnection, type RedisStoresOptions } from './options.js'
import { Health, Keys, timed, type Client, type HealthEvents } from './redis.js'
import { RedisWindowCounter } from './counters.js'
import { RedisSessionRegistry } from './registry.js'
import { RedisRevocationStore } from './revocations.js'
import { RedisReplayStore } from './replays.js'
import { RedisTicketStore } from './tickets.js'

export type { RedisConnection, RedisStoresOptions, StoreLogger } from './options.js'
export type { HealthEvents } from './redis.js'
export {
  DEFAULT_KEY_PREFIX, DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_HEARTBEAT_MS, DEFAULT_HEARTBEAT_TTL_MS, DEFAULT_STREAM_MAX_LEN,
  DEFAULT_BLOCK_MS, DEFAULT_MAX_COUNTER_KEYS, DEFAULT_MAX_REVOCATION_RECORDS
} from './options.js'
export { RedisSessionRegistry, REGISTRY_WRITE_DELAY_MS, REGISTRY_MAX_BATCH_WRITES, KEYS_OUTLIVE_LISTING_MS } from './registry.js'
export { RedisRevocationStore } from './revocations.js'
export { RedisReplayStore } from './replays.js'
export { RedisTicketStore } from './tickets.js'

export { RedisWindowCounter, MAX_RAW_COUNTER_KEY, MAX_PENDING_COUNTS } from './counters.js'

/**
 * What `redisStores()` returns: pass `registry` and `revocations` to session-expiry, `counters` to telemetry, `revocations` and
 * `replays` to back-channel logout, `tickets` to auth-handshake's `tickets.store`.
 */
export interface RedisStores {
  /** the session registry across instances (`SessionRegistry`, with `count()` for `maxSessionsPerPrincipal`) */
  readonly registry: RedisSessionRegistry
  /** revocations on a Redis stream, checked from a local mirror (`RevocationStore`) */
  readonly revocations: RedisRevocationStore
  /** ids used once across instances, e.g. back-channel logout `jti`s (`ReplayStore`); always fail-closed */
  readonly replays: RedisReplayStore
  /** one-time tickets any instance can consume once (`TicketStore`, auth-handshake's `tickets.store`); always fail-closed */
  readonly tickets: RedisTicketStore
  /** window counters for telemetry's storm gates and failure-spike detector (`WindowCounter`) */
  readonly counters: RedisWindowCounter
  /** `unavailable` once per outage, `recovered` at its end: count them (telemetry, a metric) */
  readonly events: EventEmitter<HealthEvents>
  /** whether Redis answers and the revocation mirror is current */
  readonly available: boolean
  /**
   * resolves once the revocations kept in Redis are loaded and the command connection is
   * ready (await it before listening: until then counts, tickets and registry writes fail);
   * rejects if the command connection has ended, or ends meanwhile
   */
  ready(): Promise<void>
  /** stops the heartbeat, removes this instance's sessions from Redis, closes the connections it opened */
  close(): Promise<void>
}

const ENDED = 'redis: the command connection has ended (ioredis status "end": quit, disconnected, or its retryStrategy gave up); ready() cannot resolve'

/**
 * Resolves when `client` can take commands: at once if it can, else at its next 'ready'.
 * Rejects when it has ended, or ends while waited for: an ended client never comes back by
 * itself, and a `ready()` that waited for it would hang the app's start.
 */
function commandsReady (client: Client): Promise<void> {
  if (client.status === 'ready') return Promise.resolve()
  if (client.status === 'end') return Promise.reject(new Error(ENDED))
  return new Promise((resolve, reject) => {
    const onReady = (): void => { client.off('end', onEnd); resolve() }
    const onEnd = (): void => { client.off('ready', onReady); reject(new Error(ENDED)) }
    client.once('ready', onReady)
    client.once('end', onEnd)
  })
}

function ignore (): void {}

function readerOf (client: Client): Client {
  // An XREAD in flight when the connection drops fails at once (not re-sent), so the store
  // knows its mirror is stale and catches up when the connection is back.
  if (client instanceof Cluster) return client.duplicate()
  return client.duplicate({ autoResendUnfulfilledCommands: false, maxRetriesPerRequest: null })
}

/**
 * Session registry, revocation store and window counters on Redis (standalone, Sentinel or
 * Cluster, through ioredis), for session-expiry and telemetry on many instances. Options are checked here, with messages
 * naming the option.
 */
export function redisStores (connection: RedisConnection, opts?: RedisStoresOptions): RedisStores {
  const conn = validateConnection(connection)
  const config = validateOptions(opts)
  const owned = 'url' in conn
  const client: Client = 'url' in conn ? new Redis(conn.url) : conn.client
  const reader = readerOf(client)
  // The connections made here are reported through `health` (log line, `unavailable` event);
  // without a listener ioredis would also print each connection error to stderr.
  reader.on('error', ignore)
  if (owned) client.on('error', ignore)
  const keys = new Keys(config.keyPrefix)
  const health = new Health(['commands', 'mirror'], config.logger, config.failOpen)
  const revocations = new RedisRevocationStore(client, reader, keys, config, health)
  const registry = new RedisSessionRegistry(client, keys, config, health)
  const counters = new RedisWindowCounter(client, keys, config, health)
  const onClose = (): void => { health.down('commands', 'the command connection closed') }
  const onReady = (): void => { registry.heartbeat() }
  client.on('close', onClose)
  client.on('ready', onReady)
  let closing: Promise<void> | undefined
  let waiting: Promise<void> | undefined
  return {
    registry,
    revocations,
    replays: new RedisReplayStore(client, keys, config),
    tickets: new RedisTicketStore(client, keys, config),
    counters,
    events: health,
    get available () { return health.available },
    ready: () => {
      // One wait however often it is called (a readiness probe during an outage): no listener pile-up.
      waiting ??= commandsReady(client).finally(() => { waiting = undefined })
      return Promise.all([revocations.loaded(), waiting]).then(() => undefined)
    },
    close: () => {
      closing ??= (async () => {
        await registry.close()
        client.off('close', onClose)
        client.off('ready', onReady)
        await revocations.close()
        if (owned) await timed(client.quit(), config.commandTimeoutMs, 'quit').catch(() => { client.disconnect() })
      })()
      return closing
    }
  }
}
