import t from 'tap'
import { redisStores } from '../src/index.js'
import { principal, REDIS_URL, revocation, testClient, testPrefix } from './helpers.js'

// Found by session 20's adversarial review: after `close()` the mirror no longer follows the
// stream, yet it still said it was current and answered as if it did.
t.test('a closed revocation store is no longer current: fail-closed refuses, fail-open answers from its mirror', async (t) => {
  for (const onUnavailable of ['fail-closed', 'fail-open'] as const) {
    const keyPrefix = testPrefix()
    testClient(t, keyPrefix)
    const stores = redisStores({ url: REDIS_URL }, { keyPrefix, onUnavailable })
    await stores.ready()
    await stores.revocations.revoke(revocation({ subject: 'alice' }))
    t.equal(stores.revocations.current, true, `${onUnavailable}: current while open`)
    await stores.close()
    t.equal(stores.revocations.current, false, `${onUnavailable}: not current once closed`)
    if (onUnavailable === 'fail-closed') {
      t.throws(() => stores.revocations.isRevoked(principal('bob'), Date.now()), /not current.*fail-closed/)
    } else {
      t.equal(stores.revocations.isRevoked(principal('alice'), Date.now()), true, 'fail-open: from the mirror as it is')
    }
  }
})
