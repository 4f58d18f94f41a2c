import t from 'tap'
import { principalKey } from '../src/index.js'

t.test('principalKey: one string per issuer and subject, whatever either holds', async (t) => {
  t.not(principalKey('b', 'a'), principalKey('', 'ab'), 'the issuer\'s length keeps them apart')
  t.not(principalKey('1:ab', undefined), principalKey('b', '1:a'), 'a subject shaped like a key is still another principal')
  t.not(principalKey('x', undefined), principalKey('x', 'i'), 'no issuer is not an issuer')
  t.equal(principalKey('x', undefined), principalKey('x', ''), 'no issuer and an empty one are the same')
  t.not(principalKey('y z', 'x'), principalKey('z', 'x y'), 'spaces (certificate names hold them) do not join two principals')
  t.not(principalKey('alice', undefined), principalKey('alice', 'undefined'), 'no issuer is not the issuer "undefined"')
  t.equal(principalKey('alice', 'https://idp.test'), '16:https://idp.testalice', 'the form the Redis counts are kept in')
})
