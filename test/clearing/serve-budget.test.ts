/**
 * The in-flight body budget of clearing serve (spec/clearing-api.md §3): the bodies of all requests together are
 * bounded until each is answered. A declared body the budget cannot hold is 503 api.busy with Retry-After before
 * anything is read, a chunked one when it passes the budget; bytes come back when a request is answered,
 * however it ends; and reader sync, retrying 503, completes once room is made.
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

/** Upload `n` bytes declared, retrying while the server answers 503 (bytes of requests that ended still coming back). */
async function uploadWhenRoom(n: number): Promise<Answer> {
  for (let k = 0; k < 500; k++) {
    const u = upload(n);
    await write(u.req, n);
    u.req.end();
    const a = await u.answer;
    if (a.status !== 503) return a;
    await sleep(10);
  }
  throw new Error(`no room for ${n} bytes`);
}

describe('clearing serve: request bodies held at once', () => {
  it('refuses a body the budget cannot hold (503 api.busy, Retry-After), declared before reading and chunked when it passes; gives bytes back however a request ends', async () => {
    // A holds 600,000 of the 1,000,000 while its body trickles in.
    const a = upload(600_000);
    await write(a.req, 1_000);
    await untilHeld(600_000);
    // B declares 600,000: no room, answered at once, its body never read.
    const b = upload(600_000);
    b.req.write(new Uint8Array(10));
    const busy = await b.answer;
    expect(busy.status).toBe(503);
    expect(busy.body.error?.code).toBe('api.busy');
    expect(busy.headers['retry-after']).toBe('1');
    // C, chunked, is taken chunk by chunk: fine up to 400,000, refused past it.
    const c = upload();
    await write(c.req, 300_000);
    await write(c.req, 200_000);
    c.req.end();
    const cut = await c.answer;
    expect(cut.status).toBe(503);
    expect(cut.body.error?.code).toBe('api.busy');
    // A ends: not a batch (422), and its 600,000 come back with C's.
    await write(a.req, 599_000);
    a.req.end();
    expect((await a.answer).status).toBe(422);
    // So a body as large as the budget allows is read again: 2 x 500,000 at once, both answered 422.
    const d = upload(500_000);
    const e = upload(500_000);
    await Promise.all([write(d.req, 500_000), write(e.req, 500_000)]);
    d.req.end();
    e.req.end();
    expect([(await d.answer).status, (await e.answer).status]).toEqual([422, 422]);
    // A body cut off by the client gives its bytes back too (once the server has seen the connection close).
    const f = upload(600_000);
    await write(f.req, 10_000);
    await untilHeld(600_000);
    f.req.destroy();
    expect((await uploadWhenRoom(600_000)).status).toBe(422);
    expect(budget.held).toBe(0); // every request answered or gone: every byte back
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
    const hog = upload(600_000);
    await write(hog.req, 1_000);
    await untilHeld(600_000);
    const hog2 = upload(400_000); // the budget is now full: any body at all is refused
    await write(hog2.req, 1_000);
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
    for (let k = 0; k < 2000 && budget.held > 0; k++) await sleep(5);
    expect(budget.held).toBe(0);
  });
});
