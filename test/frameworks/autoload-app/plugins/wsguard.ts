// One plugin file registers the whole stack, in the order it must run: throttling first (its
// onRequest hook then runs before auth-handshake's, so a flood costs no token work), then
// @fastify/websocket, then the wsguard plugins. fastify-plugin keeps them at the app's root,
// where their onRoute hooks see every route autoloaded from routes/.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import rateLimit from '@fastify/rate-limit'
import type { FakeClock } from '@wsguard/testing'
import { registerWsguard } from '../../helpers.js'

export interface AppOptions {
  clock: FakeClock
  /** handshakes per minute per IP */
  max: number
  /** register @fastify/rate-limit after wsguard: the wrong order, for the test that shows why */
  rateLimitLast?: boolean
}

async function wsguardStack (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  const throttle = async (): Promise<void> => { await fastify.register(rateLimit, { global: true, max: opts.max, timeWindow: 60_000 }) }
  if (opts.rateLimitLast !== true) await throttle()
  await fastify.register(websocket)
  await registerWsguard(fastify, opts.clock)
  if (opts.rateLimitLast === true) await throttle()
}

export default fp(wsguardStack, { name: 'wsguard-stack' })
