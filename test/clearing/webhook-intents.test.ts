/**
 * W1 across a crash (spec/clearing-api.md §9.2 step 1): a node that dies between the clearing commit of a batch and
 * the outbox write of its events must not lose them, though the reader, finding the batch held at its next sync,
 * never sends it again. The node writes an intent (the batch's token hashes) to the outbox before the commit and
 * deletes it with the events; a sweep at the next start (or by another node, on PostgreSQL) queues what a dead node
 * left. Before intents, the events lived only in the dead process's memory (the deferral of webhook-deferred.test.ts).
 *
 * A crash is simulated in process: the dead node's outbox write (or its clearing commit) never resolves, and a new
 * service over a new connection to the same outbox takes over, as a restarted `clearing serve` does.
 *  - SQLite: the restarted server's sweep at start queues the events; a batch that died before its commit keeps its
 *    intent until the reader's resend is held, and one never held goes after INTENT_EXPIRY_MS; a rejected batch
 *    leaves none; an intent the outbox refuses keeps the batch out of clearing (503);
 *  - a model test (fast-check): sales and clones at three readers, each batch crashing at a random point; after the
 *    restart's sweep, every token clearing holds as successful has its charge.complete and every blocked wallet its
 *    wallet.blocklisted, and the intents left are exactly the batches clearing does not hold;
 *  - PostgreSQL, two nodes on one database: the survivor sweeps the dead node's intent once it is older than the
 *    grace, not before.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { toHex } from '../../base/hex.js';
import { Clearing } from '../../src/clearing/index.js';
import { sha256 } from '../../src/crypto.js';
import { tokenHash } from '../../src/index.js';
import type { Reader } from '../../src/reader/index.js';
import { createClearingServer } from '../../src/server/api.js';
import { openPgWebhookOutbox } from '../../src/server/outbox-pg.js';
import { SqliteWebhookOutbox, type WebhookOutbox } from '../../src/server/outbox.js';
import { eventId, INTENT_EXPIRY_MS, WebhookService } from '../../src/server/webhooks.js';
import { HKD, NOW, makeIssuer, makeWallet, signToken, type TestWallet } from '../reader/helpers.js';
import { startPgCluster, type PgCluster } from './pg-cluster.js';
import { neverCommits } from './dying.js';
import { vendingReader } from './vending.js';

const SEED = 'webhook-intents';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;
const SECRET = '4e'.repeat(32);
const dir = mkdtempSync(join(tmpdir(), 'offpay-webhook-intents-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const outboxFile = () => join(dir, `o${files++}.webhooks`);

/** How a node dies while it ingests a batch. */
type Crash = 'none' | 'beforeCommit' | 'afterCommit';

/** An outbox whose event writes hang (the process died there) while `dead.on`; `refuseIntents` refuses intents. */
function mortal(inner: WebhookOutbox) {
  const dead = { on: false, refuseIntents: false, reached: false };
  const o: WebhookOutbox = {
    leaseMs: inner.leaseMs,
    add: (e, n, s) => (dead.on ? ((dead.reached = true), new Promise<number>(() => {})) : inner.add(e, n, s)),
    intend: (i, n) => (dead.refuseIntents ? Promise.reject(new OffpayError('clearing.store_unavailable', 'the webhook outbox refused a write (SQLITE_FULL)', { write: true })) : inner.intend(i, n)),
    intents: (a, n, l, after) => inner.intents(a, n, l, after),
    dropIntent: (id, c) => inner.dropIntent(id, c),
    intentCount: () => inner.intentCount(),
    intentHashes: (id) => inner.intentHashes(id),
    due: (n, l) => inner.due(n, l),
    hold: (id) => inner.hold(id),
    nextDue: () => inner.nextDue(),
    delivered: (id, a) => inner.delivered(id, a),
    failed: (id, a, e, n, d) => inner.failed(id, a, e, n, d),
    dead: (l) => inner.dead(l),
    prune: (b, l) => inner.prune(b, l),
    counts: () => inner.counts(),
    get: (id) => inner.get(id),
    close: () => inner.close(),
  };
  return { outbox: o, dead };
}

