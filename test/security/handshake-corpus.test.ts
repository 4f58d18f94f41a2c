// Runs handshake-corpus.tsv: every case in every carrier it names, over real sockets, against
// /ws/acme with all four plugins. Adding a case is adding a line (see the file's header).
import { readFileSync } from 'node:fs'
import t from 'tap'
import { jwks, startJwksServer, until } from '@wsguard/testing'
import { BASE_CARRIERS, PRESENTATIONS, type Presentation } from './carriers.js'
import { handshake } from './client.js'
import { parseCorpus } from './corpus.js'
import { leaked, searchableLog } from './leaks.js'
import { securityServer } from './server.js'
import { ec, RECIPES, REVOKED_JTI, REVOKED_SUBJECT, rsa, secretsOf } from './tokens.js'

const FILE = 'handshake-corpus.tsv'

function codeOf (body: string): unknown {
  try {
    return (JSON.parse(body) as { code?: unknown }).code
  } catch {
    return `not JSON: ${body.slice(0, 40)}`
  }
}

t.test('the handshake corpus, every case in every carrier it names', async (t) => {
  const text = readFileSync(new URL(FILE, import.meta.url), 'utf8')
  const cases = parseCorpus(text, FILE, { carriers: PRESENTATIONS, recipes: RECIPES, all: BASE_CARRIERS })
  const idp = await startJwksServer(jwks(ec, rsa))
  t.teardown(() => idp.close())
  // Trace: every line Fastify and the plugins can write is searched for the tokens.
  const server = await securityServer(t, { jwt: { jwksUri: idp.jwksUri }, logLevel: 'trace' })
  await server.app.wsSessions.revoke({ tokenId: REVOKED_JTI })
  await server.app.wsSessions.revoke({ subject: REVOKED_SUBJECT })

  const secrets = new Set<string>()
  let runs = 0
  for (const c of cases) {
    for (const carrier of c.carriers) {
      const label = `${c.where} ${carrier} ${c.recipe}`
      const token = (RECIPES[c.recipe] as (now: number) => string)(server.clock.now())
      const presented = (PRESENTATIONS[carrier] as (token: string) => Presentation)(token)
      const path = presented.query === '' ? server.feed : `${server.feed}?${presented.query}`
      const opened = server.opened.length
      const answer = await handshake(server.url(path), presented.headers, (fn) => t.teardown(fn))
      runs++
      for (const s of secretsOf(token)) secrets.add(s)
      t.equal(answer.status, c.status, `${label}: status`)
      if (answer.status === 101) {
        const selected = String(answer.headers['sec-websocket-protocol'])
        t.notMatch(selected, /^bearer\./i, `${label}: the 101 selects no bearer. entry`)
        await until(() => server.opened.length === opened + 1, `${label}: the handler ran`)
        t.equal(server.opened.at(-1), 'alice', `${label}: the principal`)
      } else {
        t.equal(codeOf(answer.body), c.code, `${label}: code`)
      }
      const sent = answer.body + JSON.stringify(answer.headers)
      t.same(leaked(sent, secretsOf(token)), [], `${label}: the token is not in the response`)
    }
  }
  t.comment(`${cases.length} corpus lines, ${runs} handshakes`)
  t.same(leaked(searchableLog(server.logs.lines), secrets), [], 'no token, nor any segment of one, is in a log line')
  t.ok(server.logs.lines.length > runs, 'the handshakes were logged')
  t.equal(idp.hits.jwks, 1, 'one key-set fetch (at start): unknown kids and jku headers fetched nothing more')
})
