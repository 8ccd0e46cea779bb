/**
 * A trip across the end of the wallet certificate (spec/reader.md §7.2 step 1, validAt = signed; spec/clearing.md §4
 * step 9). Found by a transit attack review: a wallet on its certificate's last day that tapped in before 00:00
 * UTC (08:00 in Hong Kong) was refused at the exit after it (certificate_expired), and clearing stored such a
 * tap-out invalid, so the honest rider was charged the maximum fare for the trip.
 */
import { describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { packJobs, unpackJobs } from '../../src/clearing/pool.js';
import { dayOf, Issuer, publicKeyOf, seededSecretKey } from '../../src/index.js';
import type { JournalEntry } from '../../src/reader/index.js';
import { HKD, NOW, handBatch, makeIssuer, makeReader, openTestReader, signToken, type TestWallet } from './helpers.js';

const issuer = makeIssuer('tap-out-expiry');
const OP = 300;
/** The first second after the certificate's last day (00:00 UTC, 08:00 in Hong Kong). */
const END = (dayOf(NOW) + 1) * 86_400;

const gate = (id: number) => openTestReader(issuer, 'tap-out-expiry', id);

/** A wallet whose certificate's last day is the UTC day of NOW. */
function lastDayWallet(label: string): TestWallet {
  const secretKey = seededSecretKey('tap-out-expiry', `wallet-${label}`);
  const cert = issuer.issueWalletCert({ walletPublicKey: publicKeyOf(secretKey), expiryDay: dayOf(NOW), maxPerPayment: 50_000, offlineAllowance: 10_000_000, currency: HKD }, NOW);
  return { secretKey, cert, wallet: undefined as never };
}

/** A batch of reader `id` (journal id all `journal` bytes) holding `entries`, as that gate would export it. */
const batchOf = (id: number, journal: number, entries: Omit<JournalEntry, 'seq'>[], createdAt: number): Uint8Array =>
  handBatch(makeReader(issuer, 'tap-out-expiry', id, 'transit', OP), new Uint8Array(8).fill(journal), entries, createdAt);

describe('a trip across the end of the wallet certificate', () => {
  it('tapped in before it ended, tapped out after: the exit opens and clearing charges the trip fare, not the maximum', async () => {
    const w = lastDayWallet('rider');
    const [a, b] = [gate(601), gate(602)];
    const trip = signToken(w, { payee: OP, amount: 3500, counter: 1, time: END - 600 });
    expect((await a.accept(trip, { tapIn: { maxFare: 3500, currency: HKD }, now: END - 600 })).accepted).toBe(true);
    expect(await b.tapOut(trip, { fare: 400, currency: HKD, now: END + 600 })).toMatchObject({ accepted: true, status: 'tapped_out' });
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: () => END + 86_400 });
    for (const r of [a, b]) for (const x of r.export(END + 3600).batches) expect(await c.ingest(x.bytes)).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
    expect(await c.settlement()).toEqual([expect.objectContaining({ count: 1, gross: 400n })]);
  });

  it('a wallet clock 50 s fast at a tap-in 30 s before the end: the entry took the token, so does the exit (the signed time less maxFuture is judged)', async () => {
    const w = lastDayWallet('fast-clock');
    const trip = signToken(w, { payee: OP, amount: 3500, counter: 1, time: END + 20 });
    const [a, b] = [gate(621), gate(622)];
    expect((await a.accept(trip, { tapIn: { maxFare: 3500, currency: HKD }, now: END - 30 })).accepted).toBe(true);
    expect(await b.tapOut(trip, { fare: 400, currency: HKD, now: END + 600 })).toMatchObject({ accepted: true });
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: () => END + 86_400 });
    for (const r of [a, b]) for (const x of r.export(END + 3600).batches) expect(await c.ingest(x.bytes)).toMatchObject({ invalidTokens: 0 });
    expect(await c.settlement()).toEqual([expect.objectContaining({ count: 1, gross: 400n })]);
  });

  it('a wallet clock 60 s slow in the first minute of a new issuer key: the entry took the token, so does the exit (the key\'s start is judged at the reader clock)', async () => {
    const k1 = seededSecretKey('tap-out-expiry', 'issuer-1');
    const k2 = seededSecretKey('tap-out-expiry', 'issuer-2');
    const two = new Issuer(7, [
      { keyIndex: 1, secretKey: k1, publicKey: publicKeyOf(k1), notBefore: NOW - 86_400 * 365, notAfter: NOW + 86_400 * 365 },
      { keyIndex: 2, secretKey: k2, publicKey: publicKeyOf(k2), notBefore: NOW - 30, notAfter: NOW + 86_400 * 365 },
    ]);
    const sk = seededSecretKey('tap-out-expiry', 'wallet-slow');
    const w: TestWallet = { secretKey: sk, cert: two.issueWalletCert({ walletPublicKey: publicKeyOf(sk), expiryDay: dayOf(NOW) + 30, maxPerPayment: 50_000, offlineAllowance: 1_000_000, currency: HKD }, NOW, 2), wallet: undefined as never };
    const trip = signToken(w, { payee: OP, amount: 3500, counter: 1, time: NOW - 60 });
    const gateOf = (id: number) => openTestReader(two, 'tap-out-expiry', id);
    const [a, b] = [gateOf(631), gateOf(632)];
    expect((await a.accept(trip, { tapIn: { maxFare: 3500, currency: HKD }, now: NOW })).accepted).toBe(true);
    expect(await b.tapOut(trip, { fare: 400, currency: HKD, now: NOW + 600 })).toMatchObject({ accepted: true });
    const c = new Clearing({ issuerKeys: two.keySet(), clock: () => NOW + 86_400 });
    for (const r of [a, b]) for (const x of r.export(NOW + 3600).batches) expect(await c.ingest(x.bytes)).toMatchObject({ invalidTokens: 0 });
    expect(await c.settlement()).toEqual([expect.objectContaining({ count: 1, gross: 400n })]);
  });

  it('a token signed more than maxFuture after the certificate ended is refused at the exit, and stored invalid by clearing', async () => {
    const w = lastDayWallet('late');
    const late = signToken(w, { payee: OP, amount: 3500, counter: 1, time: END + 70 });
    expect(await gate(603).tapOut(late, { fare: 400, currency: HKD, now: END + 600 })).toMatchObject({ accepted: false, reason: 'certificate_expired' });
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: () => END + 86_400 });
    expect(await c.ingest(batchOf(604, 4, [{ kind: 'tap_out', time: END + 600, data: late, value: 400 }], END + 3600))).toMatchObject({ invalidTokens: 1 });
    // A tap-in is judged at the reader's time as before: after the end, refused.
    const t2 = signToken(w, { payee: OP, amount: 3500, counter: 2, time: END - 5 });
    expect(await gate(605).accept(t2, { tapIn: { maxFare: 3500, currency: HKD }, now: END + 5 })).toMatchObject({ accepted: false, reason: 'certificate_expired' });
  });

  it('clearing judges a tap_out entry at its token time on both of its paths (one thread, and the verify pool\'s packed jobs)', async () => {
    const w = lastDayWallet('batch');
    const trip = signToken(w, { payee: OP, amount: 3500, counter: 1, time: END - 600 });
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: () => END + 86_400 });
    const rs = await c.ingestAll([
      batchOf(611, 1, [{ kind: 'tap_in', time: END - 600, data: trip, value: 3500 }], END + 3600),
      batchOf(612, 2, [{ kind: 'tap_out', time: END + 600, data: trip, value: 400 }], END + 3600),
    ]);
    expect(rs.map((r) => [r.outcome, r.invalidTokens])).toEqual([['ingested', 0], ['ingested', 0]]);
    expect((await c.report()).settlement).toEqual([expect.objectContaining({ count: 1, gross: 400n })]);
    const job = { data: trip, now: END + 600, payees: [612, OP], maxAge: 14_400, maxFuture: 60, validAt: 'signed' as const };
    expect(unpackJobs(packJobs([job, { ...job, validAt: undefined }])).map((j) => j.validAt)).toEqual(['signed', undefined]);
  });
});
