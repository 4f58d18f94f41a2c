/**
 * WebSocket close codes wsguard uses after the upgrade (this package's README, `CloseCode`; what a
 * client should do on each: the repository's docs/ARCHITECTURE.md, "Close codes after upgrade").
 */
export const CloseCode = Object.freeze({
  /** server shutting down: reconnect with backoff */
  GOING_AWAY: 1001,
  /** malformed control message: fix itself, do not loop */
  BAD_CONTROL_MESSAGE: 4400,
  /** credential expired and not refreshed in time: get a fresh credential */
  CREDENTIAL_EXPIRED: 4401,
  /** access revoked: do not reconnect with the same credential */
  REVOKED: 4403,
  /** idle or heartbeat timeout */
  IDLE_TIMEOUT: 4408,
  /** maximum session lifetime reached: reconnect now, re-authenticating */
  MAX_LIFETIME: 4409,
  /** too many sessions for this principal: reconnect after the hinted delay */
  TOO_MANY_SESSIONS: 4429
} as const)

export type CloseCode = typeof CloseCode[keyof typeof CloseCode]
