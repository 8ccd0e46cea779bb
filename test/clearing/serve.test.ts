/**
 * The clearing service over HTTP (spec/clearing-api.md) and `reader sync`, on 127.0.0.1 only, every loop
 * bounded: ingest over HTTP equals a direct ingest (duplicates, any order), a month offline in one sync,
 * bounded bodies (40 MB refused unread, slow bodies cut off), ETag/304, payment states, the operator
 * credential, retries while the server is down, and a kill -9 of the server during a sync.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { request, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { Clearing } from '../../src/clearing/index.js';
import { toHex, walletIdOf } from '../../src/index.js';
import { tokenHash } from '../../src/messages.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { saveIssuer } from '../../src/node/files.js';
import { REASONS } from '../../src/reasons.js';
import { chainHash, createBatch, createBlocklist, encodeEntry, genesisHash, MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { READER_REASONS } from '../../src/reader/reasons.js';
import { syncReader } from '../../src/reader/sync.js';
import { createClearingServer, etagOf } from '../../src/server/api.js';
import { CLEARING_PAYMENT_REASONS, FAILURE_CODES } from '../../src/server/failure-codes.js';
import { checkBearer, loadOrCreateOperatorToken } from '../../src/server/operator.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken, type TestWallet } from '../reader/helpers.js';
import { transpileForChild } from '../reader/transpile.js';

const issuer = makeIssuer('serve');
const TOKEN = 'ab'.repeat(32);
const CLOCK = () => NOW + 3600;
const list0 = createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes;
const dir = mkdtempSync(join(tmpdir(), 'offpay-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function vending(id: number, operatorId = 90) {
  const m = makeReader(issuer, 'serve', id, 'vending', operatorId);
  const r = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
  r.loadBlocklist(list0);
  return { m, r };
}
async function sell(v: ReturnType<typeof vending>, w: TestWallet, counter: number, amount: number, complete = true): Promise<Uint8Array> {
  const challenge = Uint8Array.from([...walletIdOf(w.cert.walletPublicKey).subarray(0, 4), counter >> 8, counter & 0xff, amount >> 8, amount & 0xff]);
  v.r.openRequest({ amount, currency: HKD, now: NOW, challenge });
  const t = signToken(w, { payee: v.m.cert.readerId, amount, counter, challenge });
  const verdict = await v.r.accept(t, { complete });
  expect(verdict.accepted).toBe(true);
  return t;
}

async function startServer(clearing: Clearing, o: { bodyTimeoutMs?: number; headersTimeoutMs?: number; port?: number } = {}): Promise<{ server: Server; url: string }> {
  const server = createClearingServer({
    clearing,
    issuer,
    operatorToken: TOKEN,
    clock: CLOCK,
    blocklistCheckSeconds: 0,
    ...(o.bodyTimeoutMs ? { bodyTimeoutMs: o.bodyTimeoutMs } : {}),
    ...(o.headersTimeoutMs ? { headersTimeoutMs: o.headersTimeoutMs } : {}),
  });
  await new Promise<void>((res) => server.listen(o.port ?? 0, '127.0.0.1', res));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
const stop = (s: Server) => new Promise<void>((res) => { s.close(() => res()); s.closeAllConnections(); });
const post = (url: string, bytes: Uint8Array) => fetch(`${url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: bytes as Uint8Array<ArrayBuffer> });
const json = (x: unknown) => JSON.parse(JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as unknown;

/** Three readers, sales by four wallets, exported as several batches each (batch n of a reader holds the sales since n - 1). */
async function scenario(batchesPerReader = 3, salesPerBatch = 2) {
  const readers = [vending(101, 90), vending(102, 90), vending(103, 91)];
  const wallets = ['a', 'b', 'c', 'd'].map((l) => makeWallet(issuer, 'serve', l));
  const batches: Uint8Array[] = [];
  let counter = 1;
  for (let b = 0; b < batchesPerReader; b++) {
    for (const [i, v] of readers.entries()) {
      for (let s = 0; s < salesPerBatch; s++) await sell(v, wallets[(i + s + b) % 4]!, counter++, 100 + counter);
      batches.push(v.r.export(NOW + 60).bytes);
    }
  }
  return { readers, wallets, batches };
}

