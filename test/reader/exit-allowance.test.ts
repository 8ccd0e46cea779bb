/**
 * A tap-out with no tap-in at this gate, from the gate to clearing (spec/reader.md §7.2 step 3e, I5): the gate
 * counts what clearing may charge for it (the token's amount: the maximum fare when no tap-in ever pairs with it,
 * spec/clearing.md M3), so what one gate lets clearing settle from a wallet stays within the certificate's
 * allowance; an honest rider's ordinary day passes every gate and is charged its fares. From a review of the first
 * version of this rule, which counted the fare (one gate let clearing settle 900.00 against an allowance of 30.00)
 * and also checked the daily total at the exit (an honest rider's fourth trip of a day was refused inside the
 * paid area, and then charged as an open trip).
 */
import { describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import type { Reader } from '../../src/reader/index.js';
import { HKD, NOW, makeIssuer, makeWallet, openTestReader, signToken } from './helpers.js';

const issuer = makeIssuer('exit-allowance');
const OP = 300;
let nextId = 9100;
const gate = (limits?: Record<number, { dailyTotal?: number; staleMaxAmount?: number }>): Reader =>
  openTestReader(issuer, 'exit-allowance', nextId++, limits ? { options: { limits } } : {});

async function settledFrom(gates: Reader[], at: number): Promise<{ gross: bigint; report: Awaited<ReturnType<Clearing['report']>> }> {
  const c = new Clearing({ issuerKeys: issuer.keySet(), clock: () => at + 3600 });
  for (const g of gates) for (const b of g.export(at).batches) await c.ingest(b.bytes);
  const report = await c.report();
  return { gross: report.settlement.reduce((a, l) => a + l.gross, 0n), report };
}

describe('a tap-out with no tap-in here, gate and clearing', () => {
  it('a modified wallet leaving one gate again and again at a fare of 1.00 with tokens of its whole allowance: one exit, clearing settles the allowance', async () => {
    const ALLOWANCE = 3_000;
    const w = makeWallet(issuer, 'exit-allowance', 'modified', { offlineAllowance: ALLOWANCE, maxPerPayment: ALLOWANCE });
    const g = gate();
    const reasons: string[] = [];
    for (let i = 1; i <= 40; i++) reasons.push((await g.tapOut(signToken(w, { payee: OP, amount: ALLOWANCE, counter: i, time: NOW + i * 10 }), { fare: 100, currency: HKD, now: NOW + i * 10 })).reason);
    expect(reasons.filter((r) => r === 'ok').length).toBe(1); // counting the fare opened 30 times
    expect(new Set(reasons.slice(1))).toEqual(new Set(['allowance_exhausted']));
    const { gross, report } = await settledFrom([g], NOW + 600);
    expect(report.tapOutsWithoutTapIn.length).toBe(1);
    expect(gross).toBe(BigInt(ALLOWANCE)); // it was 900.00
  });

  it('the daily total bounds what a wallet starts at a gate, not its exits: the allowance bounds those', async () => {
    const w = makeWallet(issuer, 'exit-allowance', 'daily', { offlineAllowance: 10_000, maxPerPayment: 2_000 });
    const g = gate({ [HKD]: { dailyTotal: 2_000 } });
    const reasons: string[] = [];
    for (let i = 1; i <= 8; i++) reasons.push((await g.tapOut(signToken(w, { payee: OP, amount: 2_000, counter: i, time: NOW + i * 10 }), { fare: 100, currency: HKD, now: NOW + i * 10 })).reason);
    expect(reasons).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'allowance_exhausted', 'allowance_exhausted', 'allowance_exhausted']);
    expect((await settledFrom([g], NOW + 600)).gross).toBe(10_000n);
    // A tap-in here is held to the daily total (and the allowance is used up besides).
    expect((await g.accept(signToken(w, { payee: OP, amount: 2_000, counter: 20, time: NOW + 200 }), { tapIn: { maxFare: 2_000, currency: HKD }, now: NOW + 200 })).reason).toBe('allowance_exhausted');
  });

  it("an honest rider's ordinary day, four short trips through three gates, passes every gate and is charged the fares", async () => {
    // The rider lives at H (gate h), works at W, shops at X; daily total 50.00, maximum fare 20.00. Gate h counts two
    // tap-ins at 20.00 each today and sees two exits: with the first version of the rule, the evening exit at h
    // (20.00 + 7.30 + 20.00 + 7.30 > 50.00) was refused daily_limit and the trip charged 20.00 as an open one.
    const rider = makeWallet(issuer, 'exit-allowance', 'commuter', { offlineAllowance: 100_000, maxPerPayment: 2_000 });
    const limits = { [HKD]: { dailyTotal: 5_000, staleMaxAmount: 1_000_000 } };
    const [h, wk, x] = [gate(limits), gate(limits), gate(limits)];
    const day = NOW - (NOW % 86_400) + 86_400 + 6 * 3600; // 06:00 UTC the next day
    let c = 0;
    const trip = async (from: Reader, to: Reader, at: number) => {
      const t = signToken(rider, { payee: OP, amount: 2_000, counter: ++c, time: at });
      const i = await from.accept(t, { tapIn: { maxFare: 2_000, currency: HKD }, now: at });
      const o = await to.tapOut(t, { fare: 730, currency: HKD, now: at + 1800 });
      return `${i.reason}/${o.reason}`;
    };
    const outs = [await trip(h, wk, day), await trip(wk, h, day + 5 * 3600), await trip(h, x, day + 7 * 3600), await trip(x, h, day + 11 * 3600)];
    expect(outs).toEqual(['ok/ok', 'ok/ok', 'ok/ok', 'ok/ok']);
    const { gross, report } = await settledFrom([h, wk, x], day + 13 * 3600);
    expect(report.openTrips.length).toBe(0);
    expect(gross).toBe(4n * 730n);
  });

  it('an honest wallet is never refused at an exit: copies of its tap-ins tapped out here fill no more than it signed', async () => {
    // A wallet that signed exactly its allowance in tap-ins at other gates; someone recorded them and leaves by this
    // gate with each before the rider does. Each copy counts its token's amount here; the rider's own exits come
    // after and are already_tapped_out, never allowance_exhausted.
    const w = makeWallet(issuer, 'exit-allowance', 'recorded', { offlineAllowance: 6_000, maxPerPayment: 2_000 });
    const [entry, g] = [gate(), gate()];
    const tokens = [1, 2, 3].map((i) => signToken(w, { payee: OP, amount: 2_000, counter: i, time: NOW + i * 100 }));
    for (const [i, t] of tokens.entries()) expect((await entry.accept(t, { tapIn: { maxFare: 2_000, currency: HKD }, now: NOW + (i + 1) * 100 })).accepted).toBe(true);
    for (const [i, t] of tokens.entries()) expect((await g.tapOut(t, { fare: 300, currency: HKD, now: NOW + (i + 1) * 100 + 60 })).reason).toBe('ok');
    for (const [i, t] of tokens.entries()) expect((await g.tapOut(t, { fare: 300, currency: HKD, now: NOW + (i + 1) * 100 + 120 })).reason).toBe('already_tapped_out');
  });
});
