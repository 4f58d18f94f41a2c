import t from 'tap'
import { generateKey, jwks, mintToken, claimsFor } from '@wsguard/testing'
import { buildApp, connect } from './helpers.js'

t.test('accepts a valid ES256 token in the Authorization header', async (t) => {
  const key = generateKey('ES256')
  const { url } = await buildApp(t, { jwt: { issuer: 'https://idp.test', audience: 'feed-api', algorithms: ['ES256'], jwks: jwks(key) } })
  const token = mintToken(key, { ...claimsFor('https://idp.test', 'feed-api', 'alice'), scope: 'feed:read' })
  const res = await connect(t, url, { headers: { authorization: `Bearer ${token}` } })
  t.equal(res.open, true)
  if (res.open) t.equal((res.message.principal as { id: string }).id, 'alice')
})