describe('clearing serve: batches', () => {
  it('ingest over HTTP equals a direct ingest, with duplicates and batches out of order', async () => {
    const { batches } = await scenario();
    const direct = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    for (const b of batches) expect((await direct.ingest(b)).outcome).toBe('ingested');
    const served = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const { server, url } = await startServer(served);
    try {
      // Reversed, each sent twice: the second copy is a duplicate, the answer names the batch.
      for (const b of [...batches].reverse()) {
        const r1 = await post(url, b);
        expect(r1.status).toBe(200);
        expect(await r1.json()).toMatchObject({ outcome: 'ingested', reason: null });
        const r2 = await post(url, b);
        const a2 = (await r2.json()) as Record<string, unknown>;
        expect(a2).toMatchObject({ outcome: 'duplicate', reason: null });
        expect(typeof a2.readerId).toBe('number');
        expect(a2.journalId).toMatch(/^[0-9a-f]{16}$/);
      }
      expect(json(await served.report())).toEqual(json(await direct.report()));
      // What a reader learns: every batch held, and the last seq.
      const who = (await (await fetch(`${url}/v1/readers/101`)).json()) as { journals: { batchSeq: number; lastSeq: number }[] };
      expect(who.journals).toEqual([{ journalId: expect.any(String), batchSeq: 3, lastSeq: 6, head: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
      expect(await (await fetch(`${url}/v1/readers/999`)).json()).toEqual({ readerId: 999, journals: [] });
      // A tampered batch is rejected with the clearing's reason (422), nothing stored.
      const bad = batches[0]!.slice();
      bad[bad.length - 1]! ^= 1;
      const r = await post(url, bad);
      expect(r.status).toBe(422);
      expect(await r.json()).toMatchObject({ outcome: 'rejected', reason: 'clearing.bad_batch_signature', error: { code: 'clearing.bad_batch_signature' } });
      // The node's counters (operator only): every batch post answered, by outcome.
      expect((await fetch(`${url}/v1/stats`)).status).toBe(401);
      const stats = await (await fetch(`${url}/v1/stats`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
      expect(stats).toEqual({ startedAt: CLOCK(), engine: 'sqlite', poolSize: null, batches: { ingested: batches.length, duplicate: batches.length, rejected: 1 }, retries: null });
    } finally {
      await stop(server);
    }
  });

  it('answers errors as JSON with stable codes and never crashes on bad requests', async () => {
    const { server, url } = await startServer(new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK }));
    try {
      const cases: [string, RequestInit, number, string][] = [
        ['/v1/nothing', {}, 404, 'api.not_found'],
        ['/v1/batches', {}, 405, 'api.method_not_allowed'],
        ['/v1/batches', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, 415, 'api.unsupported_media_type'],
        ['/v1/batches', { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: new Uint8Array([0x8b, 1, 2]) }, 422, 'clearing.bad_batch'],
        ['/v1/readers/99999999999', {}, 400, 'api.bad_reader_id'],
        ['/v1/readers/4294967296', {}, 400, 'api.bad_reader_id'],
        ...['-1', 'abc', '0x10', '04201', '1e3', '', '+5', '%31'].map((id): [string, RequestInit, number, string] => [`/v1/readers/${id}`, {}, 400, 'api.bad_reader_id']),
        ['/v1/payments/xyz', {}, 400, 'api.bad_token_hash'],
        [`/v1/payments/${'00'.repeat(32)}`, {}, 404, 'api.unknown_payment'],
        [`/v1/${'a'.repeat(3000)}`, {}, 414, 'api.url_too_long'],
      ];
      for (const [path, init, status, code] of cases) {
        const r = await fetch(url + path, init);
        expect([path, r.status]).toEqual([path, status]);
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe(code);
      }
      expect(await (await fetch(`${url}/v1/readers/4294967295`)).json()).toEqual({ readerId: 4294967295, journals: [] });
      // HEAD wherever GET: the same headers, no body; a 405 lists it.
      const head = await fetch(`${url}/v1/keyset`, { method: 'HEAD' });
      expect([head.status, (await head.arrayBuffer()).byteLength, head.headers.get('etag')]).toEqual([200, 0, (await fetch(`${url}/v1/keyset`)).headers.get('etag')]);
      expect((await fetch(`${url}/v1/keyset`, { method: 'DELETE' })).headers.get('allow')).toBe('GET, HEAD');
      expect((await fetch(`${url}/v1/refunds`, { method: 'PUT' })).headers.get('allow')).toBe('GET, HEAD, POST');
      expect((await fetch(`${url}/v1/batches`)).headers.get('allow')).toBe('POST');
      const big = await fetch(`${url}/v1/keyset`, { headers: { 'x-pad': 'x'.repeat(20_000) } });
      expect(big.status).toBe(431);
      expect((await fetch(`${url}/v1/keyset`)).status).toBe(200); // still serving
      // A body on a GET is refused, announced by its length or sent in chunks (Transfer-Encoding).
      for (const headers of [{ 'content-length': '3' }, { 'transfer-encoding': 'chunked' }] as Record<string, string>[]) {
        const [status, text] = await new Promise<[number, string]>((resolve, reject) => {
          const rq = request(`${url}/v1/health`, { method: 'GET', headers }, (res) => {
            let t = '';
            res.on('data', (d: Buffer) => (t += d.toString()));
            res.on('end', () => resolve([res.statusCode!, t]));
          });
          rq.on('error', reject);
          rq.end('abc');
        });
        expect([headers, status, (JSON.parse(text) as { error: { code: string } }).error.code]).toEqual([headers, 400, 'api.bad_request']);
      }
    } finally {
      await stop(server);
    }
  });

  it('a database that went away is 503 clearing.store_unavailable with Retry-After, and the server goes on serving', async () => {
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    let down = true;
    const real = clearing.heldBatches.bind(clearing);
    clearing.heldBatches = async (id: number) => {
      if (down) throw new OffpayError('clearing.store_unavailable', 'the clearing database postgres://x/y is unreachable: terminating connection due to administrator command');
      return real(id);
    };
    const { server, url } = await startServer(clearing);
    try {
      const r = await fetch(`${url}/v1/readers/7`);
      expect([r.status, r.headers.get('retry-after'), ((await r.json()) as { error: { code: string } }).error.code]).toEqual([503, '1', 'clearing.store_unavailable']);
      down = false;
      expect(await (await fetch(`${url}/v1/readers/7`)).json()).toEqual({ readerId: 7, journals: [] });
    } finally {
      await stop(server);
    }
  });

  it('a database lost or upgraded during a batch\'s commit is 503 with Retry-After, never a rejection; the batch is held when it comes again', async () => {
    const { batches } = await scenario(1, 2);
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const store = clearing.store;
    const session = store.session.bind(store);
    let fail: string | undefined;
    // The commit unit of a batch fails as the PostgreSQL store fails it: a connection lost (store_unavailable), or
    // the writer fence of an upgraded database (schema_changed). Nothing was committed.
    store.session = ((fn, o) =>
      session((s) => fn({ ...s, atomic: (f) => (fail ? Promise.reject(new OffpayError(fail as 'clearing.store_unavailable', `${fail}: simulated`)) : s.atomic(f)) }), o)) as typeof store.session;
    const { server, url } = await startServer(clearing);
    try {
      for (const code of ['clearing.store_unavailable', 'clearing.schema_changed']) {
        fail = code;
        const r = await post(url, batches[0]!);
        expect([r.status, r.headers.get('retry-after'), ((await r.json()) as { error: { code: string } }).error.code]).toEqual([503, '1', code]);
      }
      expect(await clearing.store.problems()).toEqual([]); // a failure of the database is no fault of the reader's
      fail = undefined;
      const r = await post(url, batches[0]!);
      expect([r.status, ((await r.json()) as { outcome: string }).outcome]).toEqual([200, 'ingested']);
    } finally {
      await stop(server);
    }
  });

  it('GET /v1/health: 200 while the database answers with the house settings, 503 with Retry-After when it does not or they were replaced', async () => {
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const real = clearing.settingsCurrent.bind(clearing);
    let state: 'up' | 'down' | 'replaced' = 'up';
    let reads = 0;
    clearing.settingsCurrent = async () => {
      reads++;
      if (state === 'down') throw new OffpayError('clearing.store_unavailable', 'the clearing database postgres://x/y is unreachable');
      return state === 'replaced' ? false : real();
    };
    const server = createClearingServer({ clearing, issuer, operatorToken: TOKEN, clock: CLOCK, blocklistCheckSeconds: 0, healthReuseMs: 0 });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const health = async () => {
      const r = await fetch(`${url}/v1/health`);
      return [r.status, r.headers.get('retry-after'), r.headers.get('cache-control'), await r.json()];
    };
    try {
      expect(await health()).toEqual([200, null, 'no-store', { status: 'ok', engine: 'sqlite' }]);
      state = 'down';
      // What, never where: the database's address stays out of an answer anyone may ask for.
      expect(await health()).toEqual([503, '1', 'no-store', { error: { code: 'clearing.store_unavailable', message: 'the clearing database cannot be read' } }]);
      state = 'replaced';
      expect(await health()).toEqual([503, '1', 'no-store', { error: { code: 'clearing.settings_mismatch', message: expect.any(String) } }]);
      state = 'up';
      expect((await health())[0]).toBe(200);
      expect((await fetch(`${url}/v1/health`, { method: 'HEAD' })).status).toBe(200);
      expect((await fetch(`${url}/v1/health`, { method: 'POST' })).status).toBe(405);
      expect(reads).toBe(5); // healthReuseMs 0: every GET and HEAD read the database
    } finally {
      await stop(server);
    }
    // The default: one read a second at most, however many poll.
    const s2 = createClearingServer({ clearing, issuer, operatorToken: TOKEN, clock: CLOCK, blocklistCheckSeconds: 0 });
    await new Promise<void>((res) => s2.listen(0, '127.0.0.1', res));
    try {
      const u2 = `http://127.0.0.1:${(s2.address() as AddressInfo).port}`;
      const before = reads;
      const t0 = Date.now();
      const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(`${u2}/v1/health`).then((r) => r.status)));
      expect(answers.every((x) => x === 200)).toBe(true);
      expect(reads - before).toBeLessThanOrEqual(Math.ceil((Date.now() - t0) / 1000) + 1);
    } finally {
      await stop(s2);
    }
  });

  it('refuses a 40 MB body without buffering it (declared and chunked), and cuts off a slow body', async () => {
    const { server, url } = await startServer(new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK }), { bodyTimeoutMs: 400, headersTimeoutMs: 500 });
    const port = new URL(url).port;
    const chunk = new Uint8Array(64 * 1024).fill(0x41);
    const mem = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    /** Stream up to 40 MB; resolves with the status and body the server answered. */
    const send = (chunked: boolean) =>
      new Promise<{ status: number; body: string; sent: number; peak: number }>((resolve, reject) => {
        const before = mem();
        let peak = 0;
        let sent = 0;
        const req = request({ host: '127.0.0.1', port, path: '/v1/batches', method: 'POST', headers: { 'content-type': 'application/cbor', ...(chunked ? {} : { 'content-length': String(40 * 1024 * 1024) }) } });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body, sent, peak }));
        });
        req.on('error', () => undefined); // the server closes the connection after its answer
        const pump = () => {
          while (sent < 40 * 1024 * 1024 && !req.destroyed) {
            peak = Math.max(peak, mem() - before);
            sent += chunk.length;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          if (!req.destroyed) req.end();
        };
        pump();
        setTimeout(() => reject(new Error('no answer within 20 s')), 20_000).unref();
      });
    try {
      for (const chunked of [false, true]) {
        const r = await send(chunked);
        expect(r.status).toBe(413);
        expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'clearing.too_large' } });
        // 40 MB were never held: a declared length over the limit is refused unread (measured ~0.5 MB); a chunked
        // body is cut off at the 8 MiB limit (~9 MB). Buffering it all measured ~38 MB.
        expect(r.peak).toBeLessThan(chunked ? 24 * 1024 * 1024 : 4 * 1024 * 1024);
      }
      // Slow loris: headers, then a byte every 100 ms; the body deadline is 400 ms.
      const slow = await new Promise<{ status: number; body: string }>((resolve) => {
        const req = request({ host: '127.0.0.1', port, path: '/v1/batches', method: 'POST', headers: { 'content-type': 'application/cbor', 'content-length': '1000' } });
        const t = setInterval(() => !req.destroyed && req.write(new Uint8Array(1)), 100);
        req.on('response', (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => {
            clearInterval(t);
            resolve({ status: res.statusCode!, body });
          });
        });
        req.on('error', () => clearInterval(t));
      });
      expect(slow.status).toBe(408);
      expect(JSON.parse(slow.body)).toMatchObject({ error: { code: 'api.body_timeout' } });
      // Slow headers: a header byte every 100 ms; node's headers deadline (500 ms here) closes the connection. The
      // trickle never ends by itself, so the answer arriving at all (a 408 naming the deadline) shows the deadline.
      const answer = await new Promise<string>((resolve) => {
        const sock = connect(Number(port), '127.0.0.1', () => sock.write('GET /v1/keyset HTTP/1.1\r\nHost: x\r\nX-Slow: '));
        let got = '';
        const t = setInterval(() => !sock.destroyed && sock.write('a'), 100);
        sock.on('data', (d) => (got += d.toString()));
        sock.on('close', () => {
          clearInterval(t);
          resolve(got);
        });
        sock.on('error', () => undefined);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      expect(answer).toContain('api.request_timeout');
    } finally {
      await stop(server);
    }
  }, 60_000);
});

