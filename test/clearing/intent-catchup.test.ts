/**
 * From an attack review (2026-12-07) of a636bfc. spec/clearing-api.md §9.1 "Cost and catch-up": the whole clearing blocklist is compared
 * with the wallets this node queued "(a) at the first batch or blocklist check after the server starts (the
 * catch-up: a wallet blocked just before a crash ...)". Since a636bfc a duplicate whose intent is gone derives
 * nothing (afterTokens is never called), so it no longer runs the catch-up either; nor does the start-up sweep
 * when no intent is left. Scenario: a blocklist check's over-allowance pass blocks wallet W and the node dies
 * before afterBlocklist's outbox write (no intent covers it: only the catch-up can queue it). After the restart a reader resends a held
 * batch (its answer was lost): the first batch after the start, yet W's event is not queued; it waits for the
 * next NEW batch or a reader's blocklist fetch (merchants keep serving W meanwhile). Before a636bfc the
 * duplicate ran the catch-up.
 * Suggested fix: when !caughtUp, run the catch-up (blockEvents of blockedWalletIds) on the duplicate path too (it
 * is once per process, so the cost bound of §9.1 holds), or at the start-up sweep; or reword (a) to "the first
 * batch committed".
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../base/hex.js';
import { Clearing } from '../../src/clearing/index.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { NOW, makeIssuer, makeWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';

const SEED = 'zz-r4-catchup';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;

describe('catch-up after a restart', () => {
  it('a held batch sent again as the first batch after the start queues the wallet.blocklisted the crash lost', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const w = makeWallet(issuer, SEED, 'w', { maxPerPayment: 100, offlineAllowance: 150 });
    const r1 = vendingReader(issuer, SEED, 11);
    const r2 = vendingReader(issuer, SEED, 12);
    await sell(r1, w, 1, 100);
    await sell(r2, w, 2, 100); // 200 in all at two readers: over the wallet's allowance of 150
    const b1 = r1.export(CLOCK()).bytes;
    const b2 = r2.export(CLOCK()).bytes;
    const o = new SqliteWebhookOutbox(':memory:');
    // The node before the crash: both batches committed, their events queued, no intent left.
    const before = new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox: o, pollMs: 60_000, clock: CLOCK });
    expect((await before.ingestBatch(c, b1)).outcome).toBe('ingested');
    expect((await before.ingestBatch(c, b2)).outcome).toBe('ingested');
    expect(await c.blockedWalletIds()).toHaveLength(0);
    // A blocklist check: the over-allowance pass commits the block, and the node dies before afterBlocklist's
    // outbox write (BlocklistIssuer.refresh: blockOverAllowance, then webhooks.afterBlocklist).
    await c.blockOverAllowance(CLOCK());
    const walletHex = (await c.blockedWalletIds()).map(toHex);
    expect(walletHex).toHaveLength(1);
    const evt = eventId('wallet.blocklisted', walletHex[0]!);
    expect(await o.get(evt)).toBeUndefined();
    expect(await o.intentCount()).toBe(0);
    // The restarted node: its start-up sweep, then the reader of b1, whose answer was lost, sends b1 again: the
    // first batch after the start.
    const after = new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox: o, pollMs: 60_000, clock: CLOCK });
    await after.sweepIntents(c);
    expect((await after.ingestBatch(c, b1)).outcome).toBe('duplicate');
    expect(await o.get(evt), 'wallet.blocklisted of the wallet blocked before the crash, after the first batch since the start').toBeDefined();
    await before.stop();
    await after.stop();
    await o.close();
    await c.close();
  });
});
