/** The close a socket gets from the client when the server selected its credential as the subprotocol. */
export const ECHO_CLOSE_CODE = 4400
export const ECHO_REASON = 'the server selected the credential as its subprotocol'
