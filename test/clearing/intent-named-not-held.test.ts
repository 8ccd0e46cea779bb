/**
 * From an attack review (2026-12-07) of the first version of webhook intents (507d1a3); the test failed on it.
 * Defect: the sweep treats an intent as "held" when clearing names ANY of its token hashes, not when the batch
 * itself is held. A batch that names a token an EARLIER batch already made known (a transit tap-out after its
 * tap-in; a conflict entry of a replayed token) looks held before its own commit: the sweep derives nothing new
 * (the token is still an open trip), deletes the intent, and a writer that then commits and dies before its
 * outbox write loses the charge.complete for good (the reader finds the batch held and never resends it).
 *  1. PostgreSQL: node A's ingest runs past the grace (spec §9.2 step 1.3 claims "deletes the intent only when
 *     the batch is held, so even then nothing is lost"); node B sweeps; A commits, dies.
 *  2. SQLite: the restart's sweep races the reader's resend of the batch that died before its commit (the
 *     sweep already passed its in-flight check); the resend commits and the node dies again.
 */
import { dying, neverCommits } from './dying.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toHex } from '../../base/hex.js';
import { Clearing, type IngestHooks } from '../../src/clearing/index.js';
import { tokenHash } from '../../src/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { openPgWebhookOutbox } from '../../src/server/outbox-pg.js';
import { SqliteWebhookOutbox, type WebhookOutbox } from '../../src/server/outbox.js';
import { paymentState } from '../../src/server/payments.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';
import { startPgCluster, type PgCluster } from './pg-cluster.js';

const SEED = 'zz-named';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;
const SECRET = '4e'.repeat(32);
const dir = mkdtempSync(join(tmpdir(), 'zz-named-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gate(id: number): Reader {
  const m = makeReader(issuer, SEED, id, 'transit', 300);
  const r = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
  r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes);
  return r;
}

/** Tap-in batch W (ingested by the caller) and tap-out batch X of the same token T. */
async function trip(readerId: number, wallet: string) {
  const r = gate(readerId);
  const w = makeWallet(issuer, SEED, wallet);
  const t = signToken(w, { payee: 300, amount: 2000, counter: 1, time: NOW });
  expect((await r.accept(t, { tapIn: { maxFare: 2000, currency: HKD } })).accepted).toBe(true);
  const W = r.export(NOW + 60).bytes;
  await r.tapOut(t, { fare: 700, currency: HKD, now: NOW + 600 });
  const X = r.export(NOW + 700).bytes;
  return { t, W, X };
}


const service = (outbox: WebhookOutbox, extra: Partial<ConstructorParameters<typeof WebhookService>[0]> = {}) =>
  new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: SECRET, outbox, pollMs: 60_000, clock: CLOCK, ...extra });

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SQLite: the restart sweep races the resend of a batch that died before its commit', () => {
  it('the tap-out\'s charge.complete survives a second crash after the resend\'s commit', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const file = join(dir, 'a.webhooks');
    const { t, W, X } = await trip(31, 'sq');
    const h = toHex(tokenHash(t));
    const evt = eventId('charge.complete', h);
    // Process 1: W ingested; X's node dies before its commit (its intent stays).
    const o1 = new SqliteWebhookOutbox(file);
    const p1 = service(o1);
    expect((await p1.ingestBatch(c, W)).outcome).toBe('ingested');
    const hang = neverCommits(c);
    void p1.ingestBatch(hang, X);
    await wait(50);
    expect((await o1.intents(0, Date.now(), 10)).length).toBe(1);
    // Process 2: its start sweep reads the intent (not in flight), looks the token up ...
    const o2 = new SqliteWebhookOutbox(file);
    const p2 = service(dying(o2, (ids) => ids.includes(evt)));
    let release!: () => void;
    const gateP = new Promise<void>((r) => (release = r));
    const slow = Object.create(c, { paymentFacts: { value: async (x: Uint8Array) => { const f = await c.paymentFacts(x); await gateP; return f; } } }) as Clearing;
    const sweep = p2.sweepIntents(slow);
    await wait(20);
    // ... while the reader's resend of X arrives, commits, and the node dies writing its events.
    void p2.ingestBatch(c, X);
    const done = async (cl: Clearing) => { const f = await cl.paymentFacts(tokenHash(t)); return f !== undefined && paymentState(h, f).state === 'successful'; };
    for (let i = 0; i < 200 && !(await done(c)); i++) await wait(5);
    const f = (await c.paymentFacts(tokenHash(t)))!;
    expect(paymentState(h, f).state).toBe('successful'); // X is held now
    release();
    await sweep;
    // Process 3: the restart. The reader's next sync finds X held and never sends it again.
    const o3 = new SqliteWebhookOutbox(file);
    const p3 = service(o3);
    await p3.sweepIntents(c);
    try {
      expect(await o3.get(evt), 'charge.complete of the tap-out').toBeDefined();
    } finally {
      await p3.stop();
      for (const o of [o1, o2, o3]) await o.close();
      await c.close();
    }
  }, 30_000);
});

const started = await startPgCluster();
if (typeof started !== 'string') {
  const cluster: PgCluster = started;
  afterAll(() => cluster.stop());
  describe('PostgreSQL: a writer whose ingest outlasts the grace', () => {
    it('another node\'s sweep must not settle the intent of a batch not yet held', async () => {
      const url = await cluster.createDatabase();
      const cA = await Clearing.open({ issuerKeys: issuer.keySet(), clock: CLOCK, url });
      const cB = await Clearing.open({ issuerKeys: issuer.keySet(), clock: CLOCK, url });
      const oA = await openPgWebhookOutbox({ url, node: 'A' });
      const oB = await openPgWebhookOutbox({ url, node: 'B' });
      const { t, W, X } = await trip(41, 'pg');
      const evt = eventId('charge.complete', toHex(tokenHash(t)));
      const a = service(dying(oA, (ids) => ids.includes(evt)), { intentGraceMs: 1_000 });
      const b = service(oB, { intentGraceMs: 1_000 });
      try {
        expect((await b.ingestBatch(cB, W)).outcome).toBe('ingested');
        // A's ingest of X is slow (a lock wait, a paused VM): it commits only after B's sweep.
        let go!: () => void;
        const held = new Promise<void>((r) => (go = r));
        const slowA = Object.create(cA, { ingest: { value: async (bytes: Uint8Array, hooks?: IngestHooks) => cA.ingest(bytes, { beforeCommit: async (b) => { await hooks?.beforeCommit?.(b); await held; } }) } }) as Clearing;
        void a.ingestBatch(slowA, X);
        await wait(1_500);
        expect(await b.sweepIntents(cB)).toBe(0); // X is not held yet: its intent stays
        go();
        const h = toHex(tokenHash(t));
        const done = async () => { const f = await cB.paymentFacts(tokenHash(t)); return f !== undefined && paymentState(h, f).state === 'successful'; };
        for (let i = 0; i < 400 && !(await done()); i++) await wait(5);
        expect(await done()).toBe(true); // X committed; A dies writing its events
        await wait(1_500);
        await b.sweepIntents(cB);
        expect(await oB.get(evt), 'charge.complete of the tap-out').toBeDefined();
      } finally {
        await b.stop();
        await oA.close();
        await oB.close();
        await cA.close();
        await cB.close();
      }
    }, 60_000);
  });
}
