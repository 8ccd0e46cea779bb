/**
 * The in-flight body budget of clearing serve (spec/clearing-api.md §3): the bodies of all requests together are
 * bounded until each is answered. A body's bytes are charged to the budget as they arrive, a declared body's as a
 * chunked one's (a client that declares a length but sends nothing holds nothing, so silent connections cannot
 * lock real uploads out); the chunk that passes the budget is refused 503 api.busy with Retry-After and the
 * connection closed; bytes come back when a request is answered, however it ends; and reader sync, retrying
 * 503, completes once room is made.
 */
import { request, type ClientRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { syncReader } from '../../src/reader/sync.js';
import { createClearingServer } from '../../src/server/api.js';
import { BodyBudget } from '../../src/server/body.js';
import { NOW, makeIssuer, makeWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';

const issuer = makeIssuer('serve-budget');
const CLOCK = () => NOW + 3600;
const BUDGET = 1_000_000;
const budget = new BodyBudget(BUDGET);
const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK, maxBatchBytes: 600_000 });
let server: Server;
let port = 0;

beforeAll(async () => {
  server = createClearingServer({ clearing, issuer, operatorToken: 'b3'.repeat(32), clock: CLOCK, blocklistCheckSeconds: 0, bodyBudget: budget });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
  await clearing.close();
});

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: { error?: { code: string }; outcome?: string };
}

/** A POST /v1/batches whose body the test writes piece by piece; `answer` settles with the server's answer. */
function upload(declared?: number): { req: ClientRequest; answer: Promise<Answer> } {
  const headers: Record<string, string> = { 'content-type': 'application/cbor' };
  if (declared !== undefined) headers['content-length'] = String(declared);
  const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/batches', headers });
  req.flushHeaders(); // the server sees the request (and its declared length) before any body byte
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) as Answer['body'] }));
    });
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
  });
  return { req, answer };
}
const write = (req: ClientRequest, n: number) => new Promise<void>((r) => req.write(new Uint8Array(n).fill(0x41), () => r()));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until the server holds at least `n` bytes of bodies (what it holds decides, not how long anything took). */
async function untilHeld(n: number): Promise<void> {
  for (let k = 0; k < 2000 && budget.held < n; k++) await sleep(5);
  expect(budget.held).toBeGreaterThanOrEqual(n);
}

/** Wait until the server holds exactly `n` bytes of bodies (the bytes of requests that ended coming back). */
async function untilHeldIs(n: number): Promise<void> {
  for (let k = 0; k < 2000 && budget.held !== n; k++) await sleep(5);
  expect(budget.held).toBe(n);
}

