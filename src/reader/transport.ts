/**
 * The clearing service's HTTP transport for readers and merchants (spec/clearing-api.md §8 "Retries"):
 * browser-safe (fetch only). Every request is retried on a network error, a timeout, 408, 429 or 5xx, after
 * baseDelayMs x 2^(k-1) ms for retry k (capped at maxDelayMs), for at most `attempts` tries and within the
 * whole deadline; then `sync.unreachable`. A TLS certificate the client does not trust is `sync.tls_untrusted`
 * at the first try (not a network fault). An answer body is read up to MAX_ANSWER_BYTES, else
 * `sync.bad_answer`; a redirect is not followed and is `sync.bad_answer` too. `reader sync` (sync.ts) and
 * `reader refund` use it.
 */
import { concatBytes } from '../../base/bytes.js';
import { OffpayError } from '../../base/errors.js';
import { retryDelayMs, statusClass } from './sync-answers.js';

/** Options of {@link clearingCaller} (validated there: `sync.bad_option`, `sync.bad_url`). */
export interface CallerOptions {
  /** Base URL of the clearing service, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Tries per request (default 8; 1 .. 100). */
  attempts?: number;
  /** First retry delay, ms (default 250); doubled each retry up to maxDelayMs (default 8,000). */
  baseDelayMs?: number;
  /** Retry delay cap, ms (default 8,000). */
  maxDelayMs?: number;
  /** Whole deadline, ms (default 120,000). */
  deadlineMs?: number;
  /** Per request timeout, ms (default 30,000). */
  requestTimeoutMs?: number;
  /** The fetch to use (default: the global one; caFetch of node/tls-fetch.ts for --ca). */
  fetch?: typeof fetch;
  /** Progress lines (retries). */
  log?: (line: string) => void;
}

/**
 * Largest answer body read, bytes: the largest blocklist (MAX_BLOCKLIST_BYTES, 64,001,024) with room to spare
 * (spec/clearing-api.md §1.1). A longer answer is `sync.bad_answer`, found before it is all read.
 */
export const MAX_ANSWER_BYTES = 80 * 1024 * 1024;

/**
 * An answer's body, at most `max` bytes: a declared Content-Length over it is refused before anything is read,
 * and a body that runs past it (chunked, or a length that lies) is cancelled there. Never buffers more than
 * `max` plus one chunk.
 */
export async function readAnswer(r: Response, max: number, what: string): Promise<Uint8Array> {
  const tooLong = () => new OffpayError('sync.bad_answer', `${what}: the answer is over ${max} bytes`);
  const declared = r.headers.get('content-length');
  if (declared !== null && /^[0-9]+$/.test(declared.trim()) && Number(declared.trim()) > max) {
    await r.body?.cancel().catch(() => undefined);
    throw tooLong();
  }
  if (!r.body) return new Uint8Array(0);
  const reader = r.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLong();
    }
    parts.push(value);
  }
  return parts.length === 1 ? parts[0]! : concatBytes(parts);
}

/** A request with retries: the final (non-retryable) answer's status, body and headers. */
export type ClearingCall = (path: string, init?: RequestInit) => Promise<{ status: number; body: Uint8Array; headers: Headers }>;

function opt(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new OffpayError('sync.bad_option', `${name} ${String(v)} must be an integer in ${min}..${max}`);
  return v;
}

