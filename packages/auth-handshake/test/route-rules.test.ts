import t from 'tap'
import { checkScopes, compileRouteRules } from '../src/route-rules.js'

const METHODS = new Set(['jwt'] as const)
const rules = (auth: unknown): Exclude<ReturnType<typeof compileRouteRules>, false> =>
  compileRouteRules(auth, 'GET /feed', METHODS) as Exclude<ReturnType<typeof compileRouteRules>, false>

t.test('checkScopes: required and allowed scopes, on arrays', async (t) => {
  t.equal(checkScopes(['feed:read'], rules({ scopes: ['feed:read'] })), undefined)
  t.equal(checkScopes([], rules({ scopes: ['feed:read'] })), 'WSG_INSUFFICIENT_SCOPE')
  t.equal(checkScopes(['feed:read', 'admin'], rules({ allowedScopes: ['feed:read'] })), 'WSG_OVERSCOPED_TOKEN')
  t.equal(checkScopes(['feed:read'], rules({ scopes: ['feed:read'], allowedScopes: ['feed:read'] })), undefined)
})

t.test('checkScopes: scopes that are not an array (an app-built principal) never pass a scope rule', async (t) => {
  const notAnArray = new Set(['feed:read', 'admin']) as unknown as readonly string[]
  t.equal(checkScopes(notAnArray, rules({ scopes: ['feed:read'] })), 'WSG_INSUFFICIENT_SCOPE')
  t.equal(checkScopes(notAnArray, rules({ allowedScopes: ['feed:read'] })), 'WSG_OVERSCOPED_TOKEN', 'not skipped as "no scopes"')
  t.equal(checkScopes(notAnArray, rules(undefined)), undefined, 'a route without a scope rule has nothing to check')
})
