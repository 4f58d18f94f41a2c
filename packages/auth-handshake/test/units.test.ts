import t from 'tap'
import { keyFitsAlgorithm, isHmacAlgorithm, isJwsAlgorithm } from '../src/algorithms.js'
import { redactingReqSerializer } from '../src/log.js'

t.test('which key types fit which algorithm', async (t) => {
  const table: Array<[Record<string, string>, string, boolean]> = [
    [{ kty: 'EC', crv: 'P-256' }, 'ES256', true],
    [{ kty: 'EC', crv: 'P-384' }, 'ES256', false],
    [{ kty: 'EC', crv: 'P-384' }, 'ES384', true],
    [{ kty: 'EC', crv: 'P-521' }, 'ES512', true],
    [{ kty: 'EC', crv: 'P-256' }, 'ES512', false],
    [{ kty: 'OKP', crv: 'Ed25519' }, 'EdDSA', true],
    [{ kty: 'OKP', crv: 'Ed448' }, 'EdDSA', false],
    [{ kty: 'RSA' }, 'PS384', true],
    [{ kty: 'EC', crv: 'P-256' }, 'RS256', false],
    // No key of a key set is ever an HMAC secret: an RSA key must not verify an HS256 token.
    [{ kty: 'RSA' }, 'HS256', false],
    [{ kty: 'oct', k: 'c2VjcmV0' }, 'HS384', false],
    [{ kty: 'EC', crv: 'P-256' }, 'HS512', false]
  ]
  for (const [jwk, alg, fits] of table) {
    t.equal(keyFitsAlgorithm(jwk, alg as never), fits, `${JSON.stringify(jwk)} ${alg}`)
  }
  t.equal(isJwsAlgorithm('HS256'), false)
  t.equal(isJwsAlgorithm(256), false)
  t.equal(isHmacAlgorithm('HS512'), true)
  t.equal(isHmacAlgorithm('RS256'), false)
  t.equal(isHmacAlgorithm(undefined), false)
})

t.test('the log serializer copes with a request without socket', async (t) => {
  const serialize = redactingReqSerializer(['access_token'])
  const out = serialize({ method: 'GET', url: '/feed?access_token=x', headers: {}, host: 'h', ip: '1.2.3.4' } as never)
  t.same(out, { method: 'GET', url: '/feed?access_token=[REDACTED]', version: undefined, host: 'h', remoteAddress: '1.2.3.4', remotePort: undefined })
})
