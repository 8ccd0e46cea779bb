/**
 * The open weaknesses of tap-out (spec/reader.md §7.3), found by a transit attack review on 2026-12-06; point 1 is
 * fixed only at a gate whose profile sets requireExit (not the default: its test here runs the default profile, and
 * test/reader/exit.test.ts the fixed one), point 3 by the one-way rule of clearing (spec/clearing.md §4 step 10) unless a tap-out is heard or replayed too (point 2 is, and its test here is now a test of the rule). Each test states what happens TODAY, so that the weakness is visible in the suite and
 * measured, not only described: when a rule change fixes one, its test here fails, and it becomes a test of the
 * new rule (and §7.3 loses that point).
 */
import { describe, expect, it } from 'vitest';
import { toHex, walletIdOf } from '../../src/index.js';
import { Clearing } from '../../src/clearing/index.js';
import type { Reader } from '../../src/reader/index.js';
import { HKD, NOW, makeIssuer, makeWallet, openTestReader, signToken } from './helpers.js';

const issuer = makeIssuer('transit-open');
const OP = 300;
const gate = (id: number): Reader => openTestReader(issuer, 'transit-open', id);

async function clearingOf(gates: Reader[], at: number): Promise<Clearing> {
  const c = new Clearing({ issuerKeys: issuer.keySet(), clock: () => at + 3600 });
  for (const g of gates) for (const b of g.export(at).batches) await c.ingest(b.bytes);
  return c;
}