const service = (outbox: WebhookOutbox, extra: Partial<ConstructorParameters<typeof WebhookService>[0]> = {}) =>
  new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: SECRET, outbox, pollMs: 60_000, clock: CLOCK, ...extra });

/** Ingest `batch` through `hooks`, the node dying at `crash`; resolves once it died (or the ingest ended). */
async function ingestDying(hooks: WebhookService, dead: { on: boolean; reached: boolean }, c: Clearing, batch: Uint8Array, crash: Crash): Promise<void> {
  if (crash === 'none') {
    await hooks.ingestBatch(c, batch);
    return;
  }
  dead.on = crash === 'afterCommit';
  dead.reached = false;
  let failed: unknown;
  void hooks.ingestBatch(crash === 'beforeCommit' ? neverCommits(c, dead) : c, batch).catch((e: unknown) => (failed = e));
  for (let i = 0; i < 1_000 && !dead.reached && failed === undefined; i++) await new Promise((r) => setTimeout(r, 5));
  if (failed !== undefined) throw failed;
  expect(dead.reached).toBe(true);
}

/** A sale at `r` by `w` with `counter`; undefined when the reader refuses it (a counter it saw). */
async function sale(r: Reader, w: TestWallet, counter: number, amount: number): Promise<Uint8Array | undefined> {
  const { request } = r.openRequest({ amount, currency: HKD, now: NOW });
  const t = signToken(w, { payee: r.readerId, amount, counter, challenge: request.challenge });
  return (await r.accept(t, { complete: true })).accepted ? t : undefined;
}

async function until(ok: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return ok();
}

describe('SQLite: a node that dies between the commit and the events', () => {
  it('the restarted server queues the events at its start, though the reader never sends the batch again', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const file = outboxFile();
    const first = mortal(new SqliteWebhookOutbox(file));
    const r = vendingReader(issuer, SEED, 701);
    const t = (await sale(r, makeWallet(issuer, SEED, 'a'), 1, 1250))!;
    const batch = r.export(CLOCK()).bytes;
    await ingestDying(service(first.outbox), first.dead, c, batch, 'afterCommit');
    expect((await c.paymentFacts(tokenHash(t)))?.settled?.as).toBe('sale'); // committed
    const id = eventId('charge.complete', toHex(tokenHash(t)));
    expect(await first.outbox.get(id)).toBeUndefined(); // and its event never written
    // The restart: a new outbox connection, a new service, a server (its sweep runs at start).
    const outbox = new SqliteWebhookOutbox(file);
    const hooks = service(outbox);
    const server = createClearingServer({ clearing: c, issuer, operatorToken: 'ab'.repeat(32), clock: CLOCK, blocklistCheckSeconds: 0, webhooks: hooks });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    try {
      expect((server.address() as AddressInfo).port).toBeGreaterThan(0);
      expect(await until(async () => (await outbox.get(id)) !== undefined)).toBe(true);
      expect((await outbox.get(id))?.state).toBe('pending');
      expect(await outbox.intents(0, Date.now(), 10)).toEqual([]);
    } finally {
      await new Promise<void>((res) => server.close(() => res()));
      await hooks.stop();
      await outbox.close();
      await first.outbox.close();
      await c.close();
    }
  });

  it('died before the commit: the intent waits for the batch (the reader resends it), and one never held goes after INTENT_EXPIRY_MS', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const file = outboxFile();
    const first = mortal(new SqliteWebhookOutbox(file));
    const r = vendingReader(issuer, SEED, 702);
    const t = (await sale(r, makeWallet(issuer, SEED, 'b'), 1, 900))!;
    const batch = r.export(CLOCK()).bytes;
    await ingestDying(service(first.outbox), first.dead, c, batch, 'beforeCommit');
    expect(await c.paymentFacts(tokenHash(t))).toBeUndefined();
    let ms = Date.now();
    const outbox = new SqliteWebhookOutbox(file);
    const hooks = service(outbox, { nowMs: () => ms });
    try {
      expect(await hooks.sweepIntents(c)).toBe(0); // not held: kept
      expect((await outbox.intents(0, ms, 10)).length).toBe(1);
      expect(await outbox.intentCount()).toBe(1);
      // The reader, unanswered, sends it again: ingested, its events queued, the intent settled.
      expect((await hooks.ingestBatch(c, batch)).outcome).toBe('ingested');
      expect((await outbox.get(eventId('charge.complete', toHex(tokenHash(t)))))?.state).toBe('pending');
      expect(await outbox.intents(0, ms, 10)).toEqual([]);

      // Another batch dies before its commit and is never sent again (its reader was destroyed, say).
      const r2 = vendingReader(issuer, SEED, 703);
      await sale(r2, makeWallet(issuer, SEED, 'c'), 1, 400);
      const lost = mortal(outbox);
      await ingestDying(service(lost.outbox, { nowMs: () => ms }), lost.dead, c, r2.export(CLOCK()).bytes, 'beforeCommit');
      expect((await outbox.intents(0, ms, 10)).length).toBe(1);
      ms += INTENT_EXPIRY_MS - 10_000;
      expect(await hooks.sweepIntents(c)).toBe(0);
      ms += 10_000;
      expect(await hooks.sweepIntents(c)).toBe(1);
      expect(await outbox.intents(0, ms, 10)).toEqual([]);
    } finally {
      await hooks.stop();
      await outbox.close();
      await first.outbox.close();
      await c.close();
    }
  });

  it('a rejected batch leaves no intent; a batch whose intent the outbox refuses is not ingested', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const m = mortal(new SqliteWebhookOutbox(':memory:'));
    const hooks = service(m.outbox);
    try {
      const r = vendingReader(issuer, SEED, 704);
      const t = (await sale(r, makeWallet(issuer, SEED, 'd'), 1, 300))!;
      const batch = r.export(CLOCK()).bytes;
      const forged = batch.slice();
      forged[forged.length - 1]! ^= 1; // the reader's signature broken
      expect((await hooks.ingestBatch(c, forged)).outcome).toBe('rejected');
      expect(await m.outbox.intents(0, Date.now(), 10)).toEqual([]);
      m.dead.refuseIntents = true;
      await expect(hooks.ingestBatch(c, batch)).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
      expect(await c.paymentFacts(tokenHash(t))).toBeUndefined();
      m.dead.refuseIntents = false;
      expect((await hooks.ingestBatch(c, batch)).outcome).toBe('ingested');
      expect(await m.outbox.intents(0, Date.now(), 10)).toEqual([]);
    } finally {
      await hooks.stop();
      await m.outbox.close();
      await c.close();
    }
  });
});

