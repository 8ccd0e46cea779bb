/**
 * The health check behind GET /v1/health (src/server/health.ts, spec/clearing-api.md §2.10): its verdicts, and
 * its bound on the database (at most one read in flight, at most one started per reuse window) against any
 * sequence of polls, clock steps and read outcomes (fast-check).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { createHealthCheck, type HealthVerdict } from '../../src/server/health.js';

/** A read whose outcome the test decides later. */
function controlledReads() {
  const pending: { resolve: (v: boolean) => void; reject: (e: unknown) => void }[] = [];
  let started = 0;
  const read = () =>
    new Promise<boolean>((resolve, reject) => {
      started++;
      pending.push({ resolve, reject });
    });
  return { read, pending, started: () => started };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('GET /v1/health: the check', () => {
  it('ok, settings replaced, database unreadable: each its verdict', async () => {
    expect(await createHealthCheck(async () => true)()).toEqual({ ok: true });
    expect(await createHealthCheck(async () => false)()).toMatchObject({ ok: false, code: 'clearing.settings_mismatch' });
    const gone = await createHealthCheck(() => Promise.reject(new OffpayError('clearing.store_unavailable', 'the clearing database postgres://h/db is unreachable')))();
    // The answer says what, never where: the database's host and name go to the node's log only.
    expect(gone).toEqual({ ok: false, code: 'clearing.store_unavailable', message: 'the clearing database cannot be read', detail: 'the clearing database postgres://h/db is unreachable' });
    // Any other failure (a closed SQLite handle throws a TypeError, here at once) is unavailable too.
    const closed = await createHealthCheck(() => {
      throw new TypeError('The database connection is not open');
    })();
    expect(closed).toEqual({ ok: false, code: 'clearing.store_unavailable', message: 'the clearing database cannot be read', detail: 'The database connection is not open' });
  });

  it('a read past its deadline is unavailable at the deadline; no second read starts until it ends', async () => {
    const c = controlledReads();
    let t = 0;
    const check = createHealthCheck(c.read, { timeoutMs: 30, reuseMs: 0, now: () => t });
    const first = await check();
    expect(first).toMatchObject({ ok: false, code: 'clearing.store_unavailable', message: 'the clearing database did not answer within 30 ms' });
    t += 5_000;
    expect(await check()).toBe(first); // the same verdict: the hung read is still out
    expect(c.started()).toBe(1);
    c.pending[0]!.resolve(true);
    await tick();
    expect(await check()).toEqual({ ok: false, code: 'clearing.store_unavailable', message: 'the clearing database did not answer within 30 ms' });
    expect(c.started()).toBe(2); // it ended: the next check reads again
    c.pending[1]!.resolve(true);
    await tick();
  });

  it('polled at any rate, it reads at most once a window and never twice at once (model)', async () => {
    type Step = { kind: 'poll' } | { kind: 'advance'; ms: number } | { kind: 'settle'; outcome: 'ok' | 'stale' | 'fail' };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.constant({ kind: 'poll' as const }),
      fc.integer({ min: 0, max: 1_500 }).map((ms) => ({ kind: 'advance' as const, ms })),
      fc.constantFrom('ok', 'stale', 'fail').map((outcome) => ({ kind: 'settle' as const, outcome: outcome as 'ok' | 'stale' | 'fail' })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
        const c = controlledReads();
        let t = 0;
        const REUSE = 1_000;
        const check = createHealthCheck(c.read, { reuseMs: REUSE, timeoutMs: 60_000, now: () => t });
        const startedAt: number[] = [];
        let inFlight = 0;
        let settled = 0;
        const verdicts: Promise<HealthVerdict>[] = [];
        for (const s of steps) {
          if (s.kind === 'advance') t += s.ms;
          else if (s.kind === 'settle') {
            const p = c.pending[settled];
            if (!p) continue;
            settled++;
            if (s.outcome === 'fail') p.reject(new OffpayError('clearing.store_unavailable', 'down'));
            else p.resolve(s.outcome === 'ok');
            await tick();
            inFlight--;
          } else {
            const before = c.started();
            verdicts.push(check());
            if (c.started() > before) {
              startedAt.push(t);
              inFlight++;
            }
            expect(inFlight).toBeLessThanOrEqual(1);
          }
        }
        // Reads start at least REUSE apart.
        for (let i = 1; i < startedAt.length; i++) expect(startedAt[i]! - startedAt[i - 1]!).toBeGreaterThanOrEqual(REUSE);
        // Every read ends: each poll has a verdict.
        for (const p of c.pending.slice(settled)) p.resolve(true);
        for (const v of await Promise.all(verdicts)) expect(v.ok || ['clearing.store_unavailable', 'clearing.settings_mismatch'].includes(v.code)).toBe(true);
      }),
      { numRuns: Number(process.env.HEALTH_RUNS ?? 300) },
    );
  });
});
