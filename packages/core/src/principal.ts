import { Type, type Static } from '@sinclair/typebox'

/**
 * Claims every verified token carries. Apps add their own by augmenting
 * `WsguardClaims` (see the README, "TypeScript").
 */
export interface StandardClaims {
  iss?: string
  sub?: string
  aud?: string | string[]
  exp?: number
  nbf?: number
  iat?: number
  jti?: string
  sid?: string
  auth_time?: number
  acr?: string
  scope?: string
  scp?: string[]
  client_id?: string
  cnf?: { 'x5t#S256'?: string }
  [claim: string]: unknown
}

/**
 * The app's claims. Augment it once with the static type of the claims schema
 * passed to auth-handshake, and `request.principal.claims` is typed everywhere:
 *
 * ```ts
 * const claims = Type.Object({ tenant: Type.String() })
 * declare module '@wsguard/core' { interface WsguardClaims extends Static<typeof claims> {} }
 * ```
 */
export interface WsguardClaims extends StandardClaims {}

export const PrincipalKind = Type.Union([Type.Literal('user'), Type.Literal('workload')])
export const AuthMethod = Type.Union([
  Type.Literal('jwt'),
  Type.Literal('mtls'),
  Type.Literal('jwt+mtls'),
  Type.Literal('ticket'),
  Type.Literal('custom')
])

export const CertificateIdentity = Type.Object({
  fingerprint256: Type.String(),
  subject: Type.String(),
  spiffeId: Type.Optional(Type.String()),
  notAfter: Type.Number({ description: 'ms since epoch' })
})

/** TypeBox schema of a principal, for apps that validate or document it. */
export const PrincipalSchema = Type.Object({
  id: Type.String({ minLength: 1 }),
  kind: PrincipalKind,
  method: AuthMethod,
  issuer: Type.Optional(Type.String()),
  scopes: Type.Array(Type.String()),
  claims: Type.Record(Type.String(), Type.Unknown()),
  sessionId: Type.String({ minLength: 1 }),
  tokenId: Type.Optional(Type.String()),
  expiresAt: Type.Optional(Type.Number({ description: 'ms since epoch' })),
  certificate: Type.Optional(CertificateIdentity)
})

export type PrincipalKind = Static<typeof PrincipalKind>
export type AuthMethod = Static<typeof AuthMethod>
export type CertificateIdentity = Static<typeof CertificateIdentity>

/** Who opened the socket. Frozen; replaced (never mutated) by an in-band refresh. */
export interface Principal<Claims = WsguardClaims> {
  readonly id: string
  readonly kind: PrincipalKind
  readonly method: AuthMethod
  readonly issuer?: string
  readonly scopes: readonly string[]
  readonly claims: Readonly<Claims>
  readonly sessionId: string
  readonly tokenId?: string
  /** ms since epoch: earliest of token `exp` and certificate `notAfter`. */
  readonly expiresAt?: number
  readonly certificate?: Readonly<CertificateIdentity>
}