describe('model: every committed batch\'s events survive any crash point', () => {
  const step = fc.record({
    reader: fc.nat(2),
    wallet: fc.nat(2),
    counter: fc.integer({ min: 1, max: 4 }),
    amount: fc.integer({ min: 1, max: 5_000 }),
    crash: fc.constantFrom<Crash>('none', 'none', 'beforeCommit', 'afterCommit'),
  });
  it('after the restart\'s sweep: charge.complete for every successful token, wallet.blocklisted for every blocked wallet, intents only of batches not held', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        run++;
        const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
        const file = outboxFile();
        const readers = [0, 1, 2].map((i) => vendingReader(issuer, SEED, 800 + i));
        const wallets = [0, 1, 2].map((i) => makeWallet(issuer, SEED, `m${run}-${i}`));
        const tokens: Uint8Array[] = [];
        const batches: { bytes: Uint8Array; tokens: Uint8Array[] }[] = [];
        const opened: WebhookOutbox[] = [];
        let node = mortal(new SqliteWebhookOutbox(file));
        opened.push(node.outbox);
        let hooks = service(node.outbox);
        try {
          for (const s of steps) {
            const t = await sale(readers[s.reader]!, wallets[s.wallet]!, s.counter, s.amount);
            if (!t) continue;
            tokens.push(t);
            const bytes = readers[s.reader]!.export(CLOCK()).bytes;
            batches.push({ bytes, tokens: [t] });
            await ingestDying(hooks, node.dead, c, bytes, s.crash);
            if (s.crash !== 'none') {
              // The node died: a new process over the same outbox file.
              node = mortal(new SqliteWebhookOutbox(file));
              opened.push(node.outbox);
              hooks = service(node.outbox);
            }
          }
          await hooks.sweepIntents(c);
          const outbox = node.outbox;
          for (const t of tokens) {
            const h = toHex(tokenHash(t));
            const facts = await c.paymentFacts(tokenHash(t));
            const ev = await outbox.get(eventId('charge.complete', h));
            if (facts?.settled) expect(ev, `charge.complete of ${h}`).toBeDefined();
          }
          for (const w of await c.blockedWalletIds()) expect(await outbox.get(eventId('wallet.blocklisted', toHex(w)))).toBeDefined();
          const left = new Set((await outbox.intents(0, Date.now() + 1e9, 1_000)).map((i) => i.id));
          const notHeld = new Set<string>();
          for (const b of batches) if (!(await c.paymentFacts(tokenHash(b.tokens[0]!)))) notHeld.add(toHex(sha256(b.bytes)));
          expect(left).toEqual(notHeld);
          // The readers send what was never answered: then every intent is gone, every event queued.
          for (const b of batches) await hooks.ingestBatch(c, b.bytes);
          expect(await outbox.intents(0, Date.now() + 1e9, 1_000)).toEqual([]);
          for (const t of tokens) {
            if ((await c.paymentFacts(tokenHash(t)))?.settled) expect(await outbox.get(eventId('charge.complete', toHex(tokenHash(t))))).toBeDefined();
          }
        } finally {
          await hooks.stop();
          for (const o of opened) await o.close();
          await c.close();
        }
      }),
      { numRuns: 25, seed: 0x1e7, endOnFailure: true },
    );
  }, 120_000);
});