describe('open weaknesses of tap-out (spec/reader.md §7.3), as they stand', () => {
  it('point 1, at a gate that does not require exits (the default): a recording of a rider\'s tap-in opens another exit gate, and the rider is charged the higher fare', async () => {
    const [a, b, other] = [gate(801), gate(802), gate(803)];
    const w = makeWallet(issuer, 'transit-open', 'rider');
    const trip = signToken(w, { payee: OP, amount: 3500, counter: 1, time: NOW });
    expect((await a.accept(trip, { tapIn: { maxFare: 3500, currency: HKD }, now: NOW })).accepted).toBe(true);
    expect((await b.tapOut(trip, { fare: 300, currency: HKD, now: NOW + 600 })).accepted).toBe(true);
    // Someone who recorded the sound leaves by another gate an hour later with the same bytes.
    expect((await other.tapOut(trip, { fare: 650, currency: HKD, now: NOW + 3600 })).accepted).toBe(true);
    const c = await clearingOf([a, b, other], NOW + 4000);
    const rep = await c.report();
    expect(rep.settlement).toEqual([expect.objectContaining({ count: 1, gross: 650n })]); // not 300
    expect(rep.multipleTapOuts.length).toBe(1);
    expect(await c.blockedWalletIds()).toEqual([]);
  });

  it('point 2, fixed (spec/reader.md §7.2 step 3e): tap-outs with no tap-in here count the token amount against the allowance at the gate', async () => {
    const w = makeWallet(issuer, 'transit-open', 'modified', { offlineAllowance: 3500, maxPerPayment: 3500 });
    const g = gate(811);
    const reasons: string[] = [];
    for (let i = 1; i <= 3; i++) reasons.push((await g.tapOut(signToken(w, { payee: OP, amount: 3500, counter: i, time: NOW + i }), { fare: 100, currency: HKD, now: NOW + i })).reason);
    expect(reasons).toEqual(['ok', 'allowance_exhausted', 'allowance_exhausted']); // one charge of the whole allowance, not three
    const rep = await (await clearingOf([g], NOW + 60)).report();
    expect(rep.settlement).toEqual([expect.objectContaining({ count: 1, gross: 3500n })]); // no tap-in: the maximum fare
  });

  it('point 3 (fixed by the one-way rule of spec/clearing.md §4 step 10): a tap-in overheard at a second gate blocks nobody; the trip is charged once, at its tap-out fare', async () => {
    const [a, b, d] = [gate(821), gate(822), gate(823)];
    const w = makeWallet(issuer, 'transit-open', 'overheard');
    const trip = signToken(w, { payee: OP, amount: 3500, counter: 1, time: NOW });
    expect((await a.accept(trip, { tapIn: { maxFare: 3500, currency: HKD }, now: NOW })).accepted).toBe(true);
    expect((await d.accept(trip, { tapIn: { maxFare: 3500, currency: HKD }, now: NOW + 1 })).accepted).toBe(true); // the next gate heard it
    expect((await b.tapOut(trip, { fare: 400, currency: HKD, now: NOW + 900 })).accepted).toBe(true);
    const c = await clearingOf([a, b, d], NOW + 3600);
    expect(await c.blockedWalletIds()).toEqual([]);
    expect(await c.doubleSpends()).toEqual([]);
    const rep = await c.report();
    expect(rep.settlement).toEqual([expect.objectContaining({ count: 1, gross: 400n })]);
    // The operator learns which gates opened for one fare (spec/clearing.md §5 step 3).
    expect(rep.multipleTapIns.map((t) => ({ gates: t.tapIns.map((e) => e.readerId), charge: t.charge }))).toEqual([{ gates: [821, 823], charge: 400n }]);
  });

  it('what remains of points 1 and 3 at gates that do not require exits: a listener who plays the recorded tap-in at a second gate and again at a third gate\'s exit blocks the payer (two tap-ins and tap-outs at two gates) and charges her the higher fare', async () => {
    const [a, b, d, z] = [gate(831), gate(832), gate(833), gate(834)];
    const w = makeWallet(issuer, 'transit-open', 'recorded');
    const trip = signToken(w, { payee: OP, amount: 3500, counter: 1, time: NOW });
    expect((await a.accept(trip, { tapIn: { maxFare: 3500, currency: HKD }, now: NOW })).accepted).toBe(true);
    expect((await d.accept(trip, { tapIn: { maxFare: 3500, currency: HKD }, now: NOW + 60 })).accepted).toBe(true);
    expect((await b.tapOut(trip, { fare: 400, currency: HKD, now: NOW + 900 })).accepted).toBe(true);
    expect((await z.tapOut(trip, { fare: 3500, currency: HKD, now: NOW + 3000 })).accepted).toBe(true);
    const c = await clearingOf([a, b, d, z], NOW + 3600);
    expect((await c.blockedWalletIds()).map(toHex)).toEqual([toHex(walletIdOf(w.cert.walletPublicKey))]);
    expect((await c.doubleSpends()).map((x) => `${x.kind}|${x.first.readerId}|${x.second.readerId}`)).toEqual(['same_token_twice|831|833']);
    expect((await c.report()).settlement).toEqual([expect.objectContaining({ count: 1, gross: 3500n })]);
  });

  it('what remains at gates that require exits: a rider whose tap-in is heard by the next entry gate and whose signed exit is heard by the next exit gate (within exitMaxAgeSeconds) is blocked, as two travellers would be', async () => {
    const strict = (id: number): Reader => openTestReader(issuer, 'transit-open', id, { options: { profile: { requireExit: true } } });
    const [a, aNext, x, xNext] = [strict(841), strict(842), strict(843), strict(844)];
    const w = makeWallet(issuer, 'transit-open', 'overheard-twice');
    const trip = signToken(w, { payee: OP, amount: 3500, counter: 1, time: NOW });
    expect((await a.accept(trip, { tapIn: { maxFare: 3500, currency: HKD }, now: NOW })).accepted).toBe(true);
    expect((await aNext.accept(trip, { tapIn: { maxFare: 3500, currency: HKD }, now: NOW + 1 })).accepted).toBe(true);
    const exit = w.wallet.exit(trip, { time: NOW + 900 });
    expect((await x.tapOut(exit, { fare: 400, currency: HKD, now: NOW + 900 })).accepted).toBe(true);
    expect((await xNext.tapOut(exit, { fare: 400, currency: HKD, now: NOW + 901 })).accepted).toBe(true); // one exit, heard twice
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 3600 });
    for (const g of [a, aNext, x, xNext]) for (const b of g.export(NOW + 1000).batches) expect((await c.ingest(b.bytes)).outcome).toBe('ingested');
    expect((await c.blockedWalletIds()).map(toHex)).toEqual([toHex(walletIdOf(w.cert.walletPublicKey))]);
  });
});
