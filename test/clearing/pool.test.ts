import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { Clearing as TsClearing } from '../../src/clearing/index.js';
import { createBlocklist, MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';
import { transpileForChild } from '../reader/transpile.js';

// Worker threads run JavaScript: use a transpiled copy of src/ for the pool.
const built = transpileForChild([]);
afterAll(() => rmSync(built, { recursive: true, force: true }));

describe('clearing with verification on worker threads', () => {
  it('gives the same results and report as the single-threaded ingest', async () => {
    const issuer = makeIssuer('pool');
    const list = createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes;
    const w = makeWallet(issuer, 'pool', 'w');
    const clone = makeWallet(issuer, 'pool', 'w'); // same keys: a clone
    const batches: Uint8Array[] = [];
    for (let r = 0; r < 6; r++) {
      const m = makeReader(issuer, 'pool', 300 + r, 'vending', 90 + (r % 2));
      const reader = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
      reader.loadBlocklist(list);
      for (let j = 1; j <= 20; j++) {
        const who = r === 5 && j === 1 ? clone : w;
        const challenge = Uint8Array.from([0, 0, 0, 0, 0, 0, r, j]); // a request of its own for each sale
        const time = NOW + (r === 5 ? 1 : 0);
        reader.openRequest({ amount: 100, currency: HKD, now: time, challenge });
        // A request-bound token: the worker path rebuilds its signed body from the entry's request context.
        const v = await reader.accept(signToken(who, { payee: 300 + r, amount: 100, counter: r * 20 + j - (r === 5 && j === 1 ? 21 : 0), challenge, time }), { now: time });
        expect(v.accepted).toBe(true);
      }
      batches.push(reader.export(NOW).bytes);
    }
    batches.push(batches[2]!); // a duplicate
    const tsc = new TsClearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 10 });
    const expected = [];
    for (const b of batches) expected.push(await tsc.ingest(b));
    const { Clearing, VerifyPool } = (await import(join(built, 'src/clearing/index.js'))) as typeof import('../../src/clearing/index.js');
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 10 });
    const pool = new VerifyPool(issuer.keySet(), 2);
    try {
      const got = await c.ingestAll(batches, pool);
      expect(got).toEqual(expected);
      expect(await c.report()).toEqual(await tsc.report());
      expect((await c.report()).doubleSpends).toHaveLength(1);
    } finally {
      await pool.close();
      await c.close();
      await tsc.close();
    }
  });
});
