// The embedded OpenID Provider (oidc-provider) on its own loopback port: the authorization
// code flow with PKCE, a sign-in page with one button per demo user, JWT access tokens
// (`at+jwt`) with the user's tenant and roles, refresh tokens, and client credentials for the
// storm client.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { text } from 'node:stream/consumers'
import type Provider from 'oidc-provider'
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js'
import { escapeHtml, page } from './pages/html.js'
import { AUDIENCE, SCOPE, STORM_CLIENT, USERS, userById } from './users.js'

/** The web app, a confidential client of the provider. */
export const WEB_CLIENT = { id: 'demo-web', secret: randomBytes(24).toString('base64url') }
/** The storm client: client credentials only. */
export const STORM_SECRET = randomBytes(24).toString('base64url')
/** The resource (RFC 8707) the access tokens are for: the API. */
export const RESOURCE = 'urn:wsguard:demo-api'

export interface ProviderOptions {
  /** access token lifetime, seconds */
  accessTokenTtlS: number
}

export interface DemoProvider {
  issuer: string
  /** registers the web app's callback URL (known once the app listens) */
  registerWebApp(redirectUri: string): void
  close(): Promise<void>
}

interface Ctx { oidc: { session: { accountId: string, grantIdFor(id: string): string | undefined }, client: { clientId: string }, provider: Provider } }

function signingKey (): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { ...privateKey.export({ format: 'jwk' }), kid: `demo-${randomBytes(4).toString('hex')}`, alg: 'ES256', use: 'sig' }
}

/** A token's tenant and roles, read at each issue: a user's (code flow), else the storm client's (the only other client). */
function claimsOf (token: { accountId?: string }): { tenant: string, roles: string[] } {
  const { tenant, roles } = userById(token.accountId ?? '') ?? STORM_CLIENT
  return { tenant, roles: [...roles] }
}

/**
 * oidc-provider, imported on first use. Its import warns that Node 20 is not an LTS it
 * supports (it runs the demo fine); the demo's output stays quiet.
 */
async function loadProvider (): Promise<typeof Provider> {
  const warn = console.warn
  console.warn = () => {}
  try {
    return (await import('oidc-provider')).default
  } finally {
    console.warn = warn
  }
}

function buildProvider (OpenIdProvider: typeof Provider, issuer: string, options: ProviderOptions, key: Record<string, unknown>, redirectUri: string | undefined): Provider {
  const web = {
    client_id: WEB_CLIENT.id,
    client_secret: WEB_CLIENT.secret,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [redirectUri]
  }
  const storm = { client_id: STORM_CLIENT.id, client_secret: STORM_SECRET, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }
  return new OpenIdProvider(issuer, {
    adapter: createMemoryAdapter(0),
    jwks: { keys: [key] } as never,
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    ttl: {
      AccessToken: options.accessTokenTtlS,
      ClientCredentials: options.accessTokenTtlS,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 86_400,
      Interaction: 600,
      Session: 86_400,
      Grant: 86_400
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: ['openid'],
    clients: redirectUri === undefined ? [storm] : [web, storm],
    // PKCE for every client, confidential ones too (OAuth 2.1).
    pkce: { required: () => true },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    // Only the sign-in page logs accounts in, and only demo users.
    findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id }) }),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: SCOPE, audience: AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: options.accessTokenTtlS, jwt: { sign: { alg: 'ES256' } } })
      }
    },
    // The web app keeps a refresh token, to get new access tokens for the in-band refresh.
    issueRefreshToken: (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    extraTokenClaims: (_ctx: unknown, token: { accountId?: string }) => claimsOf(token),
    // First-party app: the grant is given at sign-in, without a consent screen.
    loadExistingGrant: async (ctx: Ctx) => {
      const { oidc } = ctx
      const grantId = oidc.session.grantIdFor(oidc.client.clientId)
      if (grantId !== undefined) return await oidc.provider.Grant.find(grantId)
      const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId })
      grant.addOIDCScope('openid')
      grant.addResourceScope(RESOURCE, SCOPE)
      await grant.save()
      return grant
    }
  } as never)
}

/** The provider's own sign-in page: one form per demo user. */
export function signInPage (uid: string): string {
  const forms = USERS.map((u) => `<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<input type="hidden" name="user" value="${escapeHtml(u.id)}"><button class="primary" type="submit">Sign in as ${escapeHtml(u.id)}</button>
<span class="muted">tenant ${escapeHtml(u.tenant)}, roles ${escapeHtml(u.roles.join(', '))}</span></form>`).join('\n')
  return page('Sign in · demo OpenID Provider', `<section><h1>Demo OpenID Provider</h1>
<p>Pick a demo user. This is the provider's own page (another port, another origin): the app never sees a password.</p>
<div style="display:grid;gap:.6rem">${forms}</div></section>`)
}

async function interaction (req: IncomingMessage, res: ServerResponse, op: Provider): Promise<void> {
  const details = await op.interactionDetails(req, res)
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(signInPage(details.uid))
    return
  }
  const user = new URLSearchParams(await text(req)).get('user') ?? ''
  if (userById(user) === undefined) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('unknown demo user')
    return
  }
  await op.interactionFinished(req, res, { login: { accountId: user } }, { mergeWithLastSubmission: false })
}

export async function startProvider (options: ProviderOptions): Promise<DemoProvider> {
  // One key for the provider's life: the API fetches it (discovery) before the web app is
  // registered, and the provider is built again then, with the web client.
  const key = signingKey()
  const OpenIdProvider = await loadProvider()
  let provider: Provider | undefined
  const server = createServer((req, res) => {
    const op = provider as Provider
    if (req.url?.startsWith('/interaction/') === true) {
      interaction(req, res, op).catch((err: Error) => { res.writeHead(400, { 'content-type': 'text/plain' }).end(err.message) })
      return
    }
    ;(op.callback() as unknown as (req: IncomingMessage, res: ServerResponse) => void)(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  provider = buildProvider(OpenIdProvider, issuer, options, key, undefined)
  return {
    issuer,
    registerWebApp (redirectUri) { provider = buildProvider(OpenIdProvider, issuer, options, key, redirectUri) },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}
