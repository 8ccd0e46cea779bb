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

  it('a read past its deadline is unavailable at the deadline; the next read starts when it ends, or 10 s after it started', async () => {
    const c = controlledReads();
    let t = 0;
    const failures: string[] = [];
    const check = createHealthCheck(c.read, { timeoutMs: 30, reuseMs: 0, now: () => t, onFailure: (f) => failures.push(f.detail ?? f.message) });
    const first = await check();
    expect(first).toEqual({ ok: false, code: 'clearing.store_unavailable', message: 'the clearing database cannot be read', detail: 'the clearing database did not answer within 30 ms' });
    t += 5_000;
    expect(await check()).toBe(first); // the same verdict: the hung read is still out
    expect(c.started()).toBe(1);
    c.pending[0]!.resolve(true);
    await tick();
    expect(await check()).toEqual(first);
    expect(c.started()).toBe(2); // it ended: the next check reads again
    // A read lost on the way (it never ends) holds off the next for 10 s, no longer.
    t += 9_999;
    await check();
    expect(c.started()).toBe(2);
    t += 1;
    const after = check();
    expect(c.started()).toBe(3);
    c.pending[1]!.resolve(false); // the abandoned read ends late: it changes nothing (the third is still out)
    await tick();
    t += 1;
    expect(check()).toBe(after);
    expect(c.started()).toBe(3);
    c.pending[2]!.resolve(true);
    expect(await after).toEqual({ ok: true });
    await tick();
    t += 1;
    const fourth = check();
    expect(c.started()).toBe(4);
    c.pending[3]!.resolve(true);
    expect(await fourth).toEqual({ ok: true });
    // Logged once a failed read, not once a poll: the first read and the second (both past the deadline).
    expect(failures).toEqual(['the clearing database did not answer within 30 ms', 'the clearing database did not answer within 30 ms']);
  });

  it('a read that fails with a value nothing can print is unavailable, and the check goes on', async () => {
    const odd = Object.create(null) as object; // String(odd) throws
    let n = 0;
    const check = createHealthCheck(() => (n++ === 0 ? Promise.reject(odd) : Promise.resolve(true)), { reuseMs: 0 });
    expect(await check()).toEqual({ ok: false, code: 'clearing.store_unavailable', message: 'the clearing database cannot be read', detail: 'an error that cannot be printed' });
    expect(await check()).toEqual({ ok: true });
  });

  it('polled at any rate, it reads at most once a window, and starts a read while one is out only 10 s after it (model)', async () => {
    type Step = { kind: 'poll' } | { kind: 'advance'; ms: number } | { kind: 'settle'; outcome: 'ok' | 'stale' | 'fail' };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.constant({ kind: 'poll' as const }),
      fc.integer({ min: 0, max: 6_000 }).map((ms) => ({ kind: 'advance' as const, ms })),
      fc.constantFrom('ok', 'stale', 'fail').map((outcome) => ({ kind: 'settle' as const, outcome: outcome as 'ok' | 'stale' | 'fail' })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
        const c = controlledReads();
        let t = 0;
        const REUSE = 1_000;
        const ABANDON = 10_000;
        let failures = 0;
        const check = createHealthCheck(c.read, { reuseMs: REUSE, timeoutMs: 60_000, abandonMs: ABANDON, now: () => t, onFailure: () => failures++ });
        const startedAt: number[] = [];
        const out = new Set<number>(); // reads not ended
        let settled = 0;
        let failedReads = 0;
        const verdicts: Promise<HealthVerdict>[] = [];
        for (const s of steps) {
          if (s.kind === 'advance') t += s.ms;
          else if (s.kind === 'settle') {
            const p = c.pending[settled];
            if (!p) continue;
            out.delete(settled);
            settled++;
            if (s.outcome === 'fail') p.reject(new OffpayError('clearing.store_unavailable', 'down'));
            else p.resolve(s.outcome === 'ok');
            if (s.outcome !== 'ok') failedReads++;
            await tick();
          } else {
            const before = c.started();
            verdicts.push(check());
            if (c.started() > before) {
              const last = startedAt[startedAt.length - 1];
              // A read starts while the last one is out only when that one started 10 s ago or more.
              if (last !== undefined && out.has(startedAt.length - 1)) expect(t - last).toBeGreaterThanOrEqual(ABANDON);
              if (last !== undefined) expect(t - last).toBeGreaterThanOrEqual(REUSE);
              out.add(startedAt.length);
              startedAt.push(t);
            }
          }
        }
        for (const p of c.pending.slice(settled)) p.resolve(true);
        for (const v of await Promise.all(verdicts)) expect(v.ok || ['clearing.store_unavailable', 'clearing.settings_mismatch'].includes(v.code)).toBe(true);
        // Each failed read logged once (reads that ended after their verdict was given are not failures here:
        // the deadline is 60 s, never reached).
        expect(failures).toBe(failedReads);
      }),
      { numRuns: Number(process.env.HEALTH_RUNS ?? 300) },
    );
  });
});
