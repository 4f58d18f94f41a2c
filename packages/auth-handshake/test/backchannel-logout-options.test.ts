import t from 'tap'
import Fastify from 'fastify'
import { jwks } from '@wsguard/testing'
import { backchannelLogout, MemoryReplayStore, type BackchannelLogoutOptions } from '../src/index.js'
import { validateLogoutOptions } from '../src/logout-options.js'
import { RecordingStore, key } from './logout-helpers.js'

const issuer = { issuer: 'https://idp.test', audience: 'feed-web', algorithms: ['ES256'], jwks: jwks(key) }
const revocations = new RecordingStore()
const base = { issuers: issuer, revocations }

const cases: Array<[string, unknown, RegExp]> = [
  ['not an object', 'opts', /opts must be an object/],
  ['unknown option', { ...base, audience: 'feed-web' }, /opts\.audience is not an option/],
  ['no issuers', { revocations }, /opts\.issuers must name at least one issuer/],
  ['empty issuer list', { ...base, issuers: [] }, /opts\.issuers must name at least one issuer/],
  ['issuer not an object', { ...base, issuers: ['https://idp.test'] }, /opts\.issuers\[0\] must be an object/],
  ['an access-token option on a logout issuer', { ...base, issuers: { ...issuer, typ: 'at+jwt' } }, /opts\.issuers\.typ is not an option/],
  ['issuer options checked as auth-handshake checks them', { ...base, issuers: [issuer, { ...issuer, issuer: 'https://b.test', algorithms: ['none'] }] },
    /opts\.issuers\[1\]\.algorithms: "none" is not one of/],
  ['audience missing', { ...base, issuers: { ...issuer, audience: undefined } }, /opts\.issuers\.audience must be a non-empty string/],
  ['same issuer twice', { ...base, issuers: [issuer, issuer] }, /opts\.issuers: issuer "https:\/\/idp\.test" is listed twice/],
  ['no revocation store', { issuers: issuer }, /opts\.revocations must be a RevocationStore/],
  ['a revocation store without subscribe', { ...base, revocations: { revoke: async () => {}, isRevoked: () => false } }, /opts\.revocations must be a RevocationStore/],
  ['a replay store without release', { ...base, replays: { claim: () => true } }, /opts\.replays must be a ReplayStore \(claim, release\)/],
  ['path without a slash', { ...base, path: 'logout' }, /opts\.path must start with \//],
  ['path with a space', { ...base, path: '/log out' }, /opts\.path must start with \//],
  ['path empty', { ...base, path: '' }, /opts\.path must be a non-empty string/],
  ['revokeBy', { ...base, revokeBy: 'sid' }, /opts\.revokeBy must be 'session' or 'subject'/],
  ['maxTokenAgeMs zero', { ...base, maxTokenAgeMs: 0 }, /opts\.maxTokenAgeMs must be an integer, 1 or more/],
  ['clockToleranceMs negative', { ...base, clockToleranceMs: -1 }, /opts\.clockToleranceMs must be a finite number of milliseconds, 0 or more/],
  ['requireExplicitTyp', { ...base, requireExplicitTyp: 'yes' }, /opts\.requireExplicitTyp must be a boolean/],
  ['revocationRetentionMs', { ...base, revocationRetentionMs: 1.5 }, /opts\.revocationRetentionMs must be an integer, 1 or more/],
  ['storeTimeoutMs', { ...base, storeTimeoutMs: 0 }, /opts\.storeTimeoutMs must be an integer, 1 or more/],
  ['storeTimeoutMs past what a timer waits', { ...base, storeTimeoutMs: 2 ** 31 }, /opts\.storeTimeoutMs must be at most 2147483647 ms/],
  ['maxTokenBytes', { ...base, maxTokenBytes: 8 }, /opts\.maxTokenBytes must be an integer, 16 or more/],
  ['maxLogoutsPerSubject zero', { ...base, maxLogoutsPerSubject: 0 }, /opts\.maxLogoutsPerSubject must be an integer, 1 or more/],
  ['maxLogoutsPerSubject not a number', { ...base, maxLogoutsPerSubject: '100' }, /opts\.maxLogoutsPerSubject must be an integer, 1 or more/],
  ['clock', { ...base, clock: Date }, /opts\.clock must be an object with a now\(\) method/]
]

for (const [name, opts, message] of cases) {
  t.test(`registration fails: ${name}`, async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => { await app.register(backchannelLogout, opts as BackchannelLogoutOptions) }, { code: 'WSG_INVALID_OPTION', statusCode: 500, message })
  })
}

t.test('defaults, copied options and the configured values', async (t) => {
  const opts = { ...base }
  const config = validateLogoutOptions(opts)
  t.match(config, {
    path: '/oidc/backchannel-logout',
    revokeBy: 'session',
    maxTokenAgeMs: 120_000,
    clockToleranceMs: 5_000,
    requireExplicitTyp: false,
    revocationRetentionMs: 86_400_000,
    storeTimeoutMs: 2_000,
    maxTokenBytes: 8192,
    maxLogoutsPerSubject: 100
  })
  t.type(config.replays, MemoryReplayStore, 'a memory replay store by default')
  t.match(config.issuers[0], { issuer: 'https://idp.test', audiences: ['feed-web'], clockToleranceMs: 5_000, maxTokenAgeMs: 120_000, typ: undefined })
  t.same(opts, { ...base }, 'the options are not mutated')
  const replays = new MemoryReplayStore()
  const set = validateLogoutOptions({ ...base, replays, maxTokenAgeMs: 60_000, clockToleranceMs: 0, path: '/bcl' })
  t.equal(set.replays, replays)
  t.match(set.issuers[0], { clockToleranceMs: 0, maxTokenAgeMs: 60_000 })
})

t.test('MemoryReplayStore options', async (t) => {
  t.throws(() => new MemoryReplayStore({ maxEntries: 0 }), { code: 'WSG_INVALID_OPTION', message: /MemoryReplayStore: opts\.maxEntries must be an integer, 1 or more/ })
  t.throws(() => new MemoryReplayStore({ clock: {} as never }), { code: 'WSG_INVALID_OPTION', message: /MemoryReplayStore: opts\.clock must be an object with a now\(\) method/ })
})
