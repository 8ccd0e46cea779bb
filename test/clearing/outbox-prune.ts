/**
 * The outbox's retention rule (spec/clearing-api.md §9.2 step 7), for any engine: `prune` deletes only delivered
 * charge.complete and charge.refunded events created before the cutoff, at most `limit` a call; pending, dead and
 * wallet.blocklisted events stay whatever their age.
 */
import { expect } from 'vitest';
import type { WebhookOutbox } from '../../src/server/outbox.js';

export async function expectPruneRule(outbox: WebhookOutbox): Promise<void> {
  const DAY = 86_400;
  const t0 = 1_800_000_000;
  const ev = (n: number, type: string, created: number) => ({ id: `evt_${n.toString(16).padStart(32, '0')}`, type, body: new TextEncoder().encode(`{"n":${n}}`), created });
  // Old events (10 days) of every type and state, and new ones (1 day).
  const old = [
    ev(1, 'charge.complete', t0 - 10 * DAY), ev(2, 'charge.complete', t0 - 10 * DAY), ev(3, 'charge.refunded', t0 - 10 * DAY), ev(4, 'wallet.blocklisted', t0 - 10 * DAY),
    ev(5, 'charge.complete', t0 - 10 * DAY), ev(6, 'charge.complete', t0 - 10 * DAY),
  ];
  const recent = [ev(7, 'charge.complete', t0 - DAY), ev(8, 'charge.refunded', t0 - DAY)];
  expect(await outbox.add([...old, ...recent], 0)).toBe(8);
  const claimed = await outbox.due(1, 100);
  expect(claimed).toHaveLength(8);
  for (const e of [...old.slice(0, 4), ...recent]) expect(await outbox.delivered(e.id, 1)).toBe(true);
  expect(await outbox.failed(old[4]!.id, 3, 'HTTP 500', 0, true)).toBe(true); // dead
  // old[5] stays pending.
  const cutoff = t0 - 7 * DAY;
  expect(await outbox.prune(cutoff, 2)).toBe(2); // the limit
  expect(await outbox.prune(cutoff, 100)).toBe(1);
  expect(await outbox.prune(cutoff, 100)).toBe(0);
  const left = async (e: { id: string }) => (await outbox.get(e.id))?.state ?? 'pruned';
  expect(await Promise.all([...old, ...recent].map(left))).toEqual(['pruned', 'pruned', 'pruned', 'delivered', 'dead', 'pending', 'delivered', 'delivered']);
  expect(await outbox.counts()).toEqual({ pending: 1, delivered: 3, dead: 1 });
  // A pruned id may be queued again (a batch resent after the retention): it is pending again, under the same id.
  expect(await outbox.add([old[0]!], 0)).toBe(1);
  expect(await left(old[0]!)).toBe('pending');
}
