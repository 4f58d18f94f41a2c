import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { ChannelName, channel } from '@wsguard/core'

const decisions = channel(ChannelName.topicDecision)
const kAddress = Symbol('wsguard.topicAddress')

type WithAddress = FastifyRequest & { [kAddress]?: string | null }

/** Gives every request of `fastify`'s contexts the slot the handshake's address is kept in. */
export function decorateAddress (fastify: FastifyInstance): void {
  fastify.decorateRequest(kAddress, null)
}

/**
 * A websocket route's preValidation hook: keeps the client's address as the handshake gives it,
 * when someone listens to decisions. Read later, `request.ip` follows the request's headers,
 * which a framework may add to after the upgrade (mercurius copies a graphql-ws
 * `connection_init` payload's headers there): behind `trustProxy` the client would choose the
 * address its decisions are published with.
 */
export function rememberAddress (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (request.ws === true && decisions.hasSubscribers) (request as WithAddress)[kAddress] = request.ip
  done()
}

/**
 * The address a decision is published with: a handshake's as it was kept before the upgrade
 * (`undefined` when it was not kept: nobody listened then, or the route was declared before
 * the plugin), a plain HTTP request's as it is.
 */
export function addressOf (request: FastifyRequest): string | undefined {
  if (request.ws !== true) return request.ip
  return (request as WithAddress)[kAddress] ?? undefined
}