/** Node/OpenSSL error codes of a certificate the client refuses (chain, name, dates). */
export function isTlsTrustFailure(code: string): boolean {
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The clearing's base URL (spec/clearing-api.md §8, "The URL"): absolute http(s), with no user name or password
 * (fetch refuses them: they would only ever fail, retried as a network fault), no query and no fragment; its
 * path is kept as a prefix (a clearing behind a reverse proxy at https://host/clearing/), with a final slash
 * added when it has none. Else `sync.bad_url`.
 */
export function clearingBase(url: string): URL {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new OffpayError('sync.bad_url', `'${url}' is not an http(s) URL`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new OffpayError('sync.bad_url', `'${url}' is not an http(s) URL`);
  if (base.username !== '' || base.password !== '') throw new OffpayError('sync.bad_url', `'${base.protocol}//${base.host}...': a clearing URL carries no user name or password`);
  if (base.search !== '' || base.hash !== '') throw new OffpayError('sync.bad_url', `'${url}': a clearing URL has no query or fragment`);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return base;
}

/**
 * The URL of an API path (`/v1/...`, perhaps with a query) under the base: its path prefix kept (`new URL('/v1/x',
 * base)` would drop it). Built by setting the path of a copy of the base, never by resolving a reference: a prefix
 * such as `//other.example/` would otherwise name another host.
 */
export function endpoint(base: URL, path: string): URL {
  const u = new URL(base.href);
  const q = path.indexOf('?');
  u.pathname = base.pathname + (q < 0 ? path : path.slice(0, q)).replace(/^\/+/, '');
  if (q >= 0) u.search = path.slice(q);
  return u;
}

/** A caller for one clearing service: `call` with retries, the parsed `base` URL, and how many retries so far. */
export function clearingCaller(o: CallerOptions): { call: ClearingCall; base: URL; retries: () => number } {
  const attempts = opt('attempts', o.attempts, 8, 1, 100);
  const baseDelay = opt('baseDelayMs', o.baseDelayMs, 250, 1, 60_000);
  const maxDelay = opt('maxDelayMs', o.maxDelayMs, 8_000, 1, 600_000);
  const deadlineMs = opt('deadlineMs', o.deadlineMs, 120_000, 1, 86_400_000);
  const requestTimeout = opt('requestTimeoutMs', o.requestTimeoutMs, 30_000, 1, 600_000);
  const base = clearingBase(o.url);
  const doFetch = o.fetch ?? fetch;
  const deadline = Date.now() + deadlineMs;
  let retries = 0;

  const call: ClearingCall = async (path, init = {}) => {
    let lastError = '';
    for (let k = 0; k < attempts; k++) {
      if (k > 0) {
        const wait = retryDelayMs(k, baseDelay, maxDelay);
        if (Date.now() + wait > deadline) break;
        retries++;
        o.log?.(`  ${lastError}; retrying in ${wait} ms`);
        await sleep(wait);
      }
      try {
        // Redirects are not followed (a batch goes to the clearing it was meant for, nowhere else): a 3xx
        // answer, or a browser's opaque one (status 0), is sync.bad_answer.
        const r = await doFetch(endpoint(base, path), { ...init, redirect: 'manual', signal: AbortSignal.timeout(Math.max(1, Math.min(requestTimeout, deadline - Date.now()))) });
        if (r.type === 'opaqueredirect' || statusClass(r.status) === 'redirect') {
          await r.body?.cancel().catch(() => undefined);
          throw new OffpayError('sync.bad_answer', `${init.method ?? 'GET'} ${path}: the clearing answered a redirect (HTTP ${r.status}${r.headers.get('location') ? ` to ${r.headers.get('location')!.slice(0, 200)}` : ''}); sync does not follow redirects`);
        }
        const body = await readAnswer(r, MAX_ANSWER_BYTES, `${init.method ?? 'GET'} ${path}`);
        // 408: the server did not get the whole request in time (a slow link); sending it again can help.
        if (statusClass(r.status) === 'retry') {
          lastError = `${path}: HTTP ${r.status}`;
          continue;
        }
        return { status: r.status, body, headers: r.headers };
      } catch (e) {
        if (e instanceof OffpayError) throw e;
        const code = (e as { cause?: { code?: unknown } }).cause?.code;
        // A certificate the client does not trust is not a network fault: retrying cannot help.
        if (typeof code === 'string' && isTlsTrustFailure(code)) throw new OffpayError('sync.tls_untrusted', `clearing at ${base.origin}: the server's TLS certificate is not trusted (${code}); give its CA with --ca`);
        lastError = `${path}: ${(e as Error).message}${typeof code === 'string' ? ` (${code})` : ''}`;
      }
    }
    throw new OffpayError('sync.unreachable', `clearing at ${base.origin} not reachable: ${lastError}`);
  };
  return { call, base, retries: () => retries };
}
