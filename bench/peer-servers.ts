// The peers of bench/peers.ts that are not Fastify apps, each as its users write it, and the
// table of every peer: how it is built, which protocol its clients speak, how they carry the
// token. Each runs in a process of its own (peers.ts forks one per peer and algorithm); each
// trusts one key (TrustedKey) and checks the same claims: signature, algorithm, `iss`, `aud`, `exp`.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server as SocketIoServer } from 'socket.io'
import jwt from 'jsonwebtoken'
import { createVerifier } from 'fast-jwt'
import { WebSocketServer } from 'ws'
import { useServer } from 'graphql-ws/use/ws'
import { GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql'
import { importSPKI, jwtVerify, type JWTPayload } from 'jose'
import type { FastifyInstance } from 'fastify'
import type { Protocol } from './dial.js'
import type { ConnectionSource } from './lib.js'
import { AUD, FEED_PATH, ISS, stackApp, type TrustedKey } from './stack-app.js'

export type PeerId = 'plain' | 'bare' | 'diy' | 'sio-jsonwebtoken' | 'sio-fast-jwt' | 'graphql-ws-jose' | 'wsguard'

export interface Peer {
  id: PeerId
  name: string
  protocol: Protocol
  /** false for plain @fastify/websocket, which checks nothing (it has no refusals) */
  authenticates: boolean
}

export const PEERS: readonly Peer[] = [
  { id: 'plain', name: 'plain @fastify/websocket (no auth)', protocol: 'ws', authenticates: false },
  { id: 'bare', name: 'bare fast-jwt hook', protocol: 'ws', authenticates: true },
  { id: 'diy', name: 'DIY @fastify/jwt hook', protocol: 'ws', authenticates: true },
  { id: 'sio-jsonwebtoken', name: 'Socket.IO io.use + jsonwebtoken', protocol: 'socket.io', authenticates: true },
  { id: 'sio-fast-jwt', name: 'Socket.IO io.use + fast-jwt', protocol: 'socket.io', authenticates: true },
  { id: 'graphql-ws-jose', name: 'graphql-ws onConnect + jose', protocol: 'graphql-ws', authenticates: true },
  { id: 'wsguard', name: 'wsguard, all four plugins', protocol: 'ws', authenticates: true }
]

export interface Running {
  url: string
  /** what a SocketTracker counts open connections on */
  connections: FastifyInstance | ConnectionSource
}

/** Starts the peer on 127.0.0.1, port 0. */
export async function startPeer (id: PeerId, key: TrustedKey): Promise<Running> {
  switch (id) {
    case 'plain':
    case 'bare':
    case 'diy':
    case 'wsguard': {
      const app = await stackApp(id === 'wsguard' ? 'full' : id, 'off', key)
      return { url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}${FEED_PATH}`, connections: app }
    }
    case 'sio-jsonwebtoken': return await socketIo(key, jsonwebtokenMiddleware(key))
    case 'sio-fast-jwt': return await socketIo(key, fastJwtMiddleware(key))
    case 'graphql-ws-jose': return await graphqlWs(key)
  }
}

type Middleware = Parameters<SocketIoServer['use']>[0]

/**
 * jsonwebtoken as Socket.IO's users write it: the public key as read from its PEM file, the
 * callback form of `jwt.verify` (jsonwebtoken turns the PEM into a key object on every call).
 */
function jsonwebtokenMiddleware (key: TrustedKey): Middleware {
  const publicKey = key.pem
  return (socket, next) => {
    jwt.verify(socket.handshake.auth.token as string, publicKey, { algorithms: [key.alg], issuer: ISS, audience: AUD }, (err, decoded) => {
      if (err !== null) return next(new Error('unauthorized'))
      socket.data.user = decoded
      next()
    })
  }
}

/** fast-jwt in the same middleware, for fairness: the verifier the bare hook and wsguard use. */
function fastJwtMiddleware (key: TrustedKey): Middleware {
  const verify = createVerifier({ key: key.pem, algorithms: [key.alg], allowedIss: ISS, allowedAud: AUD })
  return (socket, next) => {
    try {
      socket.data.user = verify(socket.handshake.auth.token as string)
      next()
    } catch {
      next(new Error('unauthorized'))
    }
  }
}

/**
 * Socket.IO 4 attached to a plain node http server (its documented setup), defaults otherwise
 * (the server would also accept long-polling; the client asks for websocket only).
 */
async function socketIo (_key: TrustedKey, middleware: Middleware): Promise<Running> {
  const http = createServer()
  const io = new SocketIoServer(http, { serveClient: false })
  io.use(middleware)
  io.on('connection', () => {})
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  // engine.io emits 'connection' per transport-level connection, refused ones included.
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, connections: io.engine as unknown as ConnectionSource }
}

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { hello: { type: GraphQLString, resolve: () => 'world' } } })
})

/**
 * graphql-ws 6's `useServer` on a `ws` server with a one-field schema; `onConnect` verifies the
 * token from `connectionParams` with jose's `jwtVerify` and a key imported once. It runs after
 * the upgrade, on connection_init: returning false closes the socket 4403 (Forbidden).
 */
async function graphqlWs (key: TrustedKey): Promise<Running> {
  const publicKey = await importSPKI(key.pem, key.alg)
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/graphql' })
  await new Promise<void>((resolve) => wss.once('listening', resolve))
  useServer<{ token?: string }, { user: JWTPayload }>({
    schema,
    onConnect: async (ctx) => {
      try {
        const { payload } = await jwtVerify(String(ctx.connectionParams?.token), publicKey, { issuer: ISS, audience: AUD, algorithms: [key.alg] })
        ctx.extra.user = payload
        return true
      } catch {
        return false
      }
    }
  }, wss)
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/graphql`, connections: wss }
}
