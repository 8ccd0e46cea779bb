/**
 * `reader sync` against a clearing that answers wrongly (spec/clearing-api.md §1.1, §8): a real server on
 * loopback answers every request but one, and that one gets a generated answer (any status, random bytes,
 * JSON of every shape, real answers of other requests, a body past the answer bound). The sync either
 * completes or fails with an OffpayError whose code a spec error table lists, never another exception; a
 * failed sync is completed by a second one against the honest server; and an answer longer than
 * MAX_ANSWER_BYTES is refused without being read to its end.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { Clearing } from '../../src/clearing/index.js';
import { syncReader } from '../../src/reader/sync.js';
import { MAX_ANSWER_BYTES, readAnswer } from '../../src/reader/transport.js';
import { createClearingServer } from '../../src/server/api.js';
import { sell, vendingReader } from '../clearing/vending.js';
import { isErrorCode } from '../../base/error-codes.js';
import { NOW, makeIssuer, makeWallet } from './helpers.js';

const issuer = makeIssuer('sync-answers');
const CLOCK = () => NOW + 3600;
const wallet = makeWallet(issuer, 'sync-answers', 'a');
let server: Server;
let url = '';
const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });

beforeAll(async () => {
  server = createClearingServer({ clearing, issuer, operatorToken: 'a7'.repeat(32), clock: CLOCK, blocklistCheckSeconds: 0 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
  await clearing.close();
});

/** A body of `n` bytes streamed in 1 MiB chunks (the same chunk again: no memory of its own); counts what was pulled. */
function endless(n: number, declare: boolean) {
  const chunk = new Uint8Array(1 << 20);
  const seen = { pulled: 0 };
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (seen.pulled >= n) return c.close();
      const k = Math.min(chunk.length, n - seen.pulled);
      seen.pulled += k;
      c.enqueue(k === chunk.length ? chunk : chunk.subarray(0, k));
    },
  });
  return { response: new Response(body, { status: 200, headers: declare ? { 'content-length': String(n) } : {} }), seen };
}

let sale = 0;
/**
 * A sync of a reader with one new sale whose request number `at` (0 GET /v1/readers, 1 POST /v1/batches, 2 GET
 * /v1/keyset, 3 GET /v1/blocklist; 4 and on: none) gets `answer` (or a network error); then a sync against the
 * honest server, which must complete. Returns the first sync's error code, or null when it completed; any
 * exception that is not an OffpayError fails the test.
 */
async function lyingSync(readerId: number, at: number, answer: { status: number; body: Uint8Array }, networkError: boolean): Promise<string | null> {
  const r = vendingReader(issuer, 'sync-answers', readerId);
  sale++;
  await sell(r, wallet, 1000 + sale, 100 + (sale % 500));
  let k = 0;
  const lying: typeof fetch = async (input, init) => {
    if (k++ !== at) return fetch(input, init);
    if (networkError) throw new TypeError('fetch failed');
    return new Response(answer.status === 204 || answer.status === 304 ? null : (answer.body as Uint8Array<ArrayBuffer>), { status: answer.status });
  };
  let code: string | null = null;
  try {
    await syncReader(r, { url, now: NOW + 3600, issuerKeys: issuer.keySet(), fetch: lying, attempts: 1 });
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(OffpayError);
    code = (e as OffpayError).code;
  }
  // The honest server finishes what the wrong answer interrupted.
  const again = await syncReader(r, { url, now: NOW + 3600, issuerKeys: issuer.keySet(), attempts: 1 });
  expect(again.held).toBe(r.exportedBatches());
  expect(again.blocklist.version).toBeGreaterThan(0);
  return code;
}

