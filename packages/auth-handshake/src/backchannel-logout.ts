import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { principalKey, requestHeadTruncated, sendRejection, STORE_UNAVAILABLE_HEADERS, type Revocation, type SessionFilter, type WsguardErrorCode } from '@wsguard/core'
import { validateLogoutOptions, MAX_LOGOUT_SUBJECTS, type BackchannelLogoutConfig, type BackchannelLogoutOptions } from './logout-options.js'
import { LogoutTokenVerifier, type LogoutRequest, type LogoutTokenFault } from './logout-token.js'
import { redactingReqSerializer } from './log.js'
import { bounded } from './bounded.js'
import { sha256 } from './digest.js'
import { ExpiringQuota } from './quota.js'

const FORM = 'application/x-www-form-urlencoded'
const LOGOUT_TOKEN = 'logout_token'
/** What the catch-all parser leaves for a body that is not a form. */
const NOT_A_FORM = Symbol('not a form')
const BODY_OVERHEAD_BYTES = 1024

/** The one `logout_token` of a form body, or `undefined` (none, several, empty, not a form). */
function logoutTokenOf (body: unknown): string | undefined {
  if (typeof body !== 'string') return undefined
  const tokens = new URLSearchParams(body).getAll(LOGOUT_TOKEN)
  return tokens.length === 1 && (tokens[0] as string).length > 0 ? tokens[0] : undefined
}

/**
 * The replay store's id of a logout token: its issuer and `jti` (a `jti` is unique within its
 * issuer), hashed so the store holds nothing of the token and every id has one short spelling.
 * Never the token's text: anyone holding an ECDSA token can respell its signature.
 */
function replayId (logout: LogoutRequest): string {
  return 'bcl:' + sha256(JSON.stringify([logout.issuer, logout.jti]))
}

/** The sessions a logout selects, by `revokeBy`; always narrowed to the token's issuer. */
function filterOf (logout: LogoutRequest, revokeBy: 'session' | 'subject'): SessionFilter {
  const { issuer, sid, sub } = logout
  if (sid !== undefined && (revokeBy === 'session' || sub === undefined)) return { sessionId: sid, issuer }
  return { subject: sub as string, issuer }
}

export async function backchannelLogoutPlugin (fastify: FastifyInstance, opts: BackchannelLogoutOptions): Promise<void> {
  const config = validateLogoutOptions(opts)
  const verifier = new LogoutTokenVerifier(config, fastify.log)
  // Logout ids whose claim gave no answer in time and has not answered since (see releaseIfLate).
  const unsettled = new Set<string>()
  // Each user's logouts in force, made here (a record each, kept for the retention).
  const quota = new ExpiringQuota(config.maxLogoutsPerSubject, MAX_LOGOUT_SUBJECTS, config.clock, true)
  fastify.addHook('onReady', function warmUpLogoutKeys () {
    verifier.warmUp() // never rejects; an IdP that is down must not stop the app from starting
  })
  // Its own context: its body parsers, error handler and headers stay off the app's routes.
  await fastify.register(async function backchannelLogoutEndpoint (endpoint) {
    endpoint.removeAllContentTypeParsers()
    endpoint.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: config.maxTokenBytes + BODY_OVERHEAD_BYTES }, (_req, body, done) => {
      done(null, body)
    })
    endpoint.addContentTypeParser('*', (_req, _payload, done) => { done(null, NOT_A_FORM) })
    // Every answer, refusals and failures included (Back-Channel Logout §2.8).
    endpoint.addHook('onSend', async (_request, reply) => { reply.header('cache-control', 'no-store') })
    // A head Node may have cut short (a proxy's header among the lines dropped) is refused as an upgrade's is (T96).
    endpoint.addHook('onRequest', async (request, reply) => {
      if (requestHeadTruncated(request)) return refuse(request, reply, 'request')
    })
    // What Fastify refuses before the handler (a body past the limit, a bad length) is a bad
    // request; anything else is a failure, never a success. Nothing of the body is logged.
    endpoint.setErrorHandler((err: FastifyError, request, reply) => {
      const status = err.statusCode ?? 500
      if (status >= 400 && status < 500) return refuse(request, reply, 'request')
      request.log.error({ err }, 'wsguard: back-channel logout failed')
      return answer(reply, 'WSG_UNAVAILABLE')
    })
    // The token belongs in the body; one sent in the URL anyway is not logged with it.
    const logSerializers = { req: redactingReqSerializer([LOGOUT_TOKEN]) }
    endpoint.post(config.path, { logSerializers }, (request, reply) => handle({ config, verifier, unsettled, quota }, request, reply))
  })
}

function answer (reply: FastifyReply, code: WsguardErrorCode): FastifyReply {
  // a 503 says when to try again: the OP may retry a logout it could not deliver
  sendRejection(reply, code, code === 'WSG_UNAVAILABLE' ? STORE_UNAVAILABLE_HEADERS : undefined)
  return reply
}

