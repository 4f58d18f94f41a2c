import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider from 'oidc-provider'
import type { TestKey } from './keys.js'

export interface OidcClient {
  clientId: string
  /** space-separated scopes this client may ask for */
  scope: string
  /** claims added to every access token of this client */
  claims?: Record<string, unknown>
}

export interface OidcIssuerOptions {
  /** signing keys; the first of each algorithm signs */
  keys: TestKey[]
  /** `aud` of the access tokens */
  audience: string
  clients: OidcClient[]
  /** access token lifetime, seconds. Default 300 */
  accessTokenTtlSeconds?: number
}

export interface TokenRequest {
  clientId: string
  scope?: string
  /** signing algorithm; must be one of the issuer's keys. Default: the first key's */
  alg?: string
}

/** A real OpenID Provider (`oidc-provider`) on 127.0.0.1 issuing JWT access tokens by client credentials. */
export interface OidcIssuer {
  issuer: string
  /** obtains an access token from the token endpoint */
  token(request: TokenRequest): Promise<string>
  /** serves a new key set from now on, as a key rotation at the IdP does */
  rotate(keys: TestKey[]): void
  /** requests to the key set endpoint so far */
  readonly jwksRequests: number
  close(): Promise<void>
}

const RESOURCE_BASE = 'https://wsguard.test/'

function buildProvider (issuer: string, options: OidcIssuerOptions, keys: TestKey[]): Provider {
  const scopes = new Set<string>()
  for (const c of options.clients) for (const s of c.scope.split(' ')) scopes.add(s)
  const byId = new Map(options.clients.map((c) => [c.clientId, c]))
  return new Provider(issuer, {
    jwks: { keys: keys.map((k) => k.privateJwk) } as never,
    scopes: [...scopes],
    clientDefaults: { id_token_signed_response_alg: keys[0]?.alg } as never,
    clients: options.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: `${c.clientId}-secret`,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: c.scope
    })),
    ttl: { ClientCredentials: options.accessTokenTtlSeconds ?? 300 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => `${RESOURCE_BASE}${keys[0]?.alg}`,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: [...scopes].join(' '),
          audience: options.audience,
          accessTokenFormat: 'jwt',
          accessTokenTTL: options.accessTokenTtlSeconds ?? 300,
          jwt: { sign: { alg: resource.slice(RESOURCE_BASE.length) } }
        })
      }
    } as never,
    extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) => byId.get(token.clientId ?? '')?.claims
  } as never)
}

export async function startOidcIssuer (options: OidcIssuerOptions): Promise<OidcIssuer> {
  let provider: Provider | undefined
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined
  let jwksRequests = 0
  const server = createServer((req, res) => {
    if (req.url === '/jwks') jwksRequests++
    ;(handler as (req: IncomingMessage, res: ServerResponse) => void)(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const install = (keys: TestKey[]): void => {
    provider = buildProvider(issuer, options, keys)
    handler = provider.callback() as unknown as (req: IncomingMessage, res: ServerResponse) => void
  }
  install(options.keys)

  return {
    issuer,
    get jwksRequests () { return jwksRequests },
    async token ({ clientId, scope, alg }) {
      const body = new URLSearchParams({ grant_type: 'client_credentials', resource: `${RESOURCE_BASE}${alg ?? options.keys[0]?.alg}` })
      if (scope !== undefined) body.set('scope', scope)
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: 'Basic ' + Buffer.from(`${clientId}:${clientId}-secret`).toString('base64')
        },
        body
      })
      const json = await res.json() as { access_token?: string, error?: string, error_description?: string }
      if (json.access_token === undefined) throw new Error(`token endpoint: ${json.error}: ${json.error_description}`)
      return json.access_token
    },
    rotate (keys) { install(keys) },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}
