// Type tests: compiled by `pnpm typecheck`, never run. Each public option is used once with
// its right type and once, under @ts-expect-error, with a wrong one.
import { Cluster, Redis } from 'ioredis'
import type { ReplayStore, RevocationStore, SessionRegistry, TicketRecord, TicketStore, WindowCounter, WindowCounts } from '@wsguard/core'
import {
  redisStores, DEFAULT_KEY_PREFIX, DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_MAX_COUNTER_KEYS, DEFAULT_MAX_REVOCATION_RECORDS, MAX_RAW_COUNTER_KEY, MAX_PENDING_COUNTS, REGISTRY_WRITE_DELAY_MS, REGISTRY_MAX_BATCH_WRITES, KEYS_OUTLIVE_LISTING_MS, RedisWindowCounter, RedisTicketStore,
  type RedisStores, type RedisStoresOptions, type RedisConnection, type StoreLogger
} from '../src/index.js'

const logger: StoreLogger = { warn: (obj, msg) => { console.warn(obj, msg) }, info: (obj, msg) => { console.info(obj, msg) } }
const options: RedisStoresOptions = {
  keyPrefix: DEFAULT_KEY_PREFIX,
  onUnavailable: 'fail-closed',
  commandTimeoutMs: DEFAULT_COMMAND_TIMEOUT_MS,
  heartbeatMs: 5_000,
  heartbeatTtlMs: 15_000,
  streamMaxLen: 10_000,
  blockMs: 5_000,
  logger,
  instance: 'api-1',
  maxCounterKeys: DEFAULT_MAX_COUNTER_KEYS,
  maxRevocationRecords: DEFAULT_MAX_REVOCATION_RECORDS
}
const byUrl: RedisConnection = { url: 'redis://127.0.0.1:6379' }
const byClient: RedisConnection = { client: new Redis() }
const byCluster: RedisConnection = { client: new Cluster([{ host: '127.0.0.1', port: 7000 }]) }
const bySentinel: RedisConnection = { client: new Redis({ sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'mymaster' }) }

// @ts-expect-error keyPrefix is a string
const badPrefix: RedisStoresOptions = { keyPrefix: 1 }
// @ts-expect-error onUnavailable is one of two words
const badMode: RedisStoresOptions = { onUnavailable: 'closed' }
// @ts-expect-error commandTimeoutMs is a number
const badTimeout: RedisStoresOptions = { commandTimeoutMs: '1s' }
// @ts-expect-error heartbeatMs is a number
const badHeartbeat: RedisStoresOptions = { heartbeatMs: '5s' }
// @ts-expect-error heartbeatTtlMs is a number
const badTtl: RedisStoresOptions = { heartbeatTtlMs: '15s' }
// @ts-expect-error streamMaxLen is a number
const badLen: RedisStoresOptions = { streamMaxLen: '10k' }
// @ts-expect-error blockMs is a number
const badBlock: RedisStoresOptions = { blockMs: true }
// @ts-expect-error logger needs warn and info
const badLogger: RedisStoresOptions = { logger: { warn: () => {} } }
// @ts-expect-error maxRevocationRecords is a number
const badMaxRecords: RedisStoresOptions = { maxRevocationRecords: '100k' }
// @ts-expect-error maxCounterKeys is a number
const badMaxKeys: RedisStoresOptions = { maxCounterKeys: '100k' }
// @ts-expect-error instance is a string
const badInstance: RedisStoresOptions = { instance: 7 }
// @ts-expect-error a connection is { url } or { client }
const badConnection: RedisConnection = { host: 'localhost' }

const stores: RedisStores = redisStores(byUrl, options)
const registry: SessionRegistry = stores.registry
const revocations: RevocationStore = stores.revocations
const replays: ReplayStore = stores.replays
// One-time tickets: auth-handshake's tickets.store.
const tickets: TicketStore = stores.tickets
const concreteTickets: RedisTicketStore = stores.tickets
const consumed: Promise<TicketRecord | undefined> = stores.tickets.consume('digest')
// @ts-expect-error the TTL is a number of ms
await stores.tickets.issue('digest', {} as TicketRecord, '30s')
const first: Promise<boolean> = stores.replays.claim('bcl:id', Date.now() + 120_000)
// @ts-expect-error until is ms since epoch, not a Date
await stores.replays.claim('bcl:id', new Date())
const instanceName: string = stores.revocations.instance
const counters: WindowCounter = stores.counters
const concrete: RedisWindowCounter = stores.counters
const counted: Promise<WindowCounts | undefined> | undefined = stores.counters.hit('ip 10.0.0.1', 60_000, Date.now())
const pending: number = stores.counters.pending + MAX_PENDING_COUNTS + MAX_RAW_COUNTER_KEY + REGISTRY_WRITE_DELAY_MS + REGISTRY_MAX_BATCH_WRITES + KEYS_OUTLIVE_LISTING_MS
// @ts-expect-error a window length is a number
stores.counters.hit('ip 10.0.0.1', '1m', Date.now())
// @ts-expect-error the counters are read-only
stores.counters = concrete
stores.events.on('unavailable', ({ reason, error }) => { logger.warn({ err: error }, reason) })
stores.events.on('recovered', ({ downMs }) => { logger.info({ downMs }, 'recovered') })
// @ts-expect-error no such event
stores.events.on('down', () => {})
const available: boolean = stores.available
await stores.ready()
await stores.close()

export { tickets, concreteTickets, consumed, replays, first, badMaxKeys, badMaxRecords, bySentinel, instanceName, counters, counted, pending, byClient, byCluster, badPrefix, badMode, badTimeout, badHeartbeat, badTtl, badLen, badBlock, badLogger, badInstance, badConnection, registry, revocations, available }
