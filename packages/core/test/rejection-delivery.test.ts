import t from 'tap'
import { deliverRejectionsWith, errorCatalogue, hasRejectionDelivery, refusalCloseCode, sendRejection, type WsguardErrorCode } from '../src/index.js'

function fakeReply (raw: object) {
  const sent: unknown[] = []
  const reply = {
    request: { raw },
    code (n: number) { sent.push(n); return this },
    header () { return this },
    send (body: string) { sent.push(body); return this }
  }
  return { reply, sent }
}

t.test('a request with a delivery of its own gets its next refusal there, once, with its close code', async (t) => {
  const raw = {}
  const { reply, sent } = fakeReply(raw)
  const delivered: Array<[WsguardErrorCode, number]> = []
  t.equal(hasRejectionDelivery(raw), false)
  deliverRejectionsWith(raw, (code, closeCode) => { delivered.push([code, closeCode]) })
  t.equal(hasRejectionDelivery(raw), true)
  sendRejection(reply, 'WSG_TOKEN_EXPIRED', { 'www-authenticate': 'Bearer' })
  t.same(delivered, [['WSG_TOKEN_EXPIRED', 4401]])
  t.same(sent, [], 'no HTTP answer')
  t.equal(hasRejectionDelivery(raw), false, 'used once')
  sendRejection(reply, 'WSG_TOPIC_DENIED')
  t.equal(sent[0], 403, 'a second refusal is an HTTP answer')
  t.equal(delivered.length, 1)
})

t.test('another request, or a reply without its request, is answered in HTTP', async (t) => {
  deliverRejectionsWith({}, () => { t.fail('not this request') })
  const { reply, sent } = fakeReply({})
  sendRejection(reply, 'WSG_RATE_LIMITED')
  t.equal(sent[0], 429)
})

t.test('refusal close codes: the 44xx of the status, 1013 for 503', async (t) => {
  t.equal(refusalCloseCode('WSG_BAD_REQUEST'), 4400)
  t.equal(refusalCloseCode('WSG_AMBIGUOUS_CREDENTIAL'), 4400)
  t.equal(refusalCloseCode('WSG_TICKET_INVALID'), 4401)
  t.equal(refusalCloseCode('WSG_TOKEN_REVOKED'), 4401, 'by status: a revoked token at the handshake asks for a fresh one')
  t.equal(refusalCloseCode('WSG_ORIGIN_DENIED'), 4403)
  t.equal(refusalCloseCode('WSG_RATE_LIMITED'), 4429)
  t.equal(refusalCloseCode('WSG_UNAVAILABLE'), 1013)
  t.equal(refusalCloseCode('WSG_INVALID_OPTION'), 1008, 'a status without a code of its own')
  for (const code of Object.keys(errorCatalogue) as WsguardErrorCode[]) {
    const closeCode = refusalCloseCode(code)
    t.ok(closeCode === 1008 || closeCode === 1013 || closeCode === 4000 + errorCatalogue[code].status, code)
  }
})
