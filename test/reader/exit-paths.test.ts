/**
 * The totals of one transit gate along every path of a trip, under spec/reader.md §7.2 step 3e (and the I5 row of
 * its invariants table): a tap-out with NO tap-in record at this gate counts the TOKEN's amount (what clearing may
 * charge for it), not the fare, towards the allowance total of (wallet, certificate) at this reader, and is refused
 * `allowance_exhausted` when that total plus the token's amount would pass the certificate's offlineAllowance; the
 * daily total is neither checked nor increased at a tap-out (it bounds sales and tap-ins only, so an exit is never
 * refused `daily_limit`); a tap-out of a trip tapped in at this gate adds nothing.
 *
 * Paths: a void before and after the tap-out; complete() then tap-out; a tap-out before a tap-in of the same
 * token; a refused tap-out (nothing recorded, a void frees room, the exact boundary); a tap-in refused after
 * tap-outs filled the shared allowance total; midnight UTC with the clock going back; the memory and SQLite stores
 * over one seeded random day (identical verdicts and totals, both equal to a model of the rule); two Reader objects
 * on one SQLite database racing; a restart between tap-in and tap-out; a store failing at every site of a tap-out.
 *
 * Token amounts and fares differ on purpose throughout (a token of 20.00 at a fare of 5.00 or 7.00), so that a gate
 * counting the fare, or checking or adding the daily total at an exit, fails here. Adapted from a gate review of the first
 * version of the rule (396971b), which counted the fare towards both totals.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dayOf, toHex, walletIdOf, type WalletCert } from '../../src/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader, type ReaderStore, type ReaderVerdict } from '../../src/reader/index.js';
import { SqliteReaderStore } from '../../src/reader/sqlite.js';
import { FailingStore } from './failing-store.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken, type TestWallet } from './helpers.js';

const issuer = makeIssuer('exit-paths');
const OP = 300;
/** The maximum fare, and the amount of every trip token here unless a test says otherwise. */
const MAX = 2_000;
const tin = (now: number, maxFare = MAX) => ({ tapIn: { maxFare, currency: HKD }, now });
const out = (fare: number, now: number) => ({ fare, currency: HKD, now });
const dir = mkdtempSync(join(tmpdir(), 'offpay-exit-paths-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let nextId = 9300;
const list = createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes;

/**
 * A transit gate over `store`. With `hold`, verification is asynchronous and waits for the promise it returns, so a
 * test decides when a decision reaches its transaction (the state is read only there, after verification).
 */
function gateOn(store: ReaderStore, o: { id?: number; daily?: number; now?: () => number; hold?: () => Promise<void> } = {}): Reader {
  const id = o.id ?? nextId++;
  const m = makeReader(issuer, 'exit-paths', id, 'transit', OP);
  const node = nodeEd25519();
  const r = new Reader({
    ...m,
    issuerKeys: issuer.keySet(),
    store,
    ...(o.hold
      ? {
          asyncVerifier: {
            name: 'held',
            verify: async (s: Uint8Array, msg: Uint8Array, pk: Uint8Array) => {
              await o.hold!();
              return node.verify(s, msg, pk);
            },
          },
        }
      : { verifier: node }),
    clock: o.now ?? (() => NOW),
    journalId: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, id & 255]),
    limits: { [HKD]: { staleMaxAmount: 1_000_000, ...(o.daily !== undefined ? { dailyTotal: o.daily } : {}) } },
  });
  try {
    r.loadBlocklist(list, NOW);
  } catch (e) {
    // A reopened database already holds this version.
    if ((e as { code?: string }).code !== 'blocklist.old_version') throw e;
  }
  return r;
}
const gate = (o: { daily?: number } = {}) => gateOn(new MemoryReaderStore(), o);

/** A promise released by hand: a decision held in verification until the test lets it go. */
function latch(): { wait: () => Promise<void>; release: () => void } {
  let release!: () => void;
  const p = new Promise<void>((r) => (release = r));
  return { wait: () => p, release };
}
/** Whether a promise has settled once pending callbacks have run (a held decision has not). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  return done;
}

const certId = (c: WalletCert) => toHex(c.issuerSignature.slice(0, 16));
/** The two totals of spec/reader.md §4 for a wallet at a reader: under its certificate, and on reader day `day`. */
function totals(r: Reader, w: TestWallet, day: number): { cert: number; day: number } {
  const wid = toHex(walletIdOf(w.cert.walletPublicKey));
  return r.store.transact((tx) => ({ cert: tx.getTotal(`c:${wid}:${certId(w.cert)}`), day: tx.getTotal(`d:${wid}:${day}:${HKD}`) }));
}
const head = (r: Reader) => r.store.transact((tx) => tx.head()?.seq);
const D0 = dayOf(NOW);

