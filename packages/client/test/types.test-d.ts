// Type tests: compiled by `pnpm typecheck`, never run. Each public option is used once with
// its right type and once, under @ts-expect-error, with a wrong one.
import WsWebSocket from 'ws'
import { FakeClock } from '@wsguard/testing'
import {
  connect, credentialWebSocket, CredentialError, backoffDelay, hintedDelayMs, DEFAULT_MESSAGES, MAX_HINTED_DELAY_MS,
  type ClientEvent, type ConnectOptions, type Connection, type ConnectionState, type CredentialWebSocketClass,
  type CredentialWebSocketOptions, type GetToken, type TokenReason
} from '../src/index.js'
import { connect as connectNode, credentialWebSocket as credentialWebSocketNode } from '../src/node.js'

const getToken: GetToken = async ({ reason }) => (reason === 'expired' ? 'fresh' : 'cached')
const options: ConnectOptions = {
  url: 'wss://api.example/feed',
  protocols: ['feed.v1'],
  getToken,
  ticketUrl: new URL('https://api.example/tickets'),
  topics: ['prices.acme'],
  subscribeMessage: (topic) => `SUB ${topic}`,
  unsubscribeMessage: (topic) => `UNSUB ${topic}`,
  onEvent: (event) => { if (event.type === 'retrying') console.log(event.delayMs, event.code) },
  onMessage: (data) => { if (typeof data !== 'string') console.log(data.byteLength) },
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
  promptJitterMs: 1_000,
  rateLimitedDelayMs: 30_000,
  stableAfterMs: 5_000,
  credentialTimeoutMs: 10_000,
  subprotocolPrefix: 'bearer.',
  allowInsecure: false,
  messages: { ...DEFAULT_MESSAGES, refresh: 'x.refresh' },
  WebSocket: WsWebSocket as unknown as typeof WebSocket,
  fetch: async (input, init) => await fetch(input, init),
  clock: new FakeClock(),
  random: Math.random
}
const connection: Connection = connect(options)
const state: ConnectionState = connection.state
const topics: readonly string[] = connection.topics
const sent: boolean = connection.send('hi')
connection.subscribe('a.b')
connection.unsubscribe('a.b')
connection.close()
connection.close(4000, 'signed out')
const onNode: Connection = connectNode({ url: new URL('ws://127.0.0.1/feed') })

// @ts-expect-error url is required
connect({})
// @ts-expect-error url is a string or URL
connect({ url: 1 })
// @ts-expect-error protocols is an array of strings
connect({ url: 'wss://a', protocols: 'feed.v1' })
// @ts-expect-error getToken takes a context and returns a token
connect({ url: 'wss://a', getToken: () => 1 })
// @ts-expect-error ticketUrl is a string or URL
connect({ url: 'wss://a', ticketUrl: true })
// @ts-expect-error topics is an array of strings
connect({ url: 'wss://a', topics: 'a' })
// @ts-expect-error subscribeMessage returns a string
connect({ url: 'wss://a', subscribeMessage: (topic: string) => ({ topic }) })
// @ts-expect-error unsubscribeMessage takes a topic
connect({ url: 'wss://a', unsubscribeMessage: (topic: number) => String(topic) })
// @ts-expect-error onEvent takes a ClientEvent
connect({ url: 'wss://a', onEvent: (event: string) => event })
// @ts-expect-error onMessage takes a string or an ArrayBuffer
connect({ url: 'wss://a', onMessage: (data: number) => data })
// @ts-expect-error baseDelayMs is a number
connect({ url: 'wss://a', baseDelayMs: '1s' })
// @ts-expect-error maxDelayMs is a number
connect({ url: 'wss://a', maxDelayMs: '30s' })
// @ts-expect-error promptJitterMs is a number
connect({ url: 'wss://a', promptJitterMs: null })
// @ts-expect-error rateLimitedDelayMs is a number
connect({ url: 'wss://a', rateLimitedDelayMs: true })
// @ts-expect-error stableAfterMs is a number
connect({ url: 'wss://a', stableAfterMs: '5s' })
// @ts-expect-error credentialTimeoutMs is a number
connect({ url: 'wss://a', credentialTimeoutMs: '10s' })
// @ts-expect-error subprotocolPrefix is a string
connect({ url: 'wss://a', subprotocolPrefix: 1 })
// @ts-expect-error allowInsecure is a boolean
connect({ url: 'wss://a', allowInsecure: 'yes' })
// @ts-expect-error the message names are strings
connect({ url: 'wss://a', messages: { expiring: 1 } })
// @ts-expect-error WebSocket is a WebSocket class
connect({ url: 'wss://a', WebSocket: {} })
// @ts-expect-error fetch is a fetch function
connect({ url: 'wss://a', fetch: 'fetch' })
// @ts-expect-error clock has now(), setTimer() and clearTimer()
connect({ url: 'wss://a', clock: { now: () => 0 } })
// @ts-expect-error random returns a number
connect({ url: 'wss://a', random: () => 'x' })
// @ts-expect-error close takes a code and a reason
connection.close('bye')