describe('clearing serve: request bodies held at once', () => {
  it('charges a body as its bytes arrive, declared or chunked; refuses the chunk that passes the budget (503 api.busy, Retry-After, connection closed); gives bytes back however a request ends', async () => {
    // A declares 600,000 and sends 1,000: it holds the 1,000 that came, not the 600,000 declared.
    const a = upload(600_000);
    await write(a.req, 1_000);
    await untilHeldIs(1_000);
    await write(a.req, 500_000);
    await untilHeldIs(501_000);
    // B declares 600,000 too: its body is read, not refused at once; 300,000 fit beside A's 501,000...
    const b = upload(600_000);
    await write(b.req, 300_000);
    await untilHeldIs(801_000);
    // ... and the chunk that passes the budget is refused, the connection closed, B's bytes given back.
    await write(b.req, 200_000);
    const busy = await b.answer;
    expect(busy.status).toBe(503);
    expect(busy.body.error?.code).toBe('api.busy');
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.headers.connection).toBe('close');
    await untilHeldIs(501_000);
    // C, chunked, is charged the same way: fine up to 499,000, refused past it.
    const c = upload();
    await write(c.req, 300_000);
    await write(c.req, 200_000);
    c.req.end();
    const cut = await c.answer;
    expect(cut.status).toBe(503);
    expect(cut.body.error?.code).toBe('api.busy');
    expect(cut.headers['retry-after']).toBe('1');
    await untilHeldIs(501_000);
    // A declared length above the batch limit is still refused 413 at once, unread, holding nothing.
    const big = await upload(600_001).answer;
    expect([big.status, big.body.error?.code]).toEqual([413, 'clearing.too_large']);
    expect(budget.held).toBe(501_000);
    // A ends: not a batch (422), and its 501,000 come back.
    await write(a.req, 99_000);
    a.req.end();
    expect((await a.answer).status).toBe(422);
    await untilHeldIs(0);
    // So a body as large as the budget allows is read again: 2 x 500,000 at once, both answered 422.
    const d = upload(500_000);
    const e = upload(500_000);
    await Promise.all([write(d.req, 500_000), write(e.req, 500_000)]);
    d.req.end();
    e.req.end();
    expect([(await d.answer).status, (await e.answer).status]).toEqual([422, 422]);
    await untilHeldIs(0);
    // A body cut off by the client gives its bytes back too (once the server has seen the connection close).
    const f = upload(600_000);
    await write(f.req, 10_000);
    await untilHeldIs(10_000);
    f.req.destroy();
    await untilHeldIs(0);
    const g = upload(600_000);
    await write(g.req, 600_000);
    g.req.end();
    expect((await g.answer).status).toBe(422);
    await untilHeldIs(0); // every request answered or gone: every byte back
  });

  it('a budget is given as a size or as a shared BodyBudget, not both, and never below the largest batch (api.bad_option)', () => {
    const o = { clearing, issuer, operatorToken: 'b3'.repeat(32), clock: CLOCK };
    expect(() => createClearingServer({ ...o, maxInflightBytes: BUDGET, bodyBudget: budget })).toThrow(expect.objectContaining({ code: 'api.bad_option' }));
    expect(() => createClearingServer({ ...o, bodyBudget: new BodyBudget(599_999) })).toThrow(expect.objectContaining({ code: 'api.bad_option' }));
    expect(() => createClearingServer({ ...o, maxInflightBytes: 599_999 })).toThrow(expect.objectContaining({ code: 'api.bad_option' }));
  });

  it('reader sync waits out a full budget (it retries 503) and completes', async () => {
    const r = vendingReader(issuer, 'serve-budget', 301);
    await sell(r, makeWallet(issuer, 'serve-budget', 'a'), 1, 150);
    // Two bodies, each declared longer than it has yet sent, hold the whole budget with the bytes that came.
    const hog = upload(600_000);
    await write(hog.req, 599_999);
    await untilHeld(599_999);
    const hog2 = upload(500_000);
    await write(hog2.req, 400_001); // the budget is now full: any body at all is refused
    await untilHeld(BUDGET);
    let retries = 0;
    const sync = syncReader(r, { url: `http://127.0.0.1:${port}`, now: NOW + 3600, issuerKeys: issuer.keySet(), attempts: 100, baseDelayMs: 10, maxDelayMs: 50, deadlineMs: 60_000, log: () => retries++ });
    let settled = false;
    void sync.finally(() => (settled = true)).catch(() => undefined);
    // Room is made only once the batch upload has met a 503 and is being retried.
    while (retries === 0 && !settled) await sleep(10);
    expect(settled).toBe(false);
    for (const h of [hog, hog2]) h.req.destroy();
    const done = await sync;
    expect(done.sent).toEqual([expect.objectContaining({ batchSeq: 1, outcome: 'ingested' })]);
    expect(done.retries).toBeGreaterThan(0);
    await untilHeldIs(0);
  });

  it('connections that only send headers declaring the largest batch hold nothing: a body of that size and a reader sync still get through', async () => {
    // The attack (clearing-api.md §3): sockets that declare a large Content-Length and then stay silent. Were a
    // declared length charged at once, a few of them would hold the budget for the whole body deadline (and
    // again at will), and every real upload would be 503 all along.
    let seen = 0;
    const count = (req: IncomingMessage) => void (req.url === '/v1/batches' && seen++);
    server.on('request', count); // after the server's own listener, which has read the headers by then
    const hogs = [0, 1, 2, 3].map(() => upload(600_000));
    try {
      for (let k = 0; k < 2000 && seen < hogs.length; k++) await sleep(5);
      expect(seen).toBe(hogs.length);
      expect(budget.held).toBe(0);
      // A body of the largest batch's size is read to its end and judged (not a batch: 422), not refused 503.
      const big = upload(600_000);
      await write(big.req, 600_000);
      big.req.end();
      const answer = await big.answer;
      expect([answer.status, answer.body.error?.code]).not.toEqual([503, 'api.busy']);
      expect(answer.status).toBe(422);
      // And a real batch is ingested at the first try.
      const r = vendingReader(issuer, 'serve-budget', 302);
      await sell(r, makeWallet(issuer, 'serve-budget', 'b'), 1, 150);
      const done = await syncReader(r, { url: `http://127.0.0.1:${port}`, now: NOW + 3600, issuerKeys: issuer.keySet(), attempts: 1, deadlineMs: 10_000 });
      expect(done.sent).toEqual([expect.objectContaining({ batchSeq: 1, outcome: 'ingested' })]);
      expect(done.retries).toBe(0);
      await untilHeldIs(0); // the silent sockets, still open, hold nothing
    } finally {
      server.off('request', count);
      for (const h of hogs) h.req.destroy();
    }
    await untilHeldIs(0);
  });
});