function refuse (request: FastifyRequest, reply: FastifyReply, fault: LogoutTokenFault): FastifyReply {
  request.log.info({ fault }, 'wsguard: logout token refused')
  return answer(reply, 'WSG_LOGOUT_TOKEN_INVALID')
}

function fail (request: FastifyRequest, reply: FastifyReply, what: string, err?: unknown): FastifyReply {
  request.log.error(err === undefined ? {} : { err }, `wsguard: back-channel logout not applied: ${what}`)
  return answer(reply, 'WSG_UNAVAILABLE')
}

/** Gives a claimed jti back, so the IdP's retry of a logout that was not applied is no replay. */
async function release (request: FastifyRequest, config: BackchannelLogoutConfig, id: string): Promise<void> {
  await bounded(() => config.replays.release(id), config.storeTimeoutMs, 'replay store').catch((err: unknown) => {
    request.log.warn({ err }, 'wsguard: a logout token\'s jti could not be released; a retry of it will be refused')
  })
}

/**
 * A claim that failed here may still be applied by the store later (its own timeout can be
 * longer than `storeTimeoutMs`): the logout was answered 503, so a late `true` is given back,
 * or the IdP's retry would be refused as a replay and the logout lost. Until the claim has
 * answered (and a late `true` been given back), the id is `unsettled`: a retry meanwhile is
 * answered 503 too, never checked against a claim that may still land before it.
 */
function releaseIfLate (request: FastifyRequest, config: BackchannelLogoutConfig, unsettled: Set<string>, id: string, claim: Promise<boolean>): void {
  // One entry per verified logout token whose claim is still out (only the IdP can sign one).
  unsettled.add(id)
  claim.then(async (late) => { if (late === true) await release(request, config, id) }, () => {})
    .finally(() => { unsettled.delete(id) })
}

/** What the endpoint keeps across requests. */
interface Endpoint {
  readonly config: BackchannelLogoutConfig
  readonly verifier: LogoutTokenVerifier
  /** logout ids whose claim gave no answer in time and has not answered since (see releaseIfLate) */
  readonly unsettled: Set<string>
  /** per user (`iss` and `sub`), the `until` of each logout in force made here */
  readonly quota: ExpiringQuota
}

async function handle ({ config, verifier, unsettled, quota }: Endpoint, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const token = logoutTokenOf(request.body)
  if (token === undefined) return refuse(request, reply, 'request')
  const outcome = await verifier.verify(token)
  if (!outcome.ok) return outcome.fault === 'unavailable' ? fail(request, reply, 'the issuer\'s keys are unavailable') : refuse(request, reply, outcome.fault)
  const { logout } = outcome
  const { replays, revocations, storeTimeoutMs } = config

  // Claimed only now, once every check passed: a refused token never uses up its jti.
  const id = replayId(logout)
  if (unsettled.has(id)) return fail(request, reply, 'an earlier delivery of this token is still unanswered by the replay store')
  let first: boolean
  const claim = Promise.resolve().then(() => replays.claim(id, logout.replayUntil))
  try {
    first = await bounded(() => claim, storeTimeoutMs, 'replay store')
  } catch (err) {
    releaseIfLate(request, config, unsettled, id, claim)
    return fail(request, reply, 'the replay store failed', err)
  }
  if (first === false) return refuse(request, reply, 'replayed')
  if (first !== true) return fail(request, reply, 'the replay store answered something other than true or false')

  // As of the logout's iat, on the IdP's clock (the clock of the tokens it refuses), not of its
  // arrival: a retry or a late delivery of one logout is the same record, and does not refuse
  // the tokens of a sign-in made after the logout.
  const at = logout.issuedAt
  // Whole milliseconds (an iat may have a fraction): a store with TTLs in ms refuses one.
  const revocation: Revocation = { filter: filterOf(logout, config.revokeBy), at, until: Math.ceil(at + config.revocationRetentionMs) }
  // One user's share of the store (a token with no `sub` names no user to count it against).
  const user = logout.sub === undefined ? undefined : principalKey(logout.sub, logout.issuer)
  if (user !== undefined && typeof quota.take(user, revocation.until) === 'number') {
    await release(request, config, id)
    return fail(request, reply, `this user's logouts in force reached maxLogoutsPerSubject (${config.maxLogoutsPerSubject})`)
  }
  try {
    await bounded(() => revocations.revoke(revocation), storeTimeoutMs, 'revocation store')
  } catch (err) {
    // Not applied: the IdP may send the same token again, which must not read as a replay.
    if (user !== undefined) quota.release(user, revocation.until)
    await release(request, config, id)
    return fail(request, reply, 'the revocation store failed', err)
  }
  request.log.info({ issuer: logout.issuer, by: 'sessionId' in revocation.filter ? 'sessionId' : 'subject' }, 'wsguard: back-channel logout applied')
  return reply.code(200).send()
}
