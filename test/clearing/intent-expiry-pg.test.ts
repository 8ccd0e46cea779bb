/**
 * From an attack review (2026-12-07) of the first version of webhook intents (507d1a3); the test failed on it.
 * Defects of the intent's expiry on PostgreSQL (an intent not named is deleted INTENT_EXPIRY_MS after `created`):
 *  1. A resend keeps the OLD intent's time (ON CONFLICT DO NOTHING): a batch that died before its commit yesterday
 *     and is resent today rides on an intent already past the expiry. Any node's sweep during the resend's ingest
 *     deletes it (not named yet, expired); the resend commits, its node dies before the outbox write: lost (the
 *     reader then finds the batch held and never resends).
 *  2. The expiry compares `created` (DATABASE clock) with the sweeping node's own clock: a node whose clock runs
 *     a day ahead deletes every not-yet-committed intent as soon as the grace has passed.
 */
import { dying, neverCommits } from './dying.js';
import { afterAll, describe, expect, it } from 'vitest';
import { toHex } from '../../base/hex.js';
import { Clearing, type IngestHooks } from '../../src/clearing/index.js';
import { tokenHash } from '../../src/index.js';
import { openPgWebhookOutbox } from '../../src/server/outbox-pg.js';
import type { WebhookOutbox } from '../../src/server/outbox.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { NOW, makeIssuer, makeWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';
import { startPgCluster, type PgCluster } from './pg-cluster.js';

const SEED = 'zz-expiry';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;
const service = (outbox: WebhookOutbox, extra: Partial<ConstructorParameters<typeof WebhookService>[0]> = {}) =>
  new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox, pollMs: 60_000, clock: CLOCK, ...extra });
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

const started = await startPgCluster();
if (typeof started === 'string') {
  describe('pg', () => it.skip(started, () => {}));
} else {
  const cluster: PgCluster = started;
  afterAll(() => cluster.stop());

  /** Node A ingests `bytes` slowly and dies at its outbox write; node B (nowMs given) sweeps meanwhile. */
  async function scenario(opts: { bNowMs?: () => number; ageIntentMs?: number }, readerId: number) {
    const url = await cluster.createDatabase();
    const cA = await Clearing.open({ issuerKeys: issuer.keySet(), clock: CLOCK, url });
    const cB = await Clearing.open({ issuerKeys: issuer.keySet(), clock: CLOCK, url });
    const oA = await openPgWebhookOutbox({ url, node: 'A' });
    const oB = await openPgWebhookOutbox({ url, node: 'B' });
    const r = vendingReader(issuer, SEED, readerId);
    const t = await sell(r, makeWallet(issuer, SEED, `w${readerId}`), 1, 900);
    const bytes = r.export(CLOCK()).bytes;
    const evt = eventId('charge.complete', toHex(tokenHash(t)));
    const a = service(dying(oA, (ids) => ids.includes(evt)), { intentGraceMs: 1_000 });
    const b = service(oB, { intentGraceMs: 1_000, ...(opts.bNowMs ? { nowMs: opts.bNowMs } : {}) });
    try {
      if (opts.ageIntentMs !== undefined) {
        // Yesterday: the batch's first node wrote its intent and died before the commit.
        const hang = neverCommits(cA);
        void service(oA).ingestBatch(hang, bytes);
        await wait(200);
        await (oB as unknown as { rows(q: string, v?: unknown[]): Promise<unknown[]> }).rows('UPDATE webhook_intents SET created = created - $1', [opts.ageIntentMs]);
      }
      // Today (or now): A ingests the batch, slowly; B sweeps past the grace.
      let go!: () => void;
      const held = new Promise<void>((res) => (go = res));
      const slowA = Object.create(cA, { ingest: { value: async (x: Uint8Array, hooks?: IngestHooks) => cA.ingest(x, { beforeCommit: async (b) => { await hooks?.beforeCommit?.(b); await held; } }) } }) as Clearing;
      void a.ingestBatch(slowA, bytes);
      await wait(1_500);
      await b.sweepIntents(cB);
      go();
      for (let i = 0; i < 400 && !(await cB.paymentFacts(tokenHash(t)))?.settled; i++) await wait(5);
      expect((await cB.paymentFacts(tokenHash(t)))?.settled?.as).toBe('sale'); // committed; A died at its outbox write
      await wait(1_200);
      await service(oB, { intentGraceMs: 1_000 }).sweepIntents(cB); // any node, later
      return await oB.get(evt);
    } finally {
      await b.stop();
      await oA.close();
      await oB.close();
      await cA.close();
      await cB.close();
    }
  }

  describe('PostgreSQL: intent expiry', () => {
    it('a resend a day later is not left on an intent already expired', async () => {
      expect(await scenario({ ageIntentMs: 86_400_000 + 5_000 }, 51), 'charge.complete').toBeDefined();
    }, 60_000);
    it('a node whose clock runs a day ahead does not expire a fresh intent of a batch being ingested', async () => {
      expect(await scenario({ bNowMs: () => Date.now() + 86_400_000 }, 52), 'charge.complete').toBeDefined();
    }, 60_000);
  });
}
