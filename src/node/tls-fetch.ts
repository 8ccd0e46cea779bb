/**
 * `reader sync --ca F`: HTTPS to a clearing whose certificate chains to a private CA (spec/clearing-api.md
 * §1.1). Node's global fetch cannot be given a CA without the undici package, so this is the small subset of
 * fetch that src/reader/sync.ts uses (method, headers, body, signal; status, headers, arrayBuffer) over
 * node:https with `ca` set: ONLY that CA is trusted for this connection (not the default roots), and the
 * host name is checked against the certificate as usual. An answer body is bounded by MAX_ANSWER_BYTES.
 *
 * Without --ca, sync uses the global fetch, which trusts Node's bundled root store (plus
 * NODE_EXTRA_CA_CERTS).
 */
import { X509Certificate } from 'node:crypto';
import { readFileBounded } from './bounded-file.js';
import { request } from 'node:https';
import { OffpayError } from '../../base/errors.js';
import { MAX_ANSWER_BYTES } from '../reader/transport.js';

/** Largest CA file read, bytes. */
export const MAX_CA_BYTES = 1024 * 1024;

/** Read a PEM file of one or more CA certificates. Throws `sync.bad_ca` (missing, too large, not a certificate). */
export function loadCaFile(path: string): Buffer {
  const pem = readFileBounded(path, MAX_CA_BYTES, 'sync.bad_ca', 'CA file');
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new OffpayError('sync.bad_ca', `CA file ${path} holds no PEM certificate`);
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch (e) {
      throw new OffpayError('sync.bad_ca', `CA file ${path}: a certificate does not parse: ${(e as Error).message}`);
    }
  }
  return pem;
}

/** Statuses whose answers have no body by the Fetch standard. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * The answer as the part of a fetch Response that the transport reads (status, headers, type, body). Not a
 * `new Response(...)`: that throws for a status outside 200..599 (a 600 is an answer the spec judges, §8) and for
 * a body with 205, and a throw in the socket's 'end' handler would never settle the request.
 */
function answer(status: number, headers: Headers, bytes: Buffer): Response {
  const body = NULL_BODY.has(status) || bytes.length === 0 ? null : new Response(new Uint8Array(bytes)).body;
  return { status, statusText: '', ok: status >= 200 && status <= 299, headers, type: 'basic', url: '', redirected: false, body, bodyUsed: false } as unknown as Response;
}

/** A fetch (the subset sync uses) that trusts only `ca` for https:// URLs. */
export function caFetch(ca: Buffer): typeof fetch {
  const f = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> =>
    new Promise((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : input);
      if (url.protocol !== 'https:') return reject(new OffpayError('sync.bad_url', '--ca is for https:// URLs'));
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      const body = init.body === undefined || init.body === null ? undefined : Buffer.from(init.body as Uint8Array);
      if (body) headers['content-length'] = String(body.length);
      const req = request(url, { method: init.method ?? 'GET', headers, ca, ...(init.signal ? { signal: init.signal } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (c: Buffer) => {
          total += c.length;
          if (total > MAX_ANSWER_BYTES) {
            res.destroy();
            reject(new OffpayError('sync.bad_answer', `an answer passed ${MAX_ANSWER_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          try {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
            resolve(answer(res.statusCode ?? 0, h, Buffer.concat(chunks, total)));
          } catch (e) {
            // A header value fetch's Headers refuses: an answer that makes no sense, not a network fault.
            reject(new OffpayError('sync.bad_answer', `an answer that cannot be read: ${(e as Error).message}`));
          }
        });
      });
      req.on('error', (e) => reject(Object.assign(new TypeError('fetch failed'), { cause: e })));
      req.end(body);
    });
  return f as typeof fetch;
}