// Events narrow on `type`.
function describe (event: ClientEvent): string {
  switch (event.type) {
    case 'connecting': return `attempt ${event.attempt}`
    case 'connected': return event.protocol
    case 'expiring': return String(event.deadline)
    case 'refreshed': return String(event.expiresAt)
    case 'refresh-failed': return event.code ?? String(event.error)
    case 'topic-revoked': return `${event.topic} ${event.action ?? ''}`
    case 'credential-failed': return String(event.error)
    case 'closed': return `${event.code} ${event.reason}`
    case 'retrying': return `${event.delayMs} ms`
    case 'stopped': return event.cause
  }
}
// @ts-expect-error a stopped event's cause is one of three
const badStop: ClientEvent = { type: 'stopped', cause: 'bored', code: 1000, reason: '' }

const reason: TokenReason = 'refresh'
// @ts-expect-error a token reason is connect, expired or refresh
const badReason: TokenReason = 'later'

const socketOptions: CredentialWebSocketOptions = {
  getToken: () => 'token',
  ticketUrl: 'https://api.example/tickets',
  protocols: ['trpc'],
  subprotocolPrefix: 'bearer.',
  allowInsecure: true,
  WebSocket: WsWebSocket as unknown as typeof WebSocket,
  fetch
}
const Authed: CredentialWebSocketClass = credentialWebSocket(socketOptions)
const AuthedNode: CredentialWebSocketClass = credentialWebSocketNode({ getToken: () => 'token' })
const asGlobal: typeof WebSocket = Authed
const url: Promise<string> = Authed.prepare('wss://api.example/trpc')
const socket: WebSocket = new AuthedNode('wss://api.example/graphql', 'graphql-transport-ws')
// @ts-expect-error getToken is a function
credentialWebSocket({ getToken: 'token' })
// @ts-expect-error ticketUrl is a string or URL
credentialWebSocket({ ticketUrl: 1 })
// @ts-expect-error protocols is an array of strings
credentialWebSocket({ protocols: 'trpc' })
// @ts-expect-error subprotocolPrefix is a string
credentialWebSocket({ subprotocolPrefix: false })
// @ts-expect-error allowInsecure is a boolean
credentialWebSocket({ allowInsecure: 1 })
// @ts-expect-error WebSocket is a WebSocket class
credentialWebSocket({ WebSocket: 'ws' })
// @ts-expect-error fetch is a fetch function
credentialWebSocket({ fetch: 1 })

const delay: number = backoffDelay(3, 1_000, 30_000, Math.random)
const hint: number | undefined = hintedDelayMs('retry-after=30')
const status: number | undefined = new CredentialError('x', 401).status

export { state, topics, sent, onNode, describe, badStop, reason, badReason, asGlobal, url, socket, delay, hint, status }

// The longest 4429 hint the client waits, a number of ms.
const longestHint: number = MAX_HINTED_DELAY_MS
export { longestHint }
