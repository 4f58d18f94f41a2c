import { Type, type Static } from '@sinclair/typebox'
import type { Principal } from '@wsguard/core'

/** Version of the audit event schema; bumped on any incompatible change. */
export const AUDIT_SCHEMA_VERSION = 2

const Optional = Type.Optional

/** Who, as audit events carry it: never a credential. */
export const AuditSubject = Type.Object({
  subject: Type.String(),
  issuer: Optional(Type.String()),
  kind: Type.Union([Type.Literal('user'), Type.Literal('workload')]),
  method: Type.String(),
  scopes: Type.Array(Type.String()),
  /** the token's sid (or auth-handshake's generated session id) */
  principalSessionId: Type.String(),
  tokenId: Optional(Type.String()),
  /** ms since epoch */
  expiresAt: Optional(Type.Number())
}, { additionalProperties: false })

/** Where the revocation that closed a session came from: the issuing instance, who asked, why (each at most 128 characters, then `…`). */
export const AuditRevocation = Type.Object({
  instance: Optional(Type.String()),
  actor: Optional(Type.String()),
  reason: Optional(Type.String())
}, { additionalProperties: false })

const base = {
  /** the schema version */
  v: Type.Literal(AUDIT_SCHEMA_VERSION),
  /** ms since epoch, from the telemetry clock */
  at: Type.Number(),
  route: Optional(Type.String()),
  who: Optional(AuditSubject)
}

const session = {
  ...base,
  /** the connection's id (request.wsSession.id) */
  sessionId: Type.String(),
  route: Type.String(),
  remoteAddress: Optional(Type.String()),
  origin: Optional(Type.String())
}

export const AuditEventSchema = Type.Union([
  Type.Object({ ...base, event: Type.Literal('handshake.rejected'), route: Type.String(), source: Type.String(), code: Type.String(), statusCode: Type.Number(), detail: Optional(Type.String()), remoteAddress: Type.String(), origin: Optional(Type.String()) }, { additionalProperties: false }),
  Type.Object({ ...session, event: Type.Literal('session.opened'), deadline: Type.Number() }, { additionalProperties: false }),
  Type.Object({ ...session, event: Type.Literal('session.refreshed'), previousExpiresAt: Optional(Type.Number()) }, { additionalProperties: false }),
  Type.Object({ ...session, event: Type.Literal('session.refresh_failed'), code: Type.String() }, { additionalProperties: false }),
  Type.Object({ ...session, event: Type.Literal('session.revoked'), by: Type.String(), revocation: Optional(AuditRevocation) }, { additionalProperties: false }),
  Type.Object({ ...session, event: Type.Literal('session.closed'), code: Type.Number(), closedBy: Type.Union([Type.Literal('server'), Type.Literal('peer')]), reason: Type.String(), openedAt: Type.Number(), durationMs: Type.Number(), framesIn: Type.Number(), framesOut: Type.Number(), revocation: Optional(AuditRevocation) }, { additionalProperties: false }),
  Type.Object({ ...base, event: Type.Literal('topic.denied'), sessionId: Optional(Type.String()), remoteAddress: Optional(Type.String()), action: Type.String(), topic: Type.String(), reason: Type.String(), rule: Optional(Type.String()), shadow: Type.Boolean() }, { additionalProperties: false }),
  Type.Object({ ...base, event: Type.Literal('anomaly'), kind: Type.Union([Type.Literal('reconnect-storm'), Type.Literal('failure-spike'), Type.Literal('long-session')]), scope: Optional(Type.String()), key: Optional(Type.String()), count: Optional(Type.Number()), limit: Optional(Type.Number()), throttled: Optional(Type.Boolean()), reasons: Optional(Type.Record(Type.String(), Type.Number())), sessionId: Optional(Type.String()), remoteAddress: Optional(Type.String()) }, { additionalProperties: false })
])

export type AuditEvent = Static<typeof AuditEventSchema>

export function auditSubject (p: Principal | null | undefined): Static<typeof AuditSubject> | undefined {
  if (p === null || p === undefined) return undefined
  // One literal; absent fields stay undefined, which JSON leaves out of the line.
  return {
    subject: p.id,
    issuer: p.issuer,
    kind: p.kind,
    method: p.method,
    scopes: p.scopes as string[], // frozen with the principal: serialized, never changed
    principalSessionId: p.sessionId,
    tokenId: p.tokenId,
    expiresAt: p.expiresAt
  }
}
