/** This plugin's name: in log lines, on the rejection channel, on the handshake checks it registers. */
export const SOURCE = '@wsguard/session-expiry'
