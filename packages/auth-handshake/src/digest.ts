import * as crypto from 'node:crypto'

type OneShot = (algorithm: string, data: string, encoding: 'base64url') => string
// crypto.hash (Node 20.12 and later) needs no Hash object: about 0.75 µs for a token, not 1.15.
const oneShot = (crypto as { hash?: OneShot }).hash

/**
 * The SHA-256 of a text's UTF-8 bytes, base64url (43 characters): what a credential is kept or
 * looked up under where the credential itself must not be kept (tickets, verified tokens,
 * logout records).
 */
export const sha256 = oneShot !== undefined
  ? (text: string): string => oneShot('sha256', text, 'base64url')
  /* c8 ignore next */
  : (text: string): string => crypto.createHash('sha256').update(text).digest('base64url')
