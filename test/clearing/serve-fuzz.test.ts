/**
 * The clearing service under arbitrary requests (spec/clearing-api.md §3 bounds, §4 errors): any method on any
 * path, with or without the operator credential, any content type, and bodies that are random bytes or a real
 * batch or refund mutated (truncated, bytes flipped, grown). Every answer is a status below 500 and, when it is
 * an error, JSON naming a code the spec lists; the money the clearing holds changes only through a batch or
 * refund that verifies; and the server still answers afterwards.
 */
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { createRefund, tokenHash } from '../../src/index.js';
import { createClearingServer } from '../../src/server/api.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet } from '../reader/helpers.js';
import { isErrorCode } from '../../base/error-codes.js';
import { sell, vendingReader } from './vending.js';

const issuer = makeIssuer('serve-fuzz');
const OP = 'e1'.repeat(32);
const CLOCK = () => NOW + 3600;

interface Req {
  method: string;
  path: string;
  auth: string | undefined;
  type: string | undefined;
  body: Uint8Array | undefined;
}

function send(port: number, r: Req): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (r.auth !== undefined) headers.authorization = r.auth;
    if (r.type !== undefined) headers['content-type'] = r.type;
    if (r.body !== undefined) headers['content-length'] = String(r.body.length);
    const req = request({ host: '127.0.0.1', port, method: r.method, path: r.path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${r.method} ${r.path}`)));
    req.end(r.body === undefined ? undefined : Buffer.from(r.body));
  });
}

describe('clearing serve: arbitrary requests', () => {
  it('answers every request below 500, errors as JSON with a code the spec lists; only verified batches and refunds move money', async () => {
    // Real material to mutate: two batches of one reader and a refund of one of its sales.
    const reader = vendingReader(issuer, 'serve-fuzz', 601);
    const merchant = makeReader(issuer, 'serve-fuzz', 601, 'vending', 90);
    const w = makeWallet(issuer, 'serve-fuzz', 'a');
    const t1 = await sell(reader, w, 1, 250);
    const b1 = reader.export(NOW + 60).bytes;
    await sell(reader, w, 2, 120);
    const b2 = reader.export(NOW + 120).bytes;
    const refundBytes = createRefund({ readerCert: merchant.cert, secretKey: merchant.secretKey }, { tokenHash: tokenHash(t1), amount: 100, currency: HKD, time: NOW + 3000 }).bytes;

    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const server: Server = createClearingServer({ clearing, issuer, operatorToken: OP, clock: CLOCK, blocklistCheckSeconds: 0 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;

    const hex = fc.uint8Array({ minLength: 0, maxLength: 40 }).map((b) => Buffer.from(b).toString('hex'));
    const segment = fc.oneof(
      fc.constantFrom('', '.', '..', '%2e%2e', '%00', 'v1', 'batches', 'refunds', '0', '-1', '4294967296', '99999999999999999', 'x'.repeat(300)),
      fc.string({ maxLength: 12 }).map(encodeURIComponent),
      hex,
    );
    const query = fc.oneof(
      fc.constant(''),
      fc.tuple(fc.constantFrom('after', 'limit', 'x'), fc.string({ maxLength: 20 })).map(([k, v]) => `?${k}=${encodeURIComponent(v)}`),
      fc.constantFrom('?limit=0', '?limit=101', '?limit=1&limit=2', '?after=AAAAAAAAAAAA', '?', '?&&=='),
    );
    const path = fc.oneof(
      fc.constantFrom('/v1/batches', '/v1/keyset', '/v1/blocklist', '/v1/report', '/v1/refunds', '/v1/webhooks', '/v1/readers/601', '/', '/v2/batches', '/v1/', '//v1/batches'),
      fc.tuple(fc.constantFrom('/v1/readers/', '/v1/payments/', '/v1/batches/', '/v1/refunds/'), segment).map(([a, b]) => a + b),
      fc.constant(`/v1/payments/${Buffer.from(tokenHash(t1)).toString('hex')}`),
      fc.array(segment, { maxLength: 4 }).map((s) => `/${s.join('/')}`),
    ).chain((p) => query.map((q) => p + q));
    const mutate = (base: Uint8Array) =>
      fc.oneof(
        fc.constant(base),
        fc.nat({ max: base.length }).map((n) => base.subarray(0, n)),
        fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }).map((flips) => {
          const m = base.slice();
          for (const [i, x] of flips) m[i]! ^= x;
          return m;
        }),
        fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => Uint8Array.from([...base, ...tail])),
      );
    const body = fc.oneof(
      fc.constant(undefined),
      fc.uint8Array({ maxLength: 600 }),
      mutate(b1),
      mutate(b2),
      mutate(refundBytes),
      fc.string({ maxLength: 80 }).map((s) => new TextEncoder().encode(s)),
    );
    const arbitrary = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'),
      path,
      auth: fc.constantFrom(undefined, `Bearer ${OP}`, 'Bearer ', `Bearer ${OP}0`, `bearer ${OP}`, 'Basic Zm9vOmJhcg==', `Bearer ${'E1'.repeat(32)}`),
      type: fc.constantFrom(undefined, 'application/cbor', 'application/cbor; charset=x', 'APPLICATION/CBOR', 'application/json', 'text/plain', ''),
      body,
    });
    // Requests a client means (the right method, type and credential) with real or mutated material.
    const get = fc.record({
      method: fc.constantFrom('GET', 'HEAD'),
      path: fc.constantFrom('/v1/keyset', '/v1/blocklist', '/v1/report', '/v1/refunds', '/v1/refunds?limit=1', '/v1/readers/601', `/v1/payments/${Buffer.from(tokenHash(t1)).toString('hex')}`),
      auth: fc.constantFrom(undefined, `Bearer ${OP}`),
      type: fc.constant(undefined),
      body: fc.constant(undefined),
    });
    const postBatch = fc.record({ method: fc.constant('POST'), path: fc.constant('/v1/batches'), auth: fc.constant(undefined), type: fc.constant('application/cbor'), body: fc.oneof(mutate(b1), mutate(b2)) });
    const postRefund = fc.record({ method: fc.constant('POST'), path: fc.constant('/v1/refunds'), auth: fc.constant(undefined), type: fc.constant('application/cbor'), body: mutate(refundBytes) });
    const req: fc.Arbitrary<Req> = fc.oneof({ arbitrary: arbitrary, weight: 3 }, { arbitrary: get, weight: 1 }, { arbitrary: postBatch, weight: 1 }, { arbitrary: postRefund, weight: 1 });

    const seen = { ok: 0, errors: new Map<string, number>() };
    // Every request that moved money (a batch ingested, a refund accepted), in order.
    const moved: { kind: 'batch' | 'refund'; bytes: Uint8Array }[] = [];
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
    try {
      await fc.assert(
        fc.asyncProperty(req, async (r) => {
          const a = await send(port, r);
          expect(a.status, `${r.method} ${r.path}`).toBeGreaterThanOrEqual(200);
          expect(a.status, `${r.method} ${r.path}`).toBeLessThan(500);
          if (r.method === 'HEAD') return;
          if (a.status >= 400) {
            const j = JSON.parse(a.body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } };
            expect(typeof j.error?.code, `${r.method} ${r.path}: ${a.body.toString('utf8').slice(0, 200)}`).toBe('string');
            expect(typeof j.error?.message).toBe('string');
            expect(isErrorCode(j.error!.code as string), `${String(j.error!.code)} is not in spec/`).toBe(true);
            seen.errors.set(j.error!.code as string, (seen.errors.get(j.error!.code as string) ?? 0) + 1);
          } else {
            seen.ok++;
            if (r.method !== 'POST') return; // a GET's answer is JSON or, for the key set and blocklist, CBOR
            const outcome = (JSON.parse(a.body.toString('utf8')) as { outcome?: unknown }).outcome;
            const route = r.path.split('?')[0];
            if (route === '/v1/batches' && outcome === 'ingested') moved.push({ kind: 'batch', bytes: r.body! });
            if (route === '/v1/refunds' && outcome === 'accepted') moved.push({ kind: 'refund', bytes: r.body! });
          }
        }),
        { numRuns: 2000, seed: 16_2026 },
      );
      // The run met answers of many kinds (so the checks above checked something), and the server still serves.
      expect(seen.ok).toBeGreaterThan(10);
      expect(seen.errors.size).toBeGreaterThan(8);
      expect((await send(port, { method: 'GET', path: '/v1/keyset', auth: undefined, type: undefined, body: undefined })).status).toBe(200);
      // Money: only the real batches and the real refund moved it, each once, and a clearing that is sent just
      // those, in the same order, reports the same.
      expect(moved.every((m) => (m.kind === 'batch' ? [b1, b2] : [refundBytes]).some((x) => same(x, m.bytes)))).toBe(true);
      expect(moved.length).toBe(new Set(moved.map((m) => Buffer.from(m.bytes).toString('hex'))).size);
      expect(moved.some((m) => m.kind === 'batch')).toBe(true);
      const direct = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
      for (const m of moved) {
        if (m.kind === 'batch') expect((await direct.ingest(m.bytes)).outcome).toBe('ingested');
        else expect((await direct.refund(m.bytes)).outcome).toBe('accepted');
      }
      const plain = (x: unknown) => JSON.parse(JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as unknown;
      // (The blocklist's version aside: serving GET /v1/blocklist issues one.)
      const money = async (c: Clearing) => plain({ ...(await c.report()), blocklist: null });
      expect(await money(clearing)).toEqual(await money(direct));
      await direct.close();
    } finally {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      await clearing.close();
    }
  }, 120_000);
});