describe('exit paths at one gate (spec/reader.md §7.2 step 3e): the token amount counts, the fare and the daily total do not', () => {
  it('void of a same-gate tap-in BEFORE its tap-out: totals back to 0, the tap-out here is already_voided, at another gate it counts the token amount and no daily total', async () => {
    const w = makeWallet(issuer, 'exit-paths', 'v1', { offlineAllowance: 5_000, maxPerPayment: MAX });
    const [g, h] = [gate({ daily: 5_000 }), gate({ daily: 5_000 })];
    const t = signToken(w, { payee: OP, amount: MAX, counter: 1, time: NOW });
    const vin = await g.accept(t, tin(NOW));
    expect(vin.accepted).toBe(true);
    expect(totals(g, w, D0)).toEqual({ cert: 2_000, day: 2_000 });
    expect(g.void(vin.tokenHash, NOW + 10).ok).toBe(true);
    expect(totals(g, w, D0)).toEqual({ cert: 0, day: 0 });
    expect((await g.tapOut(t, out(700, NOW + 600))).reason).toBe('already_voided');
    expect(totals(g, w, D0)).toEqual({ cert: 0, day: 0 });
    const o = await h.tapOut(t, out(700, NOW + 600));
    expect(o).toMatchObject({ reason: 'ok', status: 'tapped_out', amount: 700 }); // the verdict carries the fare
    expect(totals(h, w, D0)).toEqual({ cert: 2_000, day: 0 }); // ... the total the token's amount
  });

  it('void AFTER its tap-out here: already_completed; the totals keep the tap-in authorisation and nothing more', async () => {
    const w = makeWallet(issuer, 'exit-paths', 'v2', { offlineAllowance: 5_000, maxPerPayment: MAX });
    const g = gate({ daily: 5_000 });
    const t = signToken(w, { payee: OP, amount: MAX, counter: 1, time: NOW });
    const v = await g.accept(t, tin(NOW));
    expect((await g.tapOut(t, out(700, NOW + 60))).reason).toBe('ok');
    expect(totals(g, w, D0)).toEqual({ cert: 2_000, day: 2_000 });
    expect(g.void(v.tokenHash, NOW + 70)).toMatchObject({ ok: false, reason: 'already_completed' });
    expect(totals(g, w, D0)).toEqual({ cert: 2_000, day: 2_000 });
    expect((await g.accept(t, tin(NOW + 75))).reason).toBe('replayed'); // no resume after the tap-out
  });

  it('complete() then tap-out here adds nothing; a tap-out first counts the token amount once, then a tap-in here is already_tapped_out and a void unknown_token', async () => {
    const w = makeWallet(issuer, 'exit-paths', 'v3', { offlineAllowance: 5_000, maxPerPayment: MAX });
    const g = gate({ daily: 5_000 });
    const t1 = signToken(w, { payee: OP, amount: MAX, counter: 1, time: NOW });
    const v1 = await g.accept(t1, tin(NOW));
    expect(g.complete(v1.tokenHash)).toBe(true);
    expect((await g.tapOut(t1, out(900, NOW + 60))).reason).toBe('ok');
    expect(totals(g, w, D0)).toEqual({ cert: 2_000, day: 2_000 });
    const t2 = signToken(w, { payee: OP, amount: MAX, counter: 2, time: NOW + 100 });
    const o = await g.tapOut(t2, out(900, NOW + 100));
    expect(o.reason).toBe('ok');
    expect(totals(g, w, D0)).toEqual({ cert: 4_000, day: 2_000 });
    expect((await g.accept(t2, tin(NOW + 101))).reason).toBe('already_tapped_out');
    expect((await g.accept(t2, { fare: { amount: MAX, currency: HKD }, now: NOW + 101 })).reason).toBe('already_tapped_out');
    expect(g.void(o.tokenHash, NOW + 102)).toMatchObject({ ok: false, reason: 'unknown_token' });
    expect((await g.tapOut(t2, out(900, NOW + 103))).reason).toBe('already_tapped_out');
    expect(totals(g, w, D0)).toEqual({ cert: 4_000, day: 2_000 });
  });

  it('a refused tap-out records nothing and is refused again; a void frees room and it passes; the boundary is total + token amount = allowance, whatever the fare', async () => {
    const w = makeWallet(issuer, 'exit-paths', 'v4', { offlineAllowance: 3_000, maxPerPayment: MAX });
    const g = gate();
    const tIn = signToken(w, { payee: OP, amount: MAX, counter: 1, time: NOW });
    const vIn = await g.accept(tIn, tin(NOW)); // 2000 counted
    expect(vIn.accepted).toBe(true);
    const tOut = signToken(w, { payee: OP, amount: MAX, counter: 2, time: NOW });
    const seq = head(g);
    // 2000 + a fare of 500 would fit in 3000; 2000 + the token's 2000 does not.
    expect((await g.tapOut(tOut, out(500, NOW + 30))).reason).toBe('allowance_exhausted');
    expect((await g.tapOut(tOut, out(500, NOW + 31))).reason).toBe('allowance_exhausted');
    expect(head(g)).toBe(seq);
    expect(totals(g, w, D0)).toEqual({ cert: 2_000, day: 2_000 });
    expect(g.void(vIn.tokenHash, NOW + 40).ok).toBe(true); // the rider's own tap-in was torn (the barrier jammed)
    expect((await g.tapOut(tOut, out(500, NOW + 50))).reason).toBe('ok');
    expect(totals(g, w, D0)).toEqual({ cert: 2_000, day: 0 });
    // The exact boundary, 3000: a token of 10.01 at a fare of 0.01 is refused, one of 10.00 passes, then one of 0.01 is refused.
    expect((await g.tapOut(signToken(w, { payee: OP, amount: 1_001, counter: 3, time: NOW }), out(1, NOW + 60))).reason).toBe('allowance_exhausted');
    expect((await g.tapOut(signToken(w, { payee: OP, amount: 1_000, counter: 4, time: NOW }), out(1, NOW + 61))).reason).toBe('ok');
    expect((await g.tapOut(signToken(w, { payee: OP, amount: 1, counter: 5, time: NOW }), out(1, NOW + 62))).reason).toBe('allowance_exhausted');
    expect(totals(g, w, D0)).toEqual({ cert: 3_000, day: 0 });
  });

  it("a tap-in is refused at a gate after a tap-out filled the wallet's allowance total there (the total is shared; the daily total is not)", async () => {
    const w = makeWallet(issuer, 'exit-paths', 'v5', { offlineAllowance: 3_000, maxPerPayment: MAX });
    const g = gate({ daily: 3_000 });
    expect((await g.tapOut(signToken(w, { payee: OP, amount: MAX, counter: 1, time: NOW }), out(500, NOW))).reason).toBe('ok');
    expect(totals(g, w, D0)).toEqual({ cert: 2_000, day: 0 });
    // 2000 + 2000 > 3000; counting the fare (500) would have let it in.
    expect((await g.accept(signToken(w, { payee: OP, amount: MAX, counter: 2, time: NOW }), tin(NOW + 1))).reason).toBe('allowance_exhausted');
    expect(totals(g, w, D0)).toEqual({ cert: 2_000, day: 0 });
    // What is left of the allowance still takes a tap-in: 2000 + 1000 = 3000.
    expect((await g.accept(signToken(w, { payee: OP, amount: 1_000, counter: 3, time: NOW }), tin(NOW + 2, 1_000))).reason).toBe('ok');
    expect(totals(g, w, D0)).toEqual({ cert: 3_000, day: 1_000 });
  });

  it('across midnight UTC with the clock going back: each day bounds its tap-ins, no exit is refused daily_limit or moves a daily total, a void gives back to its record\'s day', async () => {
    const w = makeWallet(issuer, 'exit-paths', 'v6', { offlineAllowance: 1_000_000, maxPerPayment: MAX });
    const g = gate({ daily: 5_000 });
    const mid = (D0 + 1) * 86_400;
    const D1 = D0 + 1;
    let c = 0;
    const tapIn = (amount: number, at: number) => g.accept(signToken(w, { payee: OP, amount, counter: ++c, time: at }), tin(at, amount));
    /** A tap-out with no tap-in here: token 20.00, fare 7.00. */
    const exit = async (at: number) => (await g.tapOut(signToken(w, { payee: OP, amount: MAX, counter: ++c, time: at }), out(700, at))).reason;
    expect((await tapIn(2_000, mid - 10)).reason).toBe('ok'); // D0: 2000
    expect((await tapIn(2_000, mid - 5)).reason).toBe('ok'); // D0: 4000
    expect((await tapIn(2_000, mid + 10)).reason).toBe('ok'); // D1: 2000
    expect((await tapIn(2_000, mid + 20)).reason).toBe('ok'); // D1: 4000
    const vIn = await tapIn(1_000, mid + 30); // D1: 5000, the daily total itself
    expect(vIn.reason).toBe('ok');
    expect((await tapIn(1, mid + 40)).reason).toBe('daily_limit');
    // Exits that day pass, with the day's total full, and leave it as it is.
    expect([await exit(mid + 41), await exit(mid + 42), await exit(mid + 43)]).toEqual(['ok', 'ok', 'ok']);
    expect(totals(g, w, D1)).toEqual({ cert: 9_000 + 3 * 2_000, day: 5_000 }); // the exits' token amounts, not 3 × 7.00
    // The clock goes back before midnight: day D0 again (4000): 1001 more is refused, 1000 fits.
    expect((await tapIn(1_001, mid - 2)).reason).toBe('daily_limit');
    expect((await tapIn(1_000, mid - 2)).reason).toBe('ok');
    expect(await exit(mid - 2)).toBe('ok');
    expect(totals(g, w, D0)).toEqual({ cert: 18_000, day: 5_000 });
    // A void while the clock is back (day D0) gives the tap-in's 1000 back to D1, the day it counted towards.
    expect(g.void(vIn.tokenHash, mid - 1).ok).toBe(true);
    expect(totals(g, w, D0)).toEqual({ cert: 17_000, day: 5_000 });
    expect(totals(g, w, D1).day).toBe(4_000);
    expect((await tapIn(1_000, mid + 50)).reason).toBe('ok');
    expect((await tapIn(1, mid + 51)).reason).toBe('daily_limit');
    expect(await exit(mid + 52)).toBe('ok');
    expect(totals(g, w, D1)).toEqual({ cert: 20_000, day: 5_000 });
  });
});