const started = await startPgCluster();
if (typeof started === 'string') {
  describe('PostgreSQL: intents of a dead node', () => {
    it.skip(`skipped: ${started}`, () => {});
  });
} else {
  const cluster: PgCluster = started;
  afterAll(() => cluster.stop());
  describe('PostgreSQL: intents of a dead node', () => {
    it('the surviving node sweeps a dead node\'s intent once it is older than the grace, not before, and queues its events', async () => {
      const url = await cluster.createDatabase();
      const c1 = await Clearing.open({ issuerKeys: issuer.keySet(), clock: CLOCK, url });
      const c2 = await Clearing.open({ issuerKeys: issuer.keySet(), clock: CLOCK, url });
      const n1 = mortal(await openPgWebhookOutbox({ url, node: 'n1' }));
      const o2 = await openPgWebhookOutbox({ url, node: 'n2' });
      const hooks2 = service(o2, { intentGraceMs: 1_500 });
      try {
        const r = vendingReader(issuer, SEED, 901);
        const w = makeWallet(issuer, SEED, 'pg');
        const t = (await sale(r, w, 1, 2_000))!;
        await ingestDying(service(n1.outbox), n1.dead, c1, r.export(CLOCK()).bytes, 'afterCommit');
        expect((await c2.paymentFacts(tokenHash(t)))?.settled?.as).toBe('sale');
        const id = eventId('charge.complete', toHex(tokenHash(t)));
        expect(await hooks2.sweepIntents(c2)).toBe(0); // younger than the grace: n1 may still be at it
        expect(await o2.get(id)).toBeUndefined();
        await new Promise((res) => setTimeout(res, 1_600));
        expect(await hooks2.sweepIntents(c2)).toBe(1);
        expect((await o2.get(id))?.state).toBe('pending');
        expect(await o2.intents(0, Date.now(), 10)).toEqual([]);
        // A rejected batch's intent goes at once (the DELETE alone: an outbox write with no events).
        const r2 = vendingReader(issuer, SEED, 902);
        await sale(r2, w, 2, 100);
        const forged = r2.export(CLOCK()).bytes.slice();
        forged[forged.length - 1]! ^= 1;
        expect((await hooks2.ingestBatch(c2, forged)).outcome).toBe('rejected');
        expect(await o2.intents(0, Date.now() + 1e9, 10)).toEqual([]);
      } finally {
        await hooks2.stop();
        await o2.close();
        await n1.outbox.close();
        await c1.close();
        await c2.close();
      }
    }, 60_000);
  });
}