describe('reader sync against wrong answers', () => {
  it('an answer past MAX_ANSWER_BYTES is sync.bad_answer: refused unread when declared, cut off at the bound when not', async () => {
    const declared = endless(MAX_ANSWER_BYTES + 1, true);
    await expect(readAnswer(declared.response, MAX_ANSWER_BYTES, 'GET /v1/blocklist')).rejects.toMatchObject({ code: 'sync.bad_answer' });
    expect(declared.seen.pulled).toBeLessThanOrEqual(2 << 20); // the stream's own read-ahead at most
    const chunked = endless(MAX_ANSWER_BYTES + (5 << 20), false);
    await expect(readAnswer(chunked.response, MAX_ANSWER_BYTES, 'GET /v1/blocklist')).rejects.toMatchObject({ code: 'sync.bad_answer' });
    expect(chunked.seen.pulled).toBeLessThanOrEqual(MAX_ANSWER_BYTES + (2 << 20));
    // At the bound exactly, the whole answer.
    const exact = endless(3_000_001, false);
    expect((await readAnswer(exact.response, 3_000_001, 'x')).length).toBe(3_000_001);
    // Through a sync: the blocklist answer runs past the bound.
    const r = vendingReader(issuer, 'sync-answers', 701);
    await sell(r, wallet, 1, 100);
    let served: ReturnType<typeof endless> | undefined;
    const huge: typeof fetch = async (input, init) => {
      if (!String(input).endsWith('/v1/blocklist')) return fetch(input, init);
      served = endless(MAX_ANSWER_BYTES + (16 << 20), false);
      return served.response;
    };
    await expect(syncReader(r, { url, now: NOW + 3600, issuerKeys: issuer.keySet(), fetch: huge, attempts: 1 })).rejects.toMatchObject({ code: 'sync.bad_answer' });
    expect(served!.seen.pulled).toBeLessThanOrEqual(MAX_ANSWER_BYTES + (2 << 20)); // not read to its end
  });

  it('a redirect is not followed: the batch goes nowhere else, and the sync fails with sync.bad_answer', async () => {
    const { createServer } = await import('node:http');
    const elsewhere: string[] = [];
    const other = createServer((req, res) => {
      elsewhere.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"outcome":"ingested"}');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const redirector = createServer((req, res) => {
      req.resume();
      res.writeHead(307, { location: `${otherUrl}${req.url}` }).end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    const redirectUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
    try {
      const r = vendingReader(issuer, 'sync-answers', 702);
      await sell(r, wallet, 2, 100);
      // The batch upload meets a real 307 (to another server); every other request reaches the clearing.
      const viaRedirect: typeof fetch = (input, init) => fetch(init?.method === 'POST' ? String(input).replace(url, redirectUrl) : input, init);
      await expect(syncReader(r, { url, now: NOW + 3600, issuerKeys: issuer.keySet(), fetch: viaRedirect, attempts: 1 })).rejects.toMatchObject({ code: 'sync.bad_answer' });
      expect(elsewhere).toEqual([]);
      // A whole clearing URL that redirects: refused at the first request.
      await expect(syncReader(r, { url: redirectUrl, now: NOW + 3600, issuerKeys: issuer.keySet(), attempts: 1 })).rejects.toMatchObject({ code: 'sync.bad_answer' });
      expect(elsewhere).toEqual([]);
    } finally {
      for (const s of [other, redirector]) {
        await new Promise<void>((done) => {
          s.close(() => done());
          s.closeAllConnections();
        });
      }
    }
  });

  it('JSON that is not an object, at each request of a sync, is sync.bad_answer or a spec code, never a TypeError', async () => {
    const shapes = ['null', '[]', '5', '"x"', 'true', '{}', '{"journals":null}', '{"journals":[null]}', '{"outcome":null}', '\u0000\u00ff'];
    let n = 0;
    for (let at = 0; at < 4; at++) {
      for (const shape of shapes) {
        const code = await lyingSync(900 + n++, at, { status: 200, body: new TextEncoder().encode(shape) }, false);
        if (code !== null) expect(isErrorCode(code), `${code} (${shape} at request ${at})`).toBe(true);
      }
    }
  });

  it('an answer about something else is sync.bad_answer: GET /v1/readers of another reader or a malformed journal, a 200 for another batch or outcome', async () => {
    let n = 0;
    const readerAnswers = (id: number, j: string) => [
      {},
      { readerId: id },
      { readerId: id + 1, journals: [] },
      { readerId: String(id), journals: [] },
      { readerId: id, journals: {} },
      // Upper-case hex (with letters in it: a journal id of digits only reads the same in either case, which made
      // this case pass as a well-formed answer about another journal about once in 2,000 runs).
      { readerId: id, journals: [{ journalId: ('ab' + j.slice(2)).toUpperCase(), batchSeq: 0, lastSeq: 0 }] },
      { readerId: id, journals: [{ journalId: j, batchSeq: '0', lastSeq: 0 }] },
      { readerId: id, journals: [{ journalId: j, batchSeq: 0 }] },
      { readerId: id, journals: [{ journalId: j, batchSeq: -1, lastSeq: 0 }] },
      { readerId: id, journals: [{ journalId: j, batchSeq: 0, lastSeq: 0 }, { journalId: j, batchSeq: 0, lastSeq: 0 }] },
    ];
    for (let i = 0; i < readerAnswers(0, '').length; i++) {
      const id = 1200 + n++;
      const r = vendingReader(issuer, 'sync-answers', id);
      const j = Buffer.from(r.journalId).toString('hex');
      const code = await lyingSync(id, 0, { status: 200, body: new TextEncoder().encode(JSON.stringify(readerAnswers(id, j)[i])) }, false);
      expect([i, code]).toEqual([i, 'sync.bad_answer']);
    }
    // The upload answered 200 for another batch, journal or reader, or with another outcome: not a delivery.
    const batchAnswers = (id: number, j: string) => [
      { outcome: 'ingested', readerId: id, journalId: j, batchSeq: 2 },
      { outcome: 'ingested', readerId: id, journalId: '00'.repeat(8), batchSeq: 1 },
      { outcome: 'duplicate', readerId: id + 1, journalId: j, batchSeq: 1 },
      { outcome: 'rejected', readerId: id, journalId: j, batchSeq: 1 },
      { outcome: 'accepted', readerId: id, journalId: j, batchSeq: 1 },
    ];
    for (let i = 0; i < batchAnswers(0, '').length; i++) {
      const id = 1300 + n++;
      const r = vendingReader(issuer, 'sync-answers', id);
      const j = Buffer.from(r.journalId).toString('hex');
      const code = await lyingSync(id, 1, { status: 200, body: new TextEncoder().encode(JSON.stringify(batchAnswers(id, j)[i])) }, false);
      expect([i, code]).toEqual([i, 'sync.bad_answer']);
    }
  });

  it('a 408 (the request did not arrive in time) is retried like a 5xx; a 4xx error answer to a batch is sync.batch_rejected with its code', async () => {
    const r = vendingReader(issuer, 'sync-answers', 1401);
    await sell(r, wallet, 3, 100);
    let first = true;
    const slow: typeof fetch = async (input, init) => {
      if (init?.method === 'POST' && first) {
        first = false;
        return new Response(JSON.stringify({ error: { code: 'api.body_timeout', message: 'the body did not arrive in time' } }), { status: 408 });
      }
      return fetch(input, init);
    };
    const done = await syncReader(r, { url, now: NOW + 3600, issuerKeys: issuer.keySet(), fetch: slow, attempts: 3, baseDelayMs: 1 });
    expect([done.retries, done.sent.map((s) => s.outcome)]).toEqual([1, ['ingested']]);
    for (const status of [400, 409, 413, 415, 422]) {
      const r2 = vendingReader(issuer, 'sync-answers', 1402 + status);
      await sell(r2, wallet, 4 + status, 100);
      const refusing: typeof fetch = async (input, init) =>
        init?.method === 'POST' ? new Response(JSON.stringify({ error: { code: 'api.bad_request', message: 'no' } }), { status }) : fetch(input, init);
      await expect(syncReader(r2, { url, now: NOW + 3600, issuerKeys: issuer.keySet(), fetch: refusing, attempts: 3, baseDelayMs: 1 })).rejects.toMatchObject({ code: 'sync.batch_rejected', detail: { batchSeq: 1, reason: 'api.bad_request' } });
    }
  });

  it('a generated answer to any one request: the sync completes or fails with a spec code, and a second honest sync completes', async () => {
    const enc = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
    const json = fc.oneof(
      fc.constantFrom(null, [], 5, 'x', true),
      fc.constantFrom({}, { journals: null }, { journals: 'x' }, { journals: [null, 5, { journalId: 3 }] }),
      fc.constantFrom({ outcome: 'ingested' }, { outcome: 'duplicate', entries: 'many' }, { outcome: 'rejected' }, { outcome: 'rejected', error: null }, { outcome: 'rejected', error: 5, reason: null }),
      fc.record({ journals: fc.array(fc.record({ journalId: fc.oneof(fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b).toString('hex')), fc.constant('')), batchSeq: fc.oneof(fc.integer(), fc.double(), fc.constant(null)) }), { maxLength: 3 }) }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    const body = fc.oneof(
      { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 },
      { arbitrary: json.map(enc), weight: 4 },
      { arbitrary: fc.constant(new Uint8Array(0)), weight: 1 },
    );
    const status = fc.oneof({ arbitrary: fc.constant(200), weight: 3 }, { arbitrary: fc.constantFrom(201, 204, 301, 304, 400, 404, 409, 413, 422, 429, 500, 503), weight: 2 });
    const answer = fc.record({ status, body });
    let run = 0;
    const failures = new Map<string, number>();
    let completed = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 4 }), answer, fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }), async (at, a, throwInstead) => {
        const code = await lyingSync(800 + (run++ % 100), at, a, throwInstead);
        if (code === null) return void completed++;
        failures.set(code, (failures.get(code) ?? 0) + 1);
        expect(isErrorCode(code), `${code} is not in a spec error table`).toBe(true);
      }),
      { numRuns: 250, seed: 701 },
    );
    // Both kinds of end were met, and several codes (so the checks above checked something).
    expect(completed).toBeGreaterThan(0);
    expect(failures.size).toBeGreaterThan(2);
  }, 120_000);
});
