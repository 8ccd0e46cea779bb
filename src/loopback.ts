/** Hosts that are this machine besides 127.0.0.0/8. */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Whether a host name is this machine: 127.0.0.0/8, ::1 (bare or bracketed, as URL.hostname gives it) or localhost. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
