import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string; json: () => Record<string, unknown> }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err, json: () => JSON.parse(out) as Record<string, unknown> };
}

const d = mkdtempSync(join(tmpdir(), 'offpay-reader-cli-'));
afterAll(() => rmSync(d, { recursive: true, force: true }));
const T0 = 1_795_000_000;
const at = (s: number) => `--now=${T0 + s}`;
const p = (...x: string[]) => join(d, ...x);

describe('offpay reader / clearing CLI', () => {
  it('catches a cloned wallet at one reader (replayed) and across readers (clearing, then the blocklist)', async () => {
    expect((await run('issuer', 'init', '--dir', p('issuer'), '--seed', 'cli', at(0))).code).toBe(0);
    expect((await run('wallet', 'new', '--issuer', p('issuer'), '--out', p('wallet'), '--seed', 'cli', at(0))).code).toBe(0);
    cpSync(p('wallet'), p('clone'), { recursive: true }); // a copied wallet directory: both spend the same counters
    for (const [id, dir] of [
      ['4201', 'vendA'],
      ['4202', 'vendB'],
    ]) {
      expect((await run('reader', 'new', '--issuer', p('issuer'), '--id', id!, '--operator', '90', '--out', p(dir!), '--seed', 'cli', at(0))).code).toBe(0);
    }
    // Readers go into service with a fresh blocklist from clearing (a vending reader refuses without one).
    expect((await run('clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list1.cbor'), at(0))).code).toBe(0);
    for (const r of ['vendA', 'vendB']) {
      expect((await run('reader', 'load-blocklist', '--reader', p(r), '--db', p(`${r}.db`), '--issuer', p('issuer'), p('list1.cbor'), at(0))).code).toBe(0);
    }

    // One reader: the wallet pays, then the clone pays with the same counter.
    await run('request', '--reader', p('vendA'), '--amount', '12.50', '--currency', 'HKD', '--out', p('req1.cbor'), at(10));
    expect((await run('pay', '--wallet', p('wallet'), '--request', p('req1.cbor'), '--out', p('t1.cbor'), at(11))).code).toBe(0);
    const a1 = await run('reader', 'accept', '--reader', p('vendA'), '--db', p('vendA.db'), p('t1.cbor'), at(12), '--json');
    expect(a1.code).toBe(0);
    expect((a1.json().results as object[])[0]).toMatchObject({ accepted: true, status: 'accepted', amount: 1250, counter: 1 });
    // The same token again (a torn sale): resumed, exit 0, not charged.
    const again = await run('reader', 'accept', '--reader', p('vendA'), '--db', p('vendA.db'), p('t1.cbor'), at(13));
    expect(again.code).toBe(0);
    expect(again.out).toContain('RESUMED');
    await run('request', '--reader', p('vendA'), '--amount', '12.50', '--currency', 'HKD', '--out', p('req2.cbor'), at(20));
    expect((await run('pay', '--wallet', p('clone'), '--request', p('req2.cbor'), '--out', p('c1.cbor'), at(21))).code).toBe(0);
    const r1 = await run('reader', 'accept', '--reader', p('vendA'), '--db', p('vendA.db'), p('c1.cbor'), at(22), '--json');
    expect(r1.code).toBe(1);
    expect((r1.json().results as object[])[0]).toMatchObject({ accepted: false, reason: 'replayed', code: 32 });

    // Across readers: the wallet pays at A, the clone at B, both with counter 2. Each reader accepts.
    await run('request', '--reader', p('vendA'), '--amount', '3.00', '--out', p('req3.cbor'), at(30));
    await run('request', '--reader', p('vendB'), '--amount', '4.00', '--out', p('req4.cbor'), at(30));
    await run('pay', '--wallet', p('wallet'), '--request', p('req3.cbor'), '--out', p('t2.cbor'), at(31));
    await run('pay', '--wallet', p('clone'), '--request', p('req4.cbor'), '--out', p('c2.cbor'), at(31));
    expect((await run('reader', 'accept', '--reader', p('vendA'), '--db', p('vendA.db'), p('t2.cbor'), at(32))).code).toBe(0);
    expect((await run('reader', 'accept', '--reader', p('vendB'), '--db', p('vendB.db'), p('c2.cbor'), at(32))).code).toBe(0);

    // Upload: export both readers, ingest in any order (and one twice).
    for (const r of ['vendA', 'vendB']) expect((await run('reader', 'export', '--reader', p(r), '--db', p(`${r}.db`), '--out', p(`${r}.batch`), at(100))).code).toBe(0);
    const ing = await run('clearing', 'ingest', '--issuer', p('issuer'), '--db', p('clearing.db'), p('vendB.batch'), p('vendA.batch'), p('vendB.batch'), '--json');
    expect(ing.code).toBe(0);
    expect((ing.json().results as { outcome: string }[]).map((x) => x.outcome)).toEqual(['ingested', 'ingested', 'duplicate']);
    const rep = await run('clearing', 'report', '--db', p('clearing.db'), '--json');
    expect(rep.code).toBe(0);
    const report = rep.json() as { settlement: object[]; doubleSpends: { kind: string; counter: number; first: { token: string }; second: { token: string } }[] };
    // Counter 2 spent at A and B; counter 1's clone at A was refused but kept as evidence.
    expect(report.doubleSpends.map((x) => [x.kind, x.counter]).sort()).toEqual([
      ['counter_reuse', 1],
      ['counter_reuse', 2],
    ]);
    expect(report.settlement).toEqual([{ operatorId: 90, currency: 344, count: 3, gross: 1250 + 300 + 400, feeBps: 150, fee: 29, net: 1921 }]); // 29.25 -> 29
    const human = await run('clearing', 'report', '--db', p('clearing.db'));
    expect(human.out).toContain('counter_reuse');

    // The blocklist goes out; the readers load it; the wallet (and its clone) is refused everywhere.
    const bl = await run('clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list2.cbor'), at(200), '--json');
    expect(bl.json()).toMatchObject({ version: 2, entries: 1 });
    expect((await run('reader', 'load-blocklist', '--reader', p('vendB'), '--db', p('vendB.db'), p('list2.cbor'), at(201))).code).toBe(0);
    expect((await run('reader', 'load-blocklist', '--reader', p('vendB'), '--db', p('vendB.db'), p('list1.cbor'), at(201))).code).toBe(2); // older version
    await run('request', '--reader', p('vendB'), '--amount', '1.00', '--out', p('req5.cbor'), at(210));
    await run('pay', '--wallet', p('wallet'), '--request', p('req5.cbor'), '--out', p('t3.cbor'), at(211));
    const refused = await run('reader', 'accept', '--reader', p('vendB'), '--db', p('vendB.db'), p('t3.cbor'), at(212), '--json');
    expect(refused.code).toBe(1);
    expect((refused.json().results as object[])[0]).toMatchObject({ accepted: false, reason: 'blocklisted', code: 38 });
  });

  it('voids within the window, completes, shows status, re-exports, and reports usage errors with exit 2', async () => {
    await run('issuer', 'init', '--dir', p('i2'), '--seed', 'cli2', at(0));
    await run('wallet', 'new', '--issuer', p('i2'), '--out', p('w2'), '--seed', 'cli2', at(0));
    await run('reader', 'new', '--issuer', p('i2'), '--id', '5001', '--profile', 'transit', '--operator', '300', '--out', p('gate'), '--seed', 'cli2', at(0));
    writeFileSync(p('gate', 'policy.json'), JSON.stringify({ limits: { HKD: { staleMaxAmount: '5.00', maxAmount: '30.00' } }, window: 64 }));
    await run('pay', '--wallet', p('w2'), '--payee', '300', '--amount', '4.50', '--currency', 'HKD', '--out', p('q1.cbor'), at(10));
    await run('pay', '--wallet', p('w2'), '--payee', '300', '--amount', '40.00', '--currency', 'HKD', '--out', p('q2.cbor'), at(10));
    const db = p('gate.db');
    // No blocklist yet: a transit gate drops to the reduced limit (5.00) instead of refusing.
    const a = await run('reader', 'accept', '--reader', p('gate'), '--db', db, '--issuer', p('i2'), '--amount', '4.50', p('q1.cbor'), at(11));
    expect(a.code).toBe(0);
    const b = await run('reader', 'accept', '--reader', p('gate'), '--db', db, '--amount', '40.00', p('q2.cbor'), at(11), '--json');
    expect(b.code).toBe(1);
    expect((b.json().results as object[])[0]).toMatchObject({ reason: 'above_maximum' });
    expect((await run('reader', 'void', '--reader', p('gate'), '--db', db, p('q1.cbor'), at(2000))).code).toBe(1); // window passed
    await run('pay', '--wallet', p('w2'), '--payee', '300', '--amount', '4.50', '--currency', 'HKD', '--out', p('q3.cbor'), at(3000));
    expect((await run('reader', 'accept', '--reader', p('gate'), '--db', db, '--amount', '4.50', p('q3.cbor'), at(3001))).code).toBe(0);
    const v = await run('reader', 'void', '--reader', p('gate'), '--db', db, p('q3.cbor'), at(3100), '--json');
    expect(v.code).toBe(0);
    expect(v.json()).toMatchObject({ ok: true, amount: 450 });
    expect((await run('reader', 'accept', '--reader', p('gate'), '--db', db, '--amount', '4.50', p('q3.cbor'), at(3101))).code).toBe(1); // already voided
    const st = await run('reader', 'status', '--reader', p('gate'), '--db', db, at(3200), '--json');
    expect(st.code).toBe(0);
    expect(st.json()).toMatchObject({ head: { seq: 3 }, chain: { ok: true }, entries: { accept: 2, void: 1 }, blocklist: { loaded: false } });
    const e1 = await run('reader', 'export', '--reader', p('gate'), '--db', db, '--out', p('g1.batch'), at(3300), '--json');
    expect(e1.json()).toMatchObject({ batchSeq: 1, entries: 3 });
    const e1b = await run('reader', 'export', '--reader', p('gate'), '--db', db, '--out', p('g1b.batch'), '--batch', '1', '--json');
    expect(e1b.json()).toMatchObject({ batchSeq: 1, entries: 3 });
    // Usage errors and unusable input: exit 2.
    expect((await run('reader', 'accept', '--reader', p('gate'), '--db', db, p('q1.cbor'), '--via', 'smoke')).code).toBe(2);
    expect((await run('reader', 'accept', '--reader', p('gate'), '--db', db, p('q1.cbor'))).code).toBe(2); // no fare
    expect((await run('reader', 'accept', '--reader', p('gate'), '--db', p('fresh.db'), '--amount', '4.50', p('q1.cbor'))).code).toBe(2); // no issuer keys yet
    expect((await run('reader', 'accept', '--reader', p('nowhere'), '--db', db, p('q1.cbor'))).code).toBe(2);
    expect((await run('reader', 'load-blocklist', '--reader', p('gate'), '--db', db, p('q1.cbor'))).code).toBe(2);
    writeFileSync(p('junk.batch'), 'not a batch');
    expect((await run('clearing', 'ingest', '--issuer', p('i2'), '--db', p('c2.db'), p('junk.batch'))).code).toBe(1);
    expect((await run('clearing', 'ingest', '--issuer', p('i2'), '--db', p('c2.db'), p('missing.batch'))).code).toBe(2);
    const ok = await run('clearing', 'ingest', '--db', p('c2.db'), p('g1.batch'), p('g1b.batch'), '--json');
    expect((ok.json().results as { outcome: string }[]).map((x) => x.outcome)).toEqual(['ingested', 'duplicate']);
    const rep = await run('clearing', 'report', '--db', p('c2.db'), '--json');
    expect(rep.json()).toMatchObject({ settlement: [{ operatorId: 300, count: 1, gross: 450, fee: 7, net: 443 }], voided: 1 }); // 6.75 -> 7
  });
});
