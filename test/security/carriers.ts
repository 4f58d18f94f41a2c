// How a handshake presents a token: the four carriers, their malformed and doubled forms,
// and two credentials at once. Each is named in handshake-corpus.tsv's first column.

export const ALLOWED_ORIGIN = 'https://app.test'
export const FOREIGN_ORIGIN = 'https://evil.test'
export const APP_PROTOCOL = 'app.v1'

/** What to add to a handshake: a query string and request headers. */
export interface Presentation {
  query: string
  headers: Record<string, string | string[]>
}

type Present = (token: string) => Presentation

const q = (token: string, name = 'access_token'): string => `${name}=${encodeURIComponent(token)}`
const only = (headers: Record<string, string | string[]>, query = ''): Presentation =>
  ({ query, headers: { origin: ALLOWED_ORIGIN, ...headers } })
const authorization = (value: string | string[]): Presentation => only({ authorization: value })
const protocols = (value: string | string[]): Presentation => only({ 'sec-websocket-protocol': value })
const cookie = (value: string): Presentation => only({ cookie: value })

/** The carriers `*` stands for in the corpus. */
export const BASE_CARRIERS = Object.freeze(['header', 'subprotocol', 'cookie', 'query'])

export const PRESENTATIONS: Readonly<Record<string, Present>> = Object.freeze({
  header: (t) => authorization(`Bearer ${t}`),
  'header-lowercase': (t) => authorization(`bearer ${t}`),
  'header-uppercase': (t) => authorization(`BEARER ${t}`),
  'header-extra-spaces': (t) => authorization(`Bearer    ${t}   `),
  'header-tab': (t) => authorization(`Bearer\t${t}`),
  'header-scheme-twice': (t) => authorization(`Bearer Bearer ${t}`),
  'header-basic': (t) => authorization(`Basic ${t}`),
  'header-repeated': (t) => authorization([`Bearer ${t}`, `Bearer ${t}`]),
  'header-foreign-origin': (t) => ({ query: '', headers: { origin: FOREIGN_ORIGIN, authorization: `Bearer ${t}` } }),
  subprotocol: (t) => protocols(`${APP_PROTOCOL}, bearer.${t}`),
  'subprotocol-alone': (t) => protocols(`bearer.${t}`),
  'subprotocol-first': (t) => protocols(`bearer.${t}, ${APP_PROTOCOL}`),
  'subprotocol-uppercase': (t) => protocols(`${APP_PROTOCOL}, BEARER.${t}`),
  'subprotocol-split': (t) => protocols([APP_PROTOCOL, `bearer.${t}`]),
  'subprotocol-repeated': (t) => protocols(`bearer.${t}, bearer.${t}`),
  cookie: (t) => cookie(`access_token=${t}`),
  'cookie-quoted': (t) => cookie(`access_token="${t}"`),
  'cookie-among-others': (t) => cookie(`theme=dark; access_token=${t}; lang=en`),
  'cookie-repeated': (t) => cookie(`access_token=${t}; access_token=${t}`),
  'cookie-foreign-origin': (t) => ({ query: '', headers: { origin: FOREIGN_ORIGIN, cookie: `access_token=${t}` } }),
  'cookie-no-origin': (t) => ({ query: '', headers: { cookie: `access_token=${t}` } }),
  query: (t) => only({}, q(t)),
  'query-repeated': (t) => only({}, `${q(t)}&${q(t)}`),
  'query-encoded-name': (t) => only({}, q(t, 'access%5Ftoken')),
  'query-among-others': (t) => only({}, `a=1&${q(t)}&b=2`),
  'header+subprotocol': (t) => only({ authorization: `Bearer ${t}`, 'sec-websocket-protocol': `bearer.${t}` }),
  'header+cookie': (t) => only({ authorization: `Bearer ${t}`, cookie: `access_token=${t}` }),
  'header+query': (t) => only({ authorization: `Bearer ${t}` }, q(t)),
  'subprotocol+cookie': (t) => only({ 'sec-websocket-protocol': `bearer.${t}`, cookie: `access_token=${t}` }),
  'subprotocol+query': (t) => only({ 'sec-websocket-protocol': `bearer.${t}` }, q(t)),
  'cookie+query': (t) => only({ cookie: `access_token=${t}` }, q(t)),
  none: () => only({})
})
