/**
 * From an attack review (2026-12-07) of the first version of webhook intents (507d1a3); the test failed on it.
 * Defect: sweepRound stops after the first page whenever one intent of it stays (`left`), and the next round
 * reads the same oldest page again. So 256 intents of batches not held (a busy node killed with that many
 * batches in flight before their commits, whose readers went offline) hide every younger intent, among them
 * batches the dead node DID commit, whose events then wait until the old ones expire (a day) or are resent.
 */
import { batchToCommit, intentOf, neverCommits } from './dying.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toHex } from '../../base/hex.js';
import { Clearing } from '../../src/clearing/index.js';
import { tokenHash } from '../../src/index.js';
import { SqliteWebhookOutbox, type WebhookOutbox } from '../../src/server/outbox.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { makeIssuer, makeWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';
import { NOW } from '../reader/helpers.js';

const SEED = 'zz-hol';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;
const dir = mkdtempSync(join(tmpdir(), 'zz-hol-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const service = (outbox: WebhookOutbox) => new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox, pollMs: 60_000, clock: CLOCK });

describe('the sweep behind a full page of intents not held', () => {
  it('queues a committed batch\'s events though 256 older intents wait for their readers', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const file = join(dir, 'h.webhooks');
    const o1 = new SqliteWebhookOutbox(file);
    const dead = service(o1);
    // 256 batches in flight when the node dies, none committed.
    const hang = neverCommits(c);
    const r = vendingReader(issuer, SEED, 600);
    const w = makeWallet(issuer, SEED, 'x');
    for (let i = 0; i < 256; i++) {
      await sell(r, w, i + 1, 100);
      void dead.ingestBatch(hang, r.export(CLOCK()).bytes);
    }
    await new Promise((res) => setTimeout(res, 50));
    // One more batch the node committed, dying before its outbox write.
    const r2 = vendingReader(issuer, SEED, 601);
    const t = await sell(r2, makeWallet(issuer, SEED, 'y'), 1, 500);
    const bytes = r2.export(CLOCK()).bytes;
    await o1.intend(intentOf(batchToCommit(c, bytes)), Date.now() + 1);
    expect((await c.ingest(bytes)).outcome).toBe('ingested');
    // The restart, and several sweep rounds (each at INTENT_SWEEP_MS in a server).
    const o2 = new SqliteWebhookOutbox(file);
    const hooks = service(o2);
    try {
      for (let i = 0; i < 3; i++) await hooks.sweepIntents(c);
      expect(await o2.get(eventId('charge.complete', toHex(tokenHash(t)))), 'charge.complete of the committed batch').toBeDefined();
    } finally {
      await hooks.stop();
      await o1.close();
      await o2.close();
      await c.close();
    }
  }, 60_000);
});
