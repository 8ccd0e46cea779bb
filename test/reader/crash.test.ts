import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCrashCampaign } from '../../scripts/soak-crash.js';
import { transpileForChild } from './transpile.js';

const built = transpileForChild(['scripts/soak-crash.ts']);
afterAll(() => rmSync(built, { recursive: true, force: true }));

describe('reader crash safety (SIGKILL during bursts of accepts)', () => {
  it('loses no acknowledged token, charges no replay, and keeps the chain valid over 200 kill points', async () => {
    const r = await runCrashCampaign({ kills: 200, burst: 8, seed: 20261122, childEntry: join(built, 'scripts/soak-crash.js') });
    expect(r.failures).toEqual([]);
    expect(r.kills).toBe(200);
    // The campaign must actually exercise something: kills mid-burst, tokens accepted, replays refused/resumed.
    expect(r.midBurst).toBeGreaterThan(100);
    expect(r.acked).toBeGreaterThan(300);
    expect(r.refusedReplays).toBeGreaterThan(50);
    expect(r.resumedAfterRestart).toBeGreaterThan(10);
    expect(r.acceptEntries).toBeGreaterThanOrEqual(r.acked);
  }, 600_000); // 200 child processes: about 1.5 s each on a loaded 2-core machine (the soak script measures speed)
});