describe('exit paths across stores and processes (spec/reader.md §7.2 step 3e)', () => {
  /**
   * One seeded random gate day (tap-ins, tap-outs of new and known tokens, re-taps with a void or a complete, the
   * clock back and forth, day jumps), with a model of the rule: a tap-in here adds its amount to the allowance total
   * and to its day's total, a void takes it back from both (the record's day), a tap-out with no tap-in here adds its
   * token's amount to the allowance total only.
   */
  async function run(store: ReaderStore): Promise<{ verdicts: string[]; totals: Record<string, number>; model: Record<string, number> }> {
    let now = NOW;
    const g = gateOn(store, { id: 9400, daily: 4_000, now: () => now });
    const ws = [1, 2].map((i) => makeWallet(issuer, 'exit-paths', `s${i}`, { offlineAllowance: 60_000, maxPerPayment: MAX }));
    const wids = ws.map((w) => toHex(walletIdOf(w.cert.walletPublicKey)));
    let seed = 12345;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const tokens: { bytes: Uint8Array; wi: number }[] = [];
    const counters = [0, 0];
    const verdicts: string[] = [];
    const model = new Map<string, number>();
    const add = (k: string, v: number) => model.set(k, (model.get(k) ?? 0) + v);
    const tappedInHere = new Map<string, number>(); // token hash -> the reader day its tap-in counted towards
    const days = new Set<number>();
    const accept = async (tk: { bytes: Uint8Array; wi: number }): Promise<ReaderVerdict> => {
      const v = await g.accept(tk.bytes, tin(now));
      if (v.accepted && v.status === 'accepted') {
        add(`c:${wids[tk.wi]}:${certId(ws[tk.wi]!.cert)}`, MAX);
        add(`d:${wids[tk.wi]}:${dayOf(now)}:${HKD}`, MAX);
        tappedInHere.set(toHex(v.tokenHash), dayOf(now));
      }
      return v;
    };
    const tapOut = async (tk: { bytes: Uint8Array; wi: number }): Promise<void> => {
      const v = await g.tapOut(tk.bytes, out(1 + rnd(MAX), now));
      if (v.accepted && !tappedInHere.has(toHex(v.tokenHash))) add(`c:${wids[tk.wi]}:${certId(ws[tk.wi]!.cert)}`, MAX);
      verdicts.push(`out:${v.reason}`);
    };
    const fresh = (wi: number) => {
      const tk = { bytes: signToken(ws[wi]!, { payee: OP, amount: MAX, counter: ++counters[wi]!, time: now }), wi };
      tokens.push(tk);
      return tk;
    };
    for (let i = 0; i < 300; i++) {
      days.add(dayOf(now));
      const k = rnd(7);
      const wi = rnd(2);
      if (k === 0) verdicts.push(`in:${(await accept(fresh(wi))).reason}`);
      else if (k === 1) await tapOut(fresh(wi));
      else if (k === 2 && tokens.length) await tapOut(tokens[rnd(tokens.length)]!);
      else if (k === 3 && tokens.length) {
        const tk = tokens[rnd(tokens.length)]!;
        const v = await accept(tk);
        verdicts.push(`in:${v.reason}`);
        const r = g.void(v.tokenHash, now);
        verdicts.push(r.ok ? 'void' : `void:${r.reason}`);
        if (r.ok) {
          const day = tappedInHere.get(toHex(v.tokenHash))!;
          add(`c:${wids[tk.wi]}:${certId(ws[tk.wi]!.cert)}`, -MAX);
          add(`d:${wids[tk.wi]}:${day}:${HKD}`, -MAX);
        }
      } else if (k === 4 && tokens.length) {
        const v = await accept(tokens[rnd(tokens.length)]!);
        verdicts.push(`in:${v.reason}:${g.complete(v.tokenHash)}`);
      } else if (k === 5) now += rnd(2) ? rnd(3_000) : -rnd(200);
      else now += 40_000;
    }
    const keys = ws.flatMap((w, i) => [`c:${wids[i]}:${certId(w.cert)}`, ...[...days].map((d) => `d:${wids[i]}:${d}:${HKD}`)]);
    const held = g.store.transact((tx) => Object.fromEntries(keys.map((key) => [key, tx.getTotal(key)])));
    return { verdicts, totals: held, model: Object.fromEntries(keys.map((key) => [key, model.get(key) ?? 0])) };
  }

  it('the SQLite and memory stores give the same verdicts and totals over a random gate day, both the totals of the rule', async () => {
    const mem = await run(new MemoryReaderStore());
    const sq = SqliteReaderStore.create(join(dir, 'same.db'));
    const sql = await run(sq);
    sq.close();
    expect(sql.verdicts).toEqual(mem.verdicts);
    expect(sql.totals).toEqual(mem.totals);
    expect(mem.totals).toEqual(mem.model);
    // Both limits were reached, and an exit was refused for the allowance, never for the daily total.
    expect(mem.verdicts).toContain('in:daily_limit');
    expect(mem.verdicts).toContain('out:allowance_exhausted');
    expect(mem.verdicts).not.toContain('out:daily_limit');
    expect(mem.verdicts.filter((v) => v === 'out:ok').length).toBeGreaterThan(10);
  });

  it('two Reader objects on one SQLite database: a tap-in and a tap-out of one token racing end with the same allowance total in either order', async () => {
    for (const first of ['tapIn', 'tapOut'] as const) {
      const path = join(dir, `race-${first}.db`);
      SqliteReaderStore.create(path).close();
      const id = first === 'tapIn' ? 9501 : 9502;
      const [la, lb] = [latch(), latch()];
      const a = gateOn(SqliteReaderStore.open(path), { id, hold: la.wait });
      const b = gateOn(SqliteReaderStore.open(path), { id, hold: lb.wait });
      const w = makeWallet(issuer, 'exit-paths', `race-${first}`, { offlineAllowance: 5_000, maxPerPayment: MAX });
      const t = signToken(w, { payee: OP, amount: MAX, counter: 1, time: NOW });
      const pin = a.accept(t, tin(NOW + 5));
      const pout = b.tapOut(t, out(800, NOW + 5));
      expect([await settled(pin), await settled(pout)]).toEqual([false, false]); // both in flight
      if (first === 'tapIn') {
        la.release();
        await pin;
        lb.release();
      } else {
        lb.release();
        await pout;
        la.release();
      }
      const [vin, vout] = await Promise.all([pin, pout]);
      if (first === 'tapIn') {
        expect([vin.reason, vout.reason]).toEqual(['ok', 'ok']);
        expect(totals(a, w, D0)).toEqual({ cert: 2_000, day: 2_000 }); // the tap-in's; its tap-out here adds nothing
      } else {
        expect([vin.reason, vout.reason]).toEqual(['already_tapped_out', 'ok']);
        expect(totals(a, w, D0)).toEqual({ cert: 2_000, day: 0 }); // the token's amount, not the fare of 800
      }
      expect(a.verifyJournal().ok).toBe(true);
      a.store.close();
      b.store.close();
    }
  });

  it('two Reader objects on one SQLite database: two tap-outs racing for the last of the allowance, exactly one passes', async () => {
    const path = join(dir, 'race-allowance.db');
    SqliteReaderStore.create(path).close();
    const l = latch();
    const a = gateOn(SqliteReaderStore.open(path), { id: 9503, hold: l.wait });
    const b = gateOn(SqliteReaderStore.open(path), { id: 9503, hold: l.wait });
    const w = makeWallet(issuer, 'exit-paths', 'race-allow', { offlineAllowance: 3_000, maxPerPayment: MAX });
    // Fares of 5.00 each would both fit in 30.00; tokens of 20.00 each do not.
    const px = a.tapOut(signToken(w, { payee: OP, amount: MAX, counter: 1, time: NOW }), out(500, NOW));
    const py = b.tapOut(signToken(w, { payee: OP, amount: MAX, counter: 2, time: NOW }), out(500, NOW));
    expect([await settled(px), await settled(py)]).toEqual([false, false]);
    l.release();
    const [x, y] = await Promise.all([px, py]);
    expect([x.reason, y.reason].sort()).toEqual(['allowance_exhausted', 'ok']);
    expect(totals(a, w, D0)).toEqual({ cert: 2_000, day: 0 });
    a.store.close();
    b.store.close();
  });

  it('two Reader objects on one SQLite database: one token tapped out at both at once counts once; a void and a tap-out of one tap-in agree', async () => {
    const path = join(dir, 'race-twice.db');
    SqliteReaderStore.create(path).close();
    let l = latch();
    const a = gateOn(SqliteReaderStore.open(path), { id: 9506, hold: () => l.wait() });
    const b = gateOn(SqliteReaderStore.open(path), { id: 9506, hold: () => l.wait() });
    const w = makeWallet(issuer, 'exit-paths', 'race-twice', { offlineAllowance: 9_000, maxPerPayment: MAX });
    const t = signToken(w, { payee: OP, amount: MAX, counter: 1, time: NOW });
    const [px, py] = [a.tapOut(t, out(1_000, NOW)), b.tapOut(t, out(1_000, NOW))];
    expect([await settled(px), await settled(py)]).toEqual([false, false]);
    l.release();
    const [x, y] = await Promise.all([px, py]);
    expect([x.reason, y.reason].sort()).toEqual(['already_tapped_out', 'ok']);
    expect(totals(a, w, D0)).toEqual({ cert: 2_000, day: 0 }); // the token's amount once, not the fare
    // A tap-in at a; b verifies a tap-out of it while a voids it: the tap-out finds the void.
    const t2 = signToken(w, { payee: OP, amount: MAX, counter: 2, time: NOW });
    const vin = await a.accept(t2, tin(NOW + 1)); // the latch is open
    expect(totals(a, w, D0)).toEqual({ cert: 4_000, day: 2_000 });
    l = latch();
    const pOut = b.tapOut(t2, out(700, NOW + 2));
    expect(await settled(pOut)).toBe(false);
    const vd = a.void(vin.tokenHash, NOW + 2); // a void verifies nothing: it commits now
    l.release();
    expect([vd.ok, (await pOut).reason]).toEqual([true, 'already_voided']);
    expect(totals(a, w, D0)).toEqual({ cert: 2_000, day: 0 });
    expect(a.verifyJournal().ok).toBe(true);
    a.store.close();
    b.store.close();
  });

  it('restart between tap-in and tap-out (SQLite): the totals persist, the tap-out of the tap-in adds nothing, a tapped-out token stays out', async () => {
    const path = join(dir, 'restart.db');
    SqliteReaderStore.create(path).close();
    const w = makeWallet(issuer, 'exit-paths', 'restart', { offlineAllowance: 5_000, maxPerPayment: MAX });
    const t1 = signToken(w, { payee: OP, amount: MAX, counter: 1, time: NOW });
    const t2 = signToken(w, { payee: OP, amount: MAX, counter: 2, time: NOW });
    let g = gateOn(SqliteReaderStore.open(path), { id: 9504, daily: 5_000 });
    expect((await g.accept(t1, tin(NOW))).reason).toBe('ok');
    expect((await g.tapOut(t2, out(600, NOW + 1))).reason).toBe('ok'); // no tap-in here: 2000 more
    expect(totals(g, w, D0)).toEqual({ cert: 4_000, day: 2_000 });
    g.store.close();
    g = gateOn(SqliteReaderStore.open(path), { id: 9504, daily: 5_000 });
    expect(totals(g, w, D0)).toEqual({ cert: 4_000, day: 2_000 });
    expect((await g.accept(t1, tin(NOW + 10))).status).toBe('resumed');
    expect((await g.tapOut(t1, out(600, NOW + 600))).reason).toBe('ok');
    expect((await g.accept(t2, tin(NOW + 20))).reason).toBe('already_tapped_out');
    expect(totals(g, w, D0)).toEqual({ cert: 4_000, day: 2_000 });
    // 4000 + a token of 10.01 passes 5000 at any fare; after another restart too.
    const t3 = signToken(w, { payee: OP, amount: 1_001, counter: 3, time: NOW });
    expect((await g.tapOut(t3, out(1, NOW + 30))).reason).toBe('allowance_exhausted');
    g.store.close();
    g = gateOn(SqliteReaderStore.open(path), { id: 9504, daily: 5_000 });
    expect((await g.tapOut(t3, out(1, NOW + 40))).reason).toBe('allowance_exhausted');
    g.store.close();
  });

  it('a store failing at every site of a tap-out with no tap-in here leaves the totals as they were; the retry counts the token amount once (memory and SQLite)', async () => {
    for (const kind of ['memory', 'sqlite'] as const) {
      let swept = 0;
      for (let at = 0; ; at++) {
        const inner = kind === 'memory' ? new MemoryReaderStore() : SqliteReaderStore.create(join(dir, `fault-${at}.db`));
        const fs = new FailingStore(inner);
        const g = gateOn(fs, { id: 9505, daily: 10_000 });
        const w = makeWallet(issuer, 'exit-paths', 'fault', { offlineAllowance: 5_000, maxPerPayment: MAX });
        expect((await g.accept(signToken(w, { payee: OP, amount: MAX, counter: 1, time: NOW }), tin(NOW))).reason).toBe('ok');
        expect((await g.tapOut(signToken(w, { payee: OP, amount: MAX, counter: 2, time: NOW }), out(1_000, NOW))).reason).toBe('ok');
        const before = totals(g, w, D0);
        expect(before).toEqual({ cert: 4_000, day: 2_000 });
        const t = signToken(w, { payee: OP, amount: 1_000, counter: 3, time: NOW });
        fs.arm({ at, reads: true, afterWrite: at % 2 === 1 });
        let threw = false;
        try {
          await g.tapOut(t, out(500, NOW + 1));
        } catch (e) {
          threw = true;
          if (kind === 'sqlite') expect((e as { code?: string }).code).toBe('reader.store_unusable');
        }
        const fired = fs.fired !== undefined;
        fs.disarm();
        if (!fired) {
          expect(threw).toBe(false);
          inner.close();
          break; // every site swept
        }
        swept++;
        expect(threw).toBe(true);
        expect(totals(g, w, D0)).toEqual(before);
        expect((await g.tapOut(t, out(500, NOW + 2))).reason).toBe('ok');
        expect(totals(g, w, D0)).toEqual({ cert: 5_000, day: 2_000 }); // 1000 once, not the fare of 500; no daily total
        expect((await g.tapOut(t, out(500, NOW + 3))).reason).toBe('already_tapped_out');
        expect((await g.tapOut(signToken(w, { payee: OP, amount: 1, counter: 4, time: NOW }), out(1, NOW + 4))).reason).toBe('allowance_exhausted');
        inner.close();
      }
      expect(swept, `${kind}: sites swept`).toBeGreaterThan(8);
    }
  });
});
