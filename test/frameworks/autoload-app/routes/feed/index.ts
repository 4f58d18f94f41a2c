// routes/feed/index.ts: autoloaded as /feed/, in a context of its own (encapsulated).
import type { FastifyInstance } from 'fastify'
import { requirePrincipal } from '@wsguard/core'

export default async function feed (fastify: FastifyInstance): Promise<void> {
  fastify.get('/', { websocket: true, config: { auth: { scopes: ['orders:read'] } } }, (socket, req) => {
    socket.send(JSON.stringify({ principal: requirePrincipal(req).id }))
  })
}