describe('clearing serve: blocklist, key set, payments, report', () => {
  it('serves the blocklist and key set with a strong ETag and 304 on If-None-Match; a new version only when the set changed', async () => {
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    await clearing.issueBlocklist(issuer, NOW); // version 1, the one readers hold (list0): the server signs 2, 3, ...
    const { server, url } = await startServer(clearing);
    try {
      for (const path of ['/v1/keyset', '/v1/blocklist']) {
        const r = await fetch(url + path);
        expect(r.status).toBe(200);
        expect(r.headers.get('content-type')).toBe('application/cbor');
        const bytes = new Uint8Array(await r.arrayBuffer());
        const etag = r.headers.get('etag')!;
        expect(etag).toBe(etagOf(bytes));
        expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
        const again = await fetch(url + path, { headers: { 'if-none-match': etag } });
        expect(again.status).toBe(304);
        expect((await fetch(url + path, { headers: { 'if-none-match': '"00"' } })).status).toBe(200);
      }
      const v1 = await (await fetch(`${url}/v1/blocklist`)).arrayBuffer();
      const v1again = await (await fetch(`${url}/v1/blocklist`)).arrayBuffer();
      expect(Buffer.from(v1again).equals(Buffer.from(v1))).toBe(true); // unchanged set: same version, same bytes
      clearing.block(new Uint8Array(16).fill(7));
      const v2 = new Uint8Array(await (await fetch(`${url}/v1/blocklist`)).arrayBuffer());
      const r = vending(150);
      r.r.loadBlocklist(new Uint8Array(v1), NOW + 3600);
      expect(r.r.loadBlocklist(v2, NOW + 3600).count).toBe(1); // newer, signed by the issuer
    } finally {
      await stop(server);
    }
  });

  it('gives payment states: successful when settled, pending for an open trip, 404 before upload, failed with a gateway failure code', async () => {
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const { server, url } = await startServer(clearing);
    const get = async (t: Uint8Array) => {
      const r = await fetch(`${url}/v1/payments/${toHex(tokenHash(t))}`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    try {
      const v = vending(201, 90);
      const w = makeWallet(issuer, 'serve', 'p');
      const paid = await sell(v, w, 1, 1250);
      const voided = await sell(v, w, 2, 300, false);
      v.r.void(tokenHash(voided), NOW + 5);
      const notYet = signToken(w, { payee: 201, amount: 400, counter: 9 });
      expect((await post(url, v.r.export(NOW + 60).bytes)).status).toBe(200);
      expect(await get(paid)).toMatchObject({ status: 200, body: { state: 'successful', amount: '1250', currency: HKD, operatorId: 90, settledAs: 'sale', evidence: { entry: { readerId: 201, seq: 1, kind: 'accept', value: 1250, valid: true } } } });
      expect(await get(voided)).toMatchObject({ status: 200, body: { state: 'failed', failure: { code: 'payment_rejected', reason: 'voided' } } });
      expect(await get(notYet)).toMatchObject({ status: 404, body: { error: { code: 'api.unknown_payment' } } });
      // An open trip: charged the maximum now, pending until a tap-out can lower it.
      const g = makeReader(issuer, 'serve', 301, 'transit', 300);
      const gate = new Reader({ ...g, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
      gate.loadBlocklist(list0);
      const trip = signToken(w, { payee: 300, amount: 2000, counter: 3 });
      expect((await gate.accept(trip, { tapIn: { maxFare: 2000, currency: HKD } })).accepted).toBe(true);
      expect((await post(url, gate.export(NOW + 60).bytes)).status).toBe(200);
      expect(await get(trip)).toMatchObject({ status: 200, body: { state: 'pending', amount: '2000', settledAs: 'open_trip' } });
      // An invalid entry (a reader listed a token paying someone else): failed, wrong_payee -> payment_rejected;
      // one listed with a broken signature: bad_token_signature -> invalid_account.
      const m = makeReader(issuer, 'serve', 401, 'vending', 90);
      const J = new Uint8Array(8).fill(4);
      const other = signToken(w, { payee: 999, amount: 500, counter: 4 });
      const forged = signToken(w, { payee: 401, amount: 600, counter: 5 });
      forged[forged.length - 1]! ^= 1;
      const es = [
        { seq: 1, kind: 'accept' as const, time: NOW, data: other, value: 500 },
        { seq: 2, kind: 'accept' as const, time: NOW, data: forged, value: 600 },
      ];
      let h = genesisHash(401, J);
      for (const e of es) h = chainHash(h, encodeEntry(e));
      const b = createBatch(m, { readerCert: m.cert, journalId: J, batchSeq: 1, firstSeq: 1, prevHead: genesisHash(401, J), head: h, entries: es, createdAt: NOW + 60 });
      expect(await (await post(url, b.bytes)).json()).toMatchObject({ outcome: 'ingested', invalidTokens: 2 });
      expect(await get(other)).toMatchObject({ body: { state: 'failed', failure: { code: 'payment_rejected', reason: 'wrong_payee' }, evidence: { entry: { readerId: 401, seq: 1, valid: false } } } });
      expect(await get(forged)).toMatchObject({ body: { state: 'failed', failure: { code: 'invalid_account', reason: 'bad_token_signature' } } });
    } finally {
      await stop(server);
    }
  });

  it('maps every offpay reason to one gateway failure code, and the spec table is the code table', () => {
    const all = [...Object.keys(REASONS), ...Object.keys(READER_REASONS), ...CLEARING_PAYMENT_REASONS];
    expect(Object.keys(FAILURE_CODES).sort()).toEqual([...all].sort());
    for (const r of all) expect(['payment_rejected', 'failed_processing', 'invalid_account', 'insufficient_fund']).toContain((FAILURE_CODES as Record<string, string>)[r]);
    const spec = readFileSync(join(import.meta.dirname, '../../spec/clearing-api.md'), 'utf8');
    const rows = new Map<string, string>();
    for (const m of spec.matchAll(/^\| `([a-z_]+)` \| (\d+|-) \| `(payment_rejected|failed_processing|invalid_account|insufficient_fund)` \|/gm)) rows.set(m[1]!, m[3]!);
    expect(Object.fromEntries([...rows].sort())).toEqual(Object.fromEntries(Object.entries(FAILURE_CODES).sort()));
  });

  it('the report needs the operator credential (Bearer, compared in constant time); the credential file is created 0600', async () => {
    const { server, url } = await startServer(new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK }));
    try {
      expect((await fetch(`${url}/v1/report`)).status).toBe(401);
      const wrong = await fetch(`${url}/v1/report`, { headers: { authorization: `Bearer ${'cd'.repeat(32)}` } });
      expect(wrong.status).toBe(401);
      expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('api.unauthorized');
      expect(wrong.headers.get('www-authenticate')).toContain('Bearer');
      const ok = await fetch(`${url}/v1/report`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ settlement: [], feeBps: 150 });
    } finally {
      await stop(server);
    }
    const f = join(dir, 'op-token');
    const a = loadOrCreateOperatorToken(f);
    expect(a.created).toBe(true);
    expect(a.token).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(loadOrCreateOperatorToken(f)).toEqual({ token: a.token, created: false });
    // A symbolic link is followed; one that points nowhere, or a file that cannot be read, is refused typed.
    symlinkSync(f, join(dir, 'op-link'));
    expect(loadOrCreateOperatorToken(join(dir, 'op-link'))).toEqual({ token: a.token, created: false });
    symlinkSync(join(dir, 'nowhere'), join(dir, 'op-dangling'));
    expect(() => loadOrCreateOperatorToken(join(dir, 'op-dangling'))).toThrow(expect.objectContaining({ code: 'api.bad_operator_token' }));
    expect(() => loadOrCreateOperatorToken(join(dir, 'no-such-dir', 'op'))).toThrow(expect.objectContaining({ code: 'api.bad_operator_token' }));
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]); // no temporary file left behind
    expect(checkBearer(`Bearer ${a.token}`, a.token)).toBe(true);
    expect(checkBearer(`Bearer ${a.token.slice(0, 63)}`, a.token)).toBe(false);
    expect(checkBearer(a.token, a.token)).toBe(false);
  });
});

