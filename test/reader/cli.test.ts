import { closeSync, cpSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { encodeIssuerKeySet, Issuer, publicKeyOf, seededSecretKey } from '../../src/index.js';
import { saveReader } from '../../src/node/files.js';
import { createBlocklist } from '../../src/reader/index.js';

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
/** Settlement amounts as numbers, whether the report prints them as JSON numbers or as decimal strings (bigint). */
const lines = (x: unknown) => (x as Record<string, unknown>[]).map((l) => ({ ...l, gross: Number(l.gross), fee: Number(l.fee), net: Number(l.net) }));

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
    // Readers go into service: a database created explicitly, and a fresh blocklist from clearing (a vending reader refuses without one).
    expect((await run('clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list1.cbor'), at(0))).code).toBe(0);
    for (const r of ['vendA', 'vendB']) {
      expect((await run('reader', 'init', '--reader', p(r), '--db', p(`${r}.db`), '--issuer', p('issuer'), at(0))).code).toBe(0);
      expect((await run('reader', 'load-blocklist', '--reader', p(r), '--db', p(`${r}.db`), p('list1.cbor'), at(0))).code).toBe(0);
    }

    // One reader: the wallet pays, then the clone pays with the same counter.
    expect((await run('request', '--reader', p('vendA'), '--db', p('vendA.db'), '--amount', '12.50', '--currency', 'HKD', '--out', p('req1.cbor'), at(10))).code).toBe(0);
    expect((await run('pay', '--wallet', p('wallet'), '--request', p('req1.cbor'), '--out', p('t1.cbor'), at(11))).code).toBe(0);
    const a1 = await run('reader', 'accept', '--reader', p('vendA'), '--db', p('vendA.db'), p('t1.cbor'), at(12), '--json');
    expect(a1.code).toBe(0);
    expect((a1.json().results as object[])[0]).toMatchObject({ accepted: true, status: 'accepted', amount: 1250, counter: 1 });
    // The same token again (a torn sale): resumed, exit 0, not charged.
    const again = await run('reader', 'accept', '--reader', p('vendA'), '--db', p('vendA.db'), p('t1.cbor'), at(13));
    expect(again.code).toBe(0);
    expect(again.out).toContain('RESUMED');
    // Dispensed: the sale completes (a request is not opened over a pending sale, spec/reader.md §6).
    expect((await run('reader', 'complete', '--reader', p('vendA'), '--db', p('vendA.db'), p('t1.cbor'), at(14))).code).toBe(0);
    await run('request', '--reader', p('vendA'), '--db', p('vendA.db'), '--amount', '12.50', '--currency', 'HKD', '--out', p('req2.cbor'), at(20));
    expect((await run('pay', '--wallet', p('clone'), '--request', p('req2.cbor'), '--out', p('c1.cbor'), at(21))).code).toBe(0);
    const r1 = await run('reader', 'accept', '--reader', p('vendA'), '--db', p('vendA.db'), p('c1.cbor'), at(22), '--json');
    expect(r1.code).toBe(1);
    expect((r1.json().results as object[])[0]).toMatchObject({ accepted: false, reason: 'replayed', code: 32 });

    // Across readers: the wallet pays at A, the clone at B, both with counter 2. Each reader accepts.
    await run('request', '--reader', p('vendA'), '--db', p('vendA.db'), '--amount', '3.00', '--out', p('req3.cbor'), at(30));
    await run('request', '--reader', p('vendB'), '--db', p('vendB.db'), '--amount', '4.00', '--out', p('req4.cbor'), at(30));
    await run('pay', '--wallet', p('wallet'), '--request', p('req3.cbor'), '--out', p('t2.cbor'), at(31));
    await run('pay', '--wallet', p('clone'), '--request', p('req4.cbor'), '--out', p('c2.cbor'), at(31));
    expect((await run('reader', 'accept', '--reader', p('vendA'), '--db', p('vendA.db'), p('t2.cbor'), at(32), '--complete')).code).toBe(0);
    expect((await run('reader', 'accept', '--reader', p('vendB'), '--db', p('vendB.db'), p('c2.cbor'), at(32), '--complete')).code).toBe(0);

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
    expect(lines(report.settlement)).toEqual([{ operatorId: 90, currency: 344, count: 3, gross: 1250 + 300 + 400, feeBps: 150, fee: 29, refunds: 0, refunded: '0', net: 1921 }]); // 29.25 -> 29
    const human = await run('clearing', 'report', '--db', p('clearing.db'));
    expect(human.out).toContain('counter_reuse');

    // The blocklist goes out; the readers load it; the wallet (and its clone) is refused everywhere.
    const bl = await run('clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list2.cbor'), at(200), '--json');
    expect(bl.json()).toMatchObject({ version: 2, entries: 1 });
    expect((await run('reader', 'load-blocklist', '--reader', p('vendB'), '--db', p('vendB.db'), p('list2.cbor'), at(201))).code).toBe(0);
    expect((await run('reader', 'load-blocklist', '--reader', p('vendB'), '--db', p('vendB.db'), p('list1.cbor'), at(201))).code).toBe(2); // older version
    await run('request', '--reader', p('vendB'), '--db', p('vendB.db'), '--amount', '1.00', '--out', p('req5.cbor'), at(210));
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
    expect((await run('reader', 'init', '--reader', p('gate'), '--db', db, '--issuer', p('i2'), at(0))).code).toBe(0);
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
    const missing = await run('reader', 'accept', '--reader', p('gate'), '--db', p('fresh.db'), '--issuer', p('i2'), '--amount', '4.50', p('q1.cbor'));
    expect(missing.code).toBe(2); // a database is never created on the fly, even with --issuer
    expect(missing.err).toContain('offpay reader init');
    expect((await run('reader', 'accept', '--reader', p('nowhere'), '--db', db, p('q1.cbor'))).code).toBe(2);
    expect((await run('reader', 'load-blocklist', '--reader', p('gate'), '--db', db, p('q1.cbor'))).code).toBe(2);
    writeFileSync(p('junk.batch'), 'not a batch');
    expect((await run('clearing', 'ingest', '--issuer', p('i2'), '--db', p('c2.db'), p('junk.batch'))).code).toBe(1);
    expect((await run('clearing', 'ingest', '--issuer', p('i2'), '--db', p('c2.db'), p('missing.batch'))).code).toBe(2);
    const ok = await run('clearing', 'ingest', '--db', p('c2.db'), p('g1.batch'), p('g1b.batch'), '--json');
    expect((ok.json().results as { outcome: string }[]).map((x) => x.outcome)).toEqual(['ingested', 'duplicate']);
    const rep = await run('clearing', 'report', '--db', p('c2.db'), '--json');
    expect(rep.json()).toMatchObject({ voided: 1 });
    expect(lines(rep.json().settlement)).toMatchObject([{ operatorId: 300, count: 1, gross: 450, fee: 7, net: 443 }]); // 6.75 -> 7
  });

  // ---------------------------------------------------------------------------------- issue 11, one test per finding

  const results = (r: { json: () => Record<string, unknown> }) => (r.json().results as Record<string, unknown>[])[0];

  async function vendingWorld(tag: string, readerDays?: string) {
    const i = p(`${tag}-i`);
    await run('issuer', 'init', '--dir', i, '--seed', tag, at(0));
    await run('wallet', 'new', '--issuer', i, '--out', p(`${tag}-w`), '--seed', tag, at(0));
    await run('wallet', 'new', '--issuer', i, '--out', p(`${tag}-w2`), '--seed', `${tag}-2`, at(0));
    await run('reader', 'new', '--issuer', i, '--id', '4301', '--operator', '90', '--out', p(`${tag}-r`), '--seed', tag, at(0), ...(readerDays ? ['--days', readerDays] : []));
    const db = p(`${tag}.db`);
    expect((await run('reader', 'init', '--reader', p(`${tag}-r`), '--db', db, '--issuer', i, at(0))).code).toBe(0);
    await run('clearing', 'blocklist', '--issuer', i, '--db', p(`${tag}-c.db`), '--out', p(`${tag}-l.cbor`), at(0));
    expect((await run('reader', 'load-blocklist', '--reader', p(`${tag}-r`), '--db', db, p(`${tag}-l.cbor`), at(0))).code).toBe(0);
    const R = ['--reader', p(`${tag}-r`), '--db', db];
    const request = (amount: string, out: string, t: number) => run('request', ...R, '--amount', amount, '--out', p(out), at(t));
    const pay = (wallet: string, req: string, out: string, t: number) => run('pay', '--wallet', p(wallet), '--request', p(req), '--out', p(out), at(t));
    const accept = (tok: string, t: number) => run('reader', 'accept', ...R, p(tok), at(t), '--json');
    return { i, db, R, request, pay, accept };
  }

  it('finding 1: a pending sale resumes within 60 s only; later the same token is refused (exit 1), never vended again', async () => {
    const w = await vendingWorld('f1');
    await w.request('2.00', 'f1-q.cbor', 10);
    await w.pay('f1-w', 'f1-q.cbor', 'f1-t.cbor', 11);
    const a = await w.accept('f1-t.cbor', 12);
    expect(a.code).toBe(0);
    expect(results(a)).toMatchObject({ status: 'accepted', request: { amount: 200 } });
    const again = await run('reader', 'accept', ...w.R, p('f1-t.cbor'), at(72));
    expect(again.code).toBe(0);
    expect(again.out).toContain('RESUMED');
    for (const t of [73, 12 + 6 * 86_400]) {
      const late = await w.accept('f1-t.cbor', t);
      expect(late.code).toBe(1);
      expect(results(late)).toMatchObject({ accepted: false, status: 'refused', reason: 'already_accepted', code: 50 });
    }
  });

  it('finding 2: the price shown is the price paid; a kept token for an earlier, cheaper request is refused', async () => {
    const w = await vendingWorld('f2');
    await w.request('0.50', 'f2-cheap.cbor', 10);
    await w.pay('f2-w', 'f2-cheap.cbor', 'f2-cheap-t.cbor', 11); // kept, never presented
    await w.request('18.00', 'f2-q.cbor', 20); // what the machine shows now
    const cheat = await w.accept('f2-cheap-t.cbor', 21);
    expect(cheat.code).toBe(1);
    // v2: the kept token is request-bound; verified over the open HKD 18.00 request its signature fails.
    expect(results(cheat)).toMatchObject({ reason: 'bad_token_signature', code: 10 });
    await w.pay('f2-w2', 'f2-q.cbor', 'f2-t.cbor', 22);
    const ok = await w.accept('f2-t.cbor', 23);
    expect(ok.code).toBe(0);
    expect(results(ok)).toMatchObject({ status: 'accepted', amount: 1800, request: { amount: 1800 } });
    const human = await run('reader', 'accept', ...w.R, p('f2-t.cbor'), at(24));
    expect(human.out).toMatch(/RESUMED .* for request [0-9a-f]{16} \(HKD 18\.00\)/);
    // The old READER/requests/ lookup is gone: the request lives in the reader database only.
    expect(existsSync(p('f2-r', 'requests'))).toBe(false);
    const st = await run('reader', 'status', ...w.R, at(25), '--json');
    expect(st.json()).toMatchObject({ openRequest: { amount: 1800, paidBy: expect.any(String) } });
  });

  it('finding 3 and 14: tap-out in another currency is refused, a zero fare is a usage error, a tap-out without tap-in is recorded or refused by policy', async () => {
    const i = p('f3-i');
    await run('issuer', 'init', '--dir', i, '--seed', 'f3', at(0));
    await run('wallet', 'new', '--issuer', i, '--out', p('f3-w'), '--seed', 'f3', at(0));
    await run('reader', 'new', '--issuer', i, '--id', '5301', '--profile', 'transit', '--operator', '300', '--out', p('f3-g'), '--seed', 'f3', at(0));
    const G = ['--reader', p('f3-g'), '--db', p('f3.db')];
    writeFileSync(p('f3-g', 'policy.json'), JSON.stringify({ limits: { HKD: { staleMaxAmount: '50.00' } } })); // no blocklist: the reduced limit
    await run('reader', 'init', ...G, '--issuer', i, at(0));
    await run('pay', '--wallet', p('f3-w'), '--payee', '300', '--amount', '20.00', '--currency', 'HKD', '--out', p('f3-t.cbor'), at(10));
    expect((await run('reader', 'accept', ...G, '--tap-in', '20.00', p('f3-t.cbor'), at(11))).code).toBe(0);
    const jpy = await run('reader', 'tap-out', ...G, p('f3-t.cbor'), '--fare', '80', '--currency', 'JPY', at(600), '--json');
    expect(jpy.code).toBe(1);
    expect(jpy.json()).toMatchObject({ reason: 'currency_mismatch', code: 16 });
    const zero = await run('reader', 'tap-out', ...G, p('f3-t.cbor'), '--fare', '0', at(600));
    expect(zero.code).toBe(2);
    expect(zero.err).toContain('reader.bad_context');
    expect((await run('reader', 'tap-out', ...G, p('f3-t.cbor'), '--fare', '4.00', at(600))).code).toBe(0);
    const second = await run('reader', 'tap-out', ...G, p('f3-t.cbor'), '--fare', '15.00', at(900), '--json');
    expect(second.code).toBe(1);
    expect(second.json()).toMatchObject({ reason: 'already_tapped_out' });
    // A token shown only at this exit gate: recorded (clearing charges the maximum fare if no tap-in arrives) ...
    await run('pay', '--wallet', p('f3-w'), '--payee', '300', '--amount', '20.00', '--currency', 'HKD', '--out', p('f3-u.cbor'), at(20));
    expect((await run('reader', 'tap-out', ...G, p('f3-u.cbor'), '--fare', '4.00', at(700))).code).toBe(0);
    // ... or refused when the policy says so.
    writeFileSync(p('f3-policy.json'), JSON.stringify({ profile: { tapOutWithoutTapIn: 'refuse' } }));
    await run('pay', '--wallet', p('f3-w'), '--payee', '300', '--amount', '20.00', '--currency', 'HKD', '--out', p('f3-v.cbor'), at(30));
    const refused = await run('reader', 'tap-out', ...G, '--policy', p('f3-policy.json'), p('f3-v.cbor'), '--fare', '4.00', at(700), '--json');
    expect(refused.code).toBe(1);
    expect(refused.json()).toMatchObject({ reason: 'no_tap_in', code: 52 });
  });

  it('finding 7: an expired reader certificate stops the reader (exit 2), it does not keep accepting', async () => {
    const w = await vendingWorld('f7', '1');
    await w.request('2.00', 'f7-q.cbor', 10);
    await w.pay('f7-w', 'f7-q.cbor', 'f7-t.cbor', 11);
    const late = await run('reader', 'accept', ...w.R, p('f7-t.cbor'), at(86_400 + 100));
    expect(late.code).toBe(2);
    expect(late.err).toContain('reader.cert_not_valid');
    expect((await run('request', ...w.R, '--amount', '1.00', '--out', p('f7-q2.cbor'), at(30 * 86_400))).code).toBe(2);
    const st = await run('reader', 'status', ...w.R, at(30 * 86_400));
    expect(st.out).toContain('NOT VALID NOW');
  });

  it('finding 9 and 14: a lost database is never recreated; reader init starts a new journal explicitly; a zeroed page is a typed error and status finds it', async () => {
    const w = await vendingWorld('f9');
    const i1 = await run('reader', 'init', ...w.R, '--issuer', w.i, at(1), '--json');
    expect(i1.code).toBe(2); // exists
    rmSync(w.db);
    for (const sfx of ['-wal', '-shm']) rmSync(w.db + sfx, { force: true });
    const lost = await run('reader', 'accept', ...w.R, '--issuer', w.i, p('f9-none.cbor'), at(2));
    expect(lost.code).toBe(2);
    const lost2 = await run('request', ...w.R, '--issuer', w.i, '--amount', '1.00', '--out', p('f9-q.cbor'), at(2));
    expect(lost2.code).toBe(2);
    expect(lost2.err).toContain('offpay reader init');
    expect(existsSync(w.db)).toBe(false);
    const a = await run('reader', 'init', ...w.R, '--issuer', w.i, at(3), '--json');
    const b = await run('reader', 'init', ...w.R, '--issuer', w.i, '--new-journal', at(4), '--json');
    expect(b.code).toBe(0);
    expect(b.json().journalId).not.toBe(a.json().journalId);
    expect(existsSync(`${w.db}.replaced-${T0 + 4}`)).toBe(true);
    // Fill the database, then zero pages of it.
    await run('clearing', 'blocklist', '--issuer', w.i, '--db', p('f9-c2.db'), '--out', p('f9-l.cbor'), at(5));
    await run('reader', 'load-blocklist', ...w.R, p('f9-l.cbor'), at(5));
    for (let k = 0; k < 3; k++) {
      await w.request('1.00', `f9-q${k}.cbor`, 10 + k);
      await w.pay('f9-w', `f9-q${k}.cbor`, `f9-t${k}.cbor`, 10 + k);
      expect((await run('reader', 'accept', ...w.R, p(`f9-t${k}.cbor`), at(10 + k), '--complete')).code).toBe(0);
    }
    const size = statSync(w.db).size;
    const fd = openSync(w.db, 'r+');
    for (let off = 4096; off < size; off += 4096) writeSync(fd, new Uint8Array(4096), 0, 4096, off);
    closeSync(fd);
    for (const sfx of ['-wal', '-shm']) rmSync(w.db + sfx, { force: true });
    const st = await run('reader', 'status', ...w.R, at(20));
    expect(st.code).toBe(2);
    expect(st.err + st.out).toMatch(/reader\.corrupt_store|DAMAGED/);
    const acc = await w.accept('f9-t0.cbor', 21);
    expect(acc.code).toBe(2);
    expect(acc.err).not.toContain('internal error');
  });

  it('finding 10: policy values are checked against the schema, naming the field and the unit', async () => {
    const w = await vendingWorld('f10');
    const bad = async (policy: unknown, want: RegExp) => {
      writeFileSync(p('f10-policy.json'), JSON.stringify(policy));
      const r = await run('reader', 'status', ...w.R, '--policy', p('f10-policy.json'), at(1));
      expect(r.code).toBe(2);
      expect(r.err).toMatch(want);
    };
    await bad({ profile: { blocklistMaxAgeSeconds: '24h' } }, /blocklistMaxAgeSeconds is a whole number of seconds.*"24h"/);
    await bad({ profile: { voidWindowSeconds: '15min' } }, /voidWindowSeconds is a whole number of seconds/);
    await bad({ profile: { whenBlocklistStale: 'Refuse' } }, /whenBlocklistStale must be exactly one of "refuse", "reduce"/);
    await bad({ profile: { resumeWindowSecs: 10 } }, /unknown key "resumeWindowSecs" \(did you mean "resumeWindowSeconds"\?\)/);
    await bad({ window: 100 }, /multiple of 8/);
  });

  it('finding 11: after an issuer key rotation the reader still opens, reports its old list stale, and loads a list signed by the new key', async () => {
    const k1 = Issuer.fromSecret(7, 1, seededSecretKey('f11', 'issuer-1'), T0 - 86_400 * 365, T0 + 86_400 * 365);
    const k2 = Issuer.fromSecret(7, 2, seededSecretKey('f11', 'issuer-2'), T0 - 86_400, T0 + 86_400 * 365);
    const both = new Issuer(7, [...k1.keys, ...k2.keys]);
    writeFileSync(p('f11-both.cbor'), encodeIssuerKeySet(both.keySet()));
    writeFileSync(p('f11-new.cbor'), encodeIssuerKeySet(k2.keySet())); // key 1 retired
    const sk = seededSecretKey('f11', 'reader');
    saveReader(p('f11-r'), sk, both.issueReaderCert({ readerId: 4401, readerPublicKey: publicKeyOf(sk), operatorId: 90, profile: 'vending', notBefore: T0 - 60, notAfter: T0 + 86_400 * 30 }, T0, 2));
    const R = ['--reader', p('f11-r'), '--db', p('f11.db')];
    expect((await run('reader', 'init', ...R, '--issuer', p('f11-both.cbor'), at(0))).code).toBe(0);
    writeFileSync(p('f11-l1.cbor'), createBlocklist(k1.keys[0]!, { issuerId: 7, version: 1, issuedAt: T0, walletIds: [] }).bytes);
    expect((await run('reader', 'load-blocklist', ...R, p('f11-l1.cbor'), at(1))).code).toBe(0);
    const st = await run('reader', 'status', ...R, '--issuer', p('f11-new.cbor'), at(2), '--json');
    expect(st.code).toBe(0); // before the fix: blocklist.unknown_key, exit 2, and no list could be loaded
    expect(st.json()).toMatchObject({ blocklist: { loaded: true, version: 1, stale: true, staleReason: expect.stringMatching(/no longer trusts/) } });
    writeFileSync(p('f11-l2.cbor'), createBlocklist(k2.keys[0]!, { issuerId: 7, version: 2, issuedAt: T0 + 3, walletIds: [] }).bytes);
    expect((await run('reader', 'load-blocklist', ...R, p('f11-l2.cbor'), at(3))).code).toBe(0);
    const st2 = await run('reader', 'status', ...R, at(4), '--json');
    expect(st2.json()).toMatchObject({ blocklist: { version: 2, stale: false } });
    // A list dated in the future is refused (finding 14).
    writeFileSync(p('f11-l3.cbor'), createBlocklist(k2.keys[0]!, { issuerId: 7, version: 3, issuedAt: T0 + 86_400, walletIds: [] }).bytes);
    const fut = await run('reader', 'load-blocklist', ...R, p('f11-l3.cbor'), at(5));
    expect(fut.code).toBe(2);
    expect(fut.err).toContain('blocklist.future');
  });
});
