// The web app's side of OpenID Connect: the authorization request with PKCE, and the token
// endpoint (code exchange, refresh, client credentials). Tokens stay on the server.
import { createHash, randomBytes } from 'node:crypto'
import { RESOURCE, STORM_SECRET, WEB_CLIENT } from './provider.js'
import { SCOPE, STORM_CLIENT } from './users.js'

/** What the app keeps per signed-in browser. Never sent to the page but the access token, on request. */
export interface Tokens {
  accessToken: string
  refreshToken: string
  /** ms since epoch */
  expiresAt: number
}

/** A sign-in under way: what the callback checks and needs. */
export interface PendingSignIn {
  state: string
  verifier: string
  url: string
}

const basic = (id: string, secret: string): string => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64')

/** The authorization request (code flow, PKCE S256) for the provider's sign-in page. */
export function authorizationRequest (issuer: string, redirectUri: string): PendingSignIn {
  const state = randomBytes(16).toString('base64url')
  const verifier = randomBytes(32).toString('base64url')
  const query = new URLSearchParams({
    client_id: WEB_CLIENT.id,
    response_type: 'code',
    scope: `openid ${SCOPE}`,
    redirect_uri: redirectUri,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state
  })
  return { state, verifier, url: `${issuer}/auth?${query.toString()}` }
}

async function tokenRequest (issuer: string, authorization: string, body: URLSearchParams): Promise<Tokens> {
  // (a client credentials answer has no refresh token; only its access token is used)
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
    body
  })
  const json = await res.json() as { access_token?: string, refresh_token?: string, expires_in?: number, error?: string }
  // The error names what the provider said, never a token.
  if (json.access_token === undefined) throw new Error(`token endpoint: HTTP ${res.status} ${String(json.error)}`)
  return { accessToken: json.access_token, refreshToken: json.refresh_token as string, expiresAt: Date.now() + (json.expires_in as number) * 1000 }
}

export async function exchangeCode (issuer: string, redirectUri: string, code: string, verifier: string): Promise<Tokens> {
  return await tokenRequest(issuer, basic(WEB_CLIENT.id, WEB_CLIENT.secret),
    new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }))
}

/** New tokens from the refresh token (the provider answers with the refresh token to keep, rotated or not). */
export async function refresh (issuer: string, tokens: Tokens): Promise<Tokens> {
  return await tokenRequest(issuer, basic(WEB_CLIENT.id, WEB_CLIENT.secret),
    new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refreshToken, resource: RESOURCE }))
}

/** An access token for the storm client (client credentials). */
export async function stormToken (issuer: string): Promise<string> {
  const tokens = await tokenRequest(issuer, basic(STORM_CLIENT.id, STORM_SECRET),
    new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, resource: RESOURCE }))
  return tokens.accessToken
}