describe('reader sync', () => {
  it('a reader offline for a month syncs in one command: every batch uploaded, the blocklist loaded; again, nothing to do', async () => {
    const v = vending(501, 90);
    const w = makeWallet(issuer, 'serve', 'month');
    const direct = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    for (let day = 0; day < 30; day++) {
      await sell(v, w, 1 + day * 3, 200);
      await sell(v, w, 2 + day * 3, 300);
      await direct.ingest(v.r.export(NOW + 60).bytes); // exported every night, never delivered
    }
    await sell(v, w, 100, 400); // and one not exported yet
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    await clearing.issueBlocklist(issuer, NOW); // version 1, the one the reader holds (list0)
    const { server, url } = await startServer(clearing);
    try {
      const r = await syncReader(v.r, { url, now: NOW + 3600, issuerKeys: issuer.keySet() });
      expect(r).toMatchObject({ heldBefore: 0, held: 31, exported: 31, keyset: { outcome: 'unchanged', loaded: false }, blocklist: { loaded: true } });
      expect(r.sent.map((s) => s.batchSeq)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
      await direct.ingest(v.r.exportBatch(31).bytes);
      expect({ ...(json(await clearing.report()) as object), blocklist: null }).toEqual({ ...(json(await direct.report()) as object), blocklist: null });
      expect((await clearing.report()).settlement[0]).toMatchObject({ operatorId: 90, count: 61, gross: 30n * 500n + 400n });
      const again = await syncReader(v.r, { url, now: NOW + 3600, issuerKeys: issuer.keySet() });
      expect(again).toMatchObject({ heldBefore: 31, held: 31, sent: [], blocklist: { loaded: false } });
      expect(again.exported).toBeUndefined();
    } finally {
      await stop(server);
    }
  });

  it('a backlog past the batch limits is exported as several batches, and one sync uploads them all', async () => {
    const v = vending(502, 90);
    const w = makeWallet(issuer, 'serve', 'backlog');
    for (let i = 1; i <= 7; i++) await sell(v, w, i, 100 + i);
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const { server, url } = await startServer(clearing);
    try {
      const r = await syncReader(v.r, { url, now: NOW + 3600, issuerKeys: issuer.keySet(), exportLimits: { maxBatchEntries: 3 } });
      const entries = v.r.head().seq; // sales and their completions
      const batches = Math.ceil(entries / 3);
      expect(batches).toBeGreaterThan(2);
      expect(r).toMatchObject({ heldBefore: 0, held: batches, exported: batches });
      expect(r.sent.map((s) => s.batchSeq)).toEqual(Array.from({ length: batches }, (_, i) => i + 1));
      expect((await clearing.report()).settlement[0]).toMatchObject({ operatorId: 90, count: 7 });
      expect(await syncReader(v.r, { url, now: NOW + 3600, issuerKeys: issuer.keySet() })).toMatchObject({ heldBefore: batches, sent: [] });
    } finally {
      await stop(server);
    }
  });

  it('retries while the server is down and succeeds when it comes up; gives up after its bounded tries', async () => {
    const probe = await startServer(new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK }));
    const port = Number(new URL(probe.url).port);
    await stop(probe.server);
    const v = vending(601);
    await sell(v, makeWallet(issuer, 'serve', 'r'), 1, 100);
    await expect(syncReader(v.r, { url: `http://127.0.0.1:${port}`, now: NOW + 3600, issuerKeys: issuer.keySet(), attempts: 3, baseDelayMs: 10 })).rejects.toMatchObject({ code: 'sync.unreachable' });
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    let server: Server | undefined;
    const later = setTimeout(() => void startServer(clearing, { port }).then((s) => (server = s.server)), 400);
    try {
      const r = await syncReader(v.r, { url: `http://127.0.0.1:${port}`, now: NOW + 3600, issuerKeys: issuer.keySet(), baseDelayMs: 100, attempts: 10, deadlineMs: 20_000 });
      expect(r.retries).toBeGreaterThan(0);
      expect(r.sent).toEqual([{ batchSeq: 1, outcome: 'ingested', entries: 1, doubleSpends: 0 }]);
    } finally {
      clearTimeout(later);
      if (server) await stop(server);
    }
  });

  it('refuses on a rejected batch with the server reason', async () => {
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK, maxBatchBytes: 1024 });
    const { server, url } = await startServer(clearing);
    try {
      const v = vending(701);
      const w = makeWallet(issuer, 'serve', 'big');
      for (let i = 1; i <= 6; i++) await sell(v, w, i, 100);
      // The key set and blocklist steps still run after the refused batch (spec/clearing-api.md §8 step 3).
      const asked: string[] = [];
      const seen: typeof fetch = (input, init) => {
        asked.push(`${init?.method ?? 'GET'} ${new URL(input instanceof Request ? input.url : input).pathname}`);
        return fetch(input, init);
      };
      await expect(syncReader(v.r, { url, now: NOW + 3600, issuerKeys: issuer.keySet(), fetch: seen })).rejects.toMatchObject({ code: 'sync.batch_rejected', detail: { batchSeq: 1, reason: 'clearing.too_large' } });
      expect(asked).toEqual([`GET /v1/readers/${v.m.cert.readerId}`, 'POST /v1/batches', 'GET /v1/keyset', 'GET /v1/blocklist']);
    } finally {
      await stop(server);
    }
  });

  it('a kill -9 of the server in the middle of a sync loses nothing acknowledged; a second sync after restart completes it', async () => {
    const built = transpileForChild(['scripts/serve-child.ts']);
    const issuerDir = join(dir, 'issuer');
    saveIssuer(issuerDir, issuer);
    const db = join(dir, 'kill.db');
    const start = () =>
      new Promise<{ child: ChildProcess; url: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [join(built, 'scripts/serve-child.js'), issuerDir, db, TOKEN, String(NOW + 3600)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening (\d+)/.exec(out);
          if (m) resolve({ child, url: `http://127.0.0.1:${m[1]}` });
        });
        child.on('exit', (c) => reject(new Error(`server exited ${c}`)));
      });
    try {
      const { batches, readers } = await scenario(8, 3); // 24 batches, 8 per reader
      const direct = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
      for (const b of batches) await direct.ingest(b);
      let s = await start();
      // Kill the server right after the 5th acknowledged batch of the first reader, while the 6th is on its way.
      let acked = 0;
      const killing: typeof fetch = async (input, init) => {
        if (init?.method === 'POST' && acked === 5) {
          const p = fetch(input, init);
          s.child.kill('SIGKILL');
          return p;
        }
        const r = await fetch(input, init);
        if (init?.method === 'POST' && r.status === 200) acked++;
        return r;
      };
      await expect(syncReader(readers[0]!.r, { url: s.url, now: NOW + 3600, issuerKeys: issuer.keySet(), fetch: killing, attempts: 2, baseDelayMs: 10 })).rejects.toMatchObject({ code: 'sync.unreachable' });
      expect(acked).toBe(5);
      s = await start(); // same database, a new port
      const held = (await (await fetch(`${s.url}/v1/readers/101`)).json()) as { journals: { batchSeq: number }[] };
      expect(held.journals[0]!.batchSeq).toBeGreaterThanOrEqual(5); // every acknowledged batch survived
      for (const v of readers) expect((await syncReader(v.r, { url: s.url, now: NOW + 3600, issuerKeys: issuer.keySet() })).held).toBe(8);
      const report = await (await fetch(`${s.url}/v1/report`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
      // Equal but for the blocklist version: the syncs fetched (and so issued) blocklists.
      expect({ ...(report as object), blocklist: null }).toEqual({ ...(json(await direct.report()) as object), blocklist: null });
      s.child.kill('SIGKILL');
    } finally {
      rmSync(built, { recursive: true, force: true });
    }
  }, 120_000);
});
