/**
 * Refunds over HTTP (spec/clearing-api.md §2.8, §2.9, §2.6 rule 0, §9.1): POST /v1/refunds answers after the
 * store committed, 200 accepted or duplicate, 409 already_refunded, 422 for every other refusal, 413 over 4,096
 * bytes (declared and chunked, the body never read past the limit), 415 for another media type; the payment
 * becomes `refunded`; GET /v1/refunds and the report need the operator credential; the charge.refunded webhook
 * is queued before the answer, delivered signed, and a resent refund queues nothing new.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { createRefund, tokenHash, toHex, walletIdOf } from '../../src/index.js';
import type { RefundRow } from '../../src/clearing/store.js';
import { createClearingServer } from '../../src/server/api.js';
import { decodeRefundCursor, encodeRefundCursor } from '../../src/server/refund-list.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';

const issuer = makeIssuer('serve-refunds');
const OP = 'cd'.repeat(32);
const SECRET = '5f'.repeat(32);
const CLOCK = () => NOW + 3600;
const AT = NOW + 3000;
const dir = mkdtempSync(join(tmpdir(), 'offpay-serve-refunds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec = makeReader(issuer, 'serve-refunds', 501, 'vending', 90);
const other = makeReader(issuer, 'serve-refunds', 502, 'vending', 91);
const vending = () => vendingReader(issuer, 'serve-refunds', 501);
const refund = (t: Uint8Array, amount: number, by = spec, time = AT) =>
  createRefund({ readerCert: by.cert, secretKey: by.secretKey }, { tokenHash: tokenHash(t), amount, currency: HKD, time }).bytes;

async function serve(clearing: Clearing, webhooks?: WebhookService) {
  const server: Server = createClearingServer({ clearing, issuer, operatorToken: OP, clock: CLOCK, blocklistCheckSeconds: 0, ...(webhooks ? { webhooks } : {}) });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const send = async (path: string, b: Uint8Array, type = 'application/cbor') => {
    const r = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': type }, body: b as Uint8Array<ArrayBuffer> });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> & { error?: { code: string } } };
  };
  const get = async (path: string, token?: string) => {
    const r = await fetch(`${url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    return { status: r.status, body: (await r.json()) as Record<string, unknown> & { error?: { code: string } } };
  };
  const close = () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
  return { url, send, get, close };
}

describe('clearing serve: refunds', () => {
  it('POST /v1/refunds: accepted after commit, duplicate, 409, 422 with the code; the payment is refunded; the lists need the operator', async () => {
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const s = await serve(clearing);
    try {
      const r = vending();
      const w = makeWallet(issuer, 'serve-refunds', 'a');
      const t1 = await sell(r, w, 1, 1250);
      const t2 = await sell(r, w, 2, 800);
      expect((await s.send('/v1/batches', r.export(NOW + 60).bytes)).status).toBe(200);
      const h1 = toHex(tokenHash(t1));
      const x = refund(t1, 500);
      const ok = await s.send('/v1/refunds', x);
      expect(ok).toMatchObject({ status: 200, body: { outcome: 'accepted', reason: null, tokenHash: h1, refund: { tokenHash: h1, amount: '500', currency: HKD, operatorId: 90, readerId: 501, time: AT, acceptedAt: CLOCK(), charge: '1250', partial: true, walletId: toHex(walletIdOf(w.cert.walletPublicKey)) } } });
      // Answered after the commit: the store already holds it.
      expect((await clearing.store.refundOf(tokenHash(t1)))?.amount).toBe(500);
      expect(await s.send('/v1/refunds', x)).toMatchObject({ status: 200, body: { outcome: 'duplicate', refund: { amount: '500' } } });
      expect(await s.send('/v1/refunds', refund(t1, 100, spec, AT + 1))).toMatchObject({ status: 409, body: { outcome: 'rejected', reason: 'refund.already_refunded', error: { code: 'refund.already_refunded' } } });
      expect(await s.send('/v1/refunds', refund(t2, 801))).toMatchObject({ status: 422, body: { reason: 'refund.too_much', error: { code: 'refund.too_much' } } });
      expect(await s.send('/v1/refunds', refund(t2, 800, other))).toMatchObject({ status: 422, body: { reason: 'refund.wrong_merchant' } });
      expect(await s.send('/v1/refunds', refund(signToken(w, { payee: 501, amount: 5, counter: 77 }), 1))).toMatchObject({ status: 422, body: { reason: 'refund.unknown_payment' } });
      expect(await s.send('/v1/refunds', refund(t2, 800, spec, CLOCK() + 61))).toMatchObject({ status: 422, body: { reason: 'refund.future' } });
      const flipped = refund(t2, 800);
      flipped[flipped.length - 1]! ^= 1;
      expect(await s.send('/v1/refunds', flipped)).toMatchObject({ status: 422, body: { reason: 'refund.bad_signature' } });
      expect(await s.send('/v1/refunds', new Uint8Array([0x80]))).toMatchObject({ status: 422, body: { reason: 'message.bad_structure' } });
      expect(await s.send('/v1/refunds', x, 'application/json')).toMatchObject({ status: 415, body: { error: { code: 'api.unsupported_media_type' } } });
      // The payment state (§2.6): refunded, with the charge and the refund.
      expect(await s.get(`/v1/payments/${h1}`)).toMatchObject({ status: 200, body: { state: 'refunded', amount: '1250', currency: HKD, operatorId: 90, settledAs: 'sale', refund: { amount: '500', currency: HKD, time: AT, partial: true } } });
      expect((await s.get(`/v1/payments/${toHex(tokenHash(t2))}`)).body.state).toBe('successful');
      // The credit list and the report: operator only.
      expect(await s.get('/v1/refunds')).toMatchObject({ status: 401, body: { error: { code: 'api.unauthorized' } } });
      expect((await s.get('/v1/refunds', 'ef'.repeat(32))).status).toBe(401);
      const list = await s.get('/v1/refunds', OP);
      expect(list).toMatchObject({ status: 200, body: { refunds: [{ tokenHash: h1, amount: '500' }], totals: [{ currency: HKD, count: 1, amount: '500' }], problems: [] } });
      const rep = await s.get('/v1/report', OP);
      expect((rep.body.settlement as unknown[])[0]).toEqual({ operatorId: 90, currency: HKD, count: 2, gross: '2050', feeBps: 150, fee: '31', refunds: 1, refunded: '500', net: '1519' });
    } finally {
      await s.close();
      await clearing.close();
    }
  });

  it('GET /v1/refunds pages: random page sizes walk every refund once in the order stored, new ones at the end; `last` resumes', async () => {
    let n = 0;
    const row = (): RefundRow => {
      n++;
      const id = (what: string, len: number) => new Uint8Array(createHash('sha256').update(what).digest()).subarray(0, len);
      return { tokenHash: id(`token ${n}`, 32), bytes: id(`refund ${n}`, 32), operatorId: 90, readerId: 501, walletId: id(`wallet ${n % 3}`, 16), amount: 1 + (n % 900), currency: HKD, charge: 1000, time: AT, acceptedAt: AT + n };
    };
    type Page = { refunds: { tokenHash: string; amount: string }[]; next: string | null; last: string | null; totals: { count: number }[]; problems: { refund: { tokenHash: string } }[] };
    const step = fc.oneof(fc.record({ add: fc.integer({ min: 0, max: 5 }) }), fc.record({ page: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }) }));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 10 }), fc.array(step, { maxLength: 20 }), async (initial, steps) => {
        const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
        const s = await serve(clearing);
        try {
          const stored: string[] = [];
          const add = async (k: number) => {
            for (let i = 0; i < k; i++) {
              const r = row();
              await clearing.store.putRefund(r);
              stored.push(toHex(r.tokenHash));
            }
          };
          const get = async (q: string) => {
            const r = await s.get(`/v1/refunds${q}`, OP);
            expect(r.status).toBe(200);
            return r.body as unknown as Page;
          };
          await add(initial);
          const listed: string[] = [];
          let cursor: string | null = null;
          let last: string | null = null;
          let done = false;
          const page = async (limit: number | undefined) => {
            const params = new URLSearchParams();
            if (limit !== undefined) params.set('limit', String(limit));
            if (cursor !== null) params.set('after', cursor);
            const p = await get(params.size ? `?${params}` : '');
            expect(p.refunds.length).toBeLessThanOrEqual(limit ?? 100);
            listed.push(...p.refunds.map((r) => r.tokenHash));
            // These refunds settle nowhere (no entry names them): each is a problem of its own page, of no other.
            expect(p.problems.map((x) => x.refund.tokenHash)).toEqual(p.refunds.map((r) => r.tokenHash));
            expect(p.totals.reduce((k, t) => k + t.count, 0)).toBe(stored.length);
            expect(p.next === null).toBe(listed.length === stored.length);
            if (p.refunds.length) last = p.last;
            else expect(p.last).toBeNull();
            if (p.next === null) done = true;
            else expect(p.next).toBe(p.last);
            cursor = p.next;
          };
          for (const x of steps) {
            if (done) break;
            if ('add' in x) await add(x.add);
            else await page(x.page);
          }
          while (!done) await page(1 + (listed.length % 4));
          expect(listed).toEqual(stored);
          // The last page's `last` lists what is stored later, and only that.
          const before = stored.length;
          await add(3);
          const later = await get(last === null ? '' : `?after=${last}`);
          expect(later.refunds.map((r) => r.tokenHash)).toEqual(stored.slice(last === null ? 0 : before));
        } finally {
          await s.close();
          await clearing.close();
        }
      }),
      { numRuns: 25, seed: 1612 },
    );
  }, 120_000);

  it('GET /v1/refunds: a limit out of 1..1000 is 400 api.bad_limit, a malformed cursor 400 api.bad_cursor (after the credential)', async () => {
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const s = await serve(clearing);
    try {
      for (const l of ['0', '1001', '-1', '01', '1.5', '1e3', '', ' 5', '100000', '5&limit=6']) {
        expect(await s.get(`/v1/refunds?limit=${l}`, OP), `limit=${l}`).toMatchObject({ status: 400, body: { error: { code: 'api.bad_limit' } } });
      }
      for (const l of ['1', '1000', '100']) expect((await s.get(`/v1/refunds?limit=${l}`, OP)).status).toBe(200);
      expect(await s.get('/v1/refunds?limit=0')).toMatchObject({ status: 401, body: { error: { code: 'api.unauthorized' } } });
      // A valid cursor past the end: an empty last page.
      expect(await s.get(`/v1/refunds?after=${encodeRefundCursor(12345)}`, OP)).toMatchObject({ status: 200, body: { refunds: [], next: null, last: null } });
      expect(decodeRefundCursor(encodeRefundCursor(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
      const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
      const be = (v: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(v); return [...b]; };
      const malformed = fc.oneof(
        fc.string({ maxLength: 40 }).filter((x) => x.length !== 12), // wrong length
        fc.string({ minLength: 12, maxLength: 12 }).filter((x) => !/^[A-Za-z0-9_-]{12}$/.test(x)), // not base64url
        fc.tuple(fc.integer({ min: 0, max: 255 }).filter((v) => v !== 1), fc.bigInt({ min: 1n, max: 2n ** 53n - 1n })).map(([v, q]) => b64(Uint8Array.from([v, ...be(q)]))), // another version
        fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }).map((q) => b64(Uint8Array.from([1, ...be(q)]))), // past 2^53 - 1
        fc.constant(b64(Uint8Array.from([1, ...be(0n)]))), // seq 0
      );
      await fc.assert(
        fc.asyncProperty(malformed, async (c) => {
          expect(() => decodeRefundCursor(c)).toThrow();
          const r = await s.get(`/v1/refunds?${new URLSearchParams({ after: c })}`, OP);
          expect(r).toMatchObject({ status: 400, body: { error: { code: 'api.bad_cursor' } } });
        }),
        { numRuns: 150, seed: 1613 },
      );
      const two = encodeRefundCursor(1);
      expect(await s.get(`/v1/refunds?after=${two}&after=${two}`, OP)).toMatchObject({ status: 400, body: { error: { code: 'api.bad_cursor' } } });
    } finally {
      await s.close();
      await clearing.close();
    }
  });

  it('refuses a refund over 4,096 bytes before reading it, declared or chunked (413 cbor.too_large)', async () => {
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const s = await serve(clearing);
    try {
      expect(await s.send('/v1/refunds', new Uint8Array(4097))).toMatchObject({ status: 413, body: { error: { code: 'cbor.too_large' } } });
      // 4,096 bytes are read and judged (not a refund: decoding decides).
      expect((await s.send('/v1/refunds', new Uint8Array(4096))).status).toBe(422);
      // Chunked, no Content-Length: cut off at the first byte past the limit, 1 MB never buffered.
      const port = Number(new URL(s.url).port);
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/v1/refunds', method: 'POST', headers: { 'content-type': 'application/cbor', 'transfer-encoding': 'chunked' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        const chunk = Buffer.alloc(1024);
        let sent = 0;
        const pump = () => {
          while (sent < 1024 && req.write(chunk)) sent++;
          if (sent < 1024) req.once('drain', pump);
          else req.end();
        };
        pump();
      });
      expect(status).toBe(413);
    } finally {
      await s.close();
      await clearing.close();
    }
  });

  it('queues charge.refunded before the answer and delivers it signed; a resent refund queues nothing new', async () => {
    const got: { id: string; type: string; data: Record<string, unknown>; sigOk: boolean }[] = [];
    const rx = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(req.headers['offpay-signature']));
        const sigOk = !!m && timingSafeEqual(createHmac('sha256', SECRET).update(`${m[1]}.`).update(raw).digest(), Buffer.from(m[2]!, 'hex'));
        got.push({ ...(JSON.parse(raw.toString()) as { id: string; type: string; data: Record<string, unknown> }), sigOk });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const outbox = new SqliteWebhookOutbox(join(dir, 'r.webhooks'));
    const hooks = new WebhookService({ url: `http://127.0.0.1:${(rx.address() as AddressInfo).port}/hooks`, secret: SECRET, outbox, baseDelayMs: 20, maxDelayMs: 200, pollMs: 20 });
    const s = await serve(clearing, hooks);
    try {
      const r = vending();
      const t = await sell(r, makeWallet(issuer, 'serve-refunds', 'b'), 1, 900);
      expect((await s.send('/v1/batches', r.export(NOW + 60).bytes)).status).toBe(200);
      const h = toHex(tokenHash(t));
      const x = refund(t, 900);
      expect((await s.send('/v1/refunds', x)).body.outcome).toBe('accepted');
      const id = eventId('charge.refunded', h);
      // Queued before the answer (the worker has not started: nothing could have been delivered yet).
      expect(await outbox.get(id)).toMatchObject({ state: 'pending', type: 'charge.refunded' });
      expect(await outbox.counts()).toEqual({ pending: 2, delivered: 0, dead: 0 }); // charge.complete and charge.refunded
      expect((await s.send('/v1/refunds', x)).body.outcome).toBe('duplicate');
      expect((await outbox.counts()).pending).toBe(2);
      hooks.start();
      const end = Date.now() + 10_000;
      while (!got.some((e) => e.id === id) && Date.now() < end) await new Promise((res) => setTimeout(res, 10));
      const ev = got.find((e) => e.id === id)!;
      expect(ev).toMatchObject({ type: 'charge.refunded', sigOk: true, data: { tokenHash: h, amount: '900', currency: HKD, operatorId: 90, readerId: 501, partial: false, time: AT, acceptedAt: CLOCK() } });
    } finally {
      await s.close();
      await hooks.stop();
      await outbox.close();
      await clearing.close();
      await new Promise<void>((res) => { rx.close(() => res()); rx.closeAllConnections(); });
    }
  });
});
