/**
 * Model-based property test of the reader's money invariants (spec/reader.md §Money invariants) against an
 * adversary: random interleavings of honest payments, exact replays after random delays, clones (same wallet
 * key, counter reused), tokens for superseded or never-issued requests, new requests, completes and voids,
 * clock jumps (both ways), and at a transit gate tap-ins, tokens tapped in at another gate, re-presented
 * tap-ins and tap-outs. After every
 * step: no token vends (accepted or resumed) outside the resume rule; no request is paid twice or at another
 * price than the open request's; the journal total equals the sum of non-voided accepts; no trip is tapped
 * out twice; a token tapped out at the gate never opens it again; what the gate lets clearing charge a rider
 * (tap-ins and tap-outs with no tap-in here, each at most the token's amount) stays within the certificate's
 * allowance, and its tap-ins each day within the daily total (I5); a refusal for either is a true one, and
 * only a wallet that signed more than its allowance (a modified one) is ever refused at an exit.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex, tokenHash } from '../../src/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader, type ReaderVerdict } from '../../src/reader/index.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken, type TestWallet } from './helpers.js';

const issuer = makeIssuer('model');
const vend = makeReader(issuer, 'model', 4301, 'vending');
const gate = makeReader(issuer, 'model', 5301, 'transit', 300);
const wallets = [makeWallet(issuer, 'model', 'a'), makeWallet(issuer, 'model', 'b')];
/** The riders' wallets: an allowance of 70.00, and the gate's daily total 50.00, both within reach of a run. */
const ALLOWANCE = 7_000;
const DAILY = 5_000;
const riders = [makeWallet(issuer, 'model', 'ra', { maxPerPayment: 2_000, offlineAllowance: ALLOWANCE }), makeWallet(issuer, 'model', 'rb', { maxPerPayment: 2_000, offlineAllowance: ALLOWANCE })];

type Cmd =
  | { k: 'request'; amount: number }
  | { k: 'pay'; w: number; forOld: boolean }
  | { k: 'clone'; w: number }
  | { k: 'replay'; i: number }
  | { k: 'complete'; i: number }
  | { k: 'void'; i: number }
  | { k: 'close' }
  | { k: 'clock'; dt: number }
  | { k: 'tapIn'; w: number }
  | { k: 'elsewhere'; w: number }
  | { k: 'reTap'; i: number }
  | { k: 'tapOut'; i: number; fare: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('request' as const), amount: fc.integer({ min: 1, max: 5000 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('pay' as const), w: fc.nat(1), forOld: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('clone' as const), w: fc.nat(1) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('replay' as const), i: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('complete' as const), i: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('void' as const), i: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('close' as const) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('clock' as const), dt: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: -120, max: 120 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 10 * 86_400 }) }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('tapIn' as const), w: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('elsewhere' as const), w: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('reTap' as const), i: fc.nat(30) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('tapOut' as const), i: fc.nat(30), fare: fc.integer({ min: 1, max: 2500 }) }) },
);

interface Sale {
  bytes: Uint8Array;
  hash: string;
  challenge: string;
  amount: number;
  acceptedAt?: number;
  state?: 'pending' | 'completed' | 'voided';
}

describe('reader model: money invariants under an adversary', () => {
  it('holds every invariant after every step', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 60, size: 'max' }), async (cmds) => {
        let now = NOW;
        const blocklist = createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes;
        const r = new Reader({ ...vend, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => now });
        const g = new Reader({ ...gate, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => now, limits: { [HKD]: { staleMaxAmount: 1_000_000, dailyTotal: DAILY } } });
        r.loadBlocklist(blocklist, NOW);
        g.loadBlocklist(blocklist, NOW);
        const counters = [0, 0];
        const riderCounters = [0, 0];
        /** The open request and whether a token paid it. */
        let open: { challenge: Uint8Array; amount: number; time: number; paid: boolean } | undefined;
        let nChallenge = 0;
        const history: { challenge: Uint8Array; amount: number; time: number }[] = [];
        const saleOf = (bytes: Uint8Array, req: { challenge: Uint8Array; amount: number }): Sale => {
          const hash = toHex(tokenHash(bytes));
          const known = sales.find((x) => x.hash === hash); // a clone with every field equal is the same token
          if (known) return known;
          const s: Sale = { bytes, hash, challenge: toHex(req.challenge), amount: req.amount };
          sales.push(s);
          return s;
        };
        const sales: Sale[] = []; // every vending token ever presented
        const paidChallenges = new Map<string, number>(); // challenge -> accepts
        const trips: { w: number; bytes: Uint8Array; hash: string; acceptedAt?: number; tappedOut: boolean }[] = [];
        /**
         * What the gate lets clearing charge each rider under its one certificate (a tap-in, or a tap-out with no
         * tap-in here: at most the token's amount, spec/clearing.md M3), and what it started by day (tap-ins).
         */
        const charged = [0, 0];
        const startedOn = new Map<string, number>();
        /** What each rider's wallet signed: a modified wallet signs past its allowance. */
        const signed = [0, 0];
        const dayOfNow = () => Math.floor(now / 86_400);
        const start = (w: number, amount: number) => {
          charged[w] = charged[w]! + amount;
          startedOn.set(`${w}:${dayOfNow()}`, (startedOn.get(`${w}:${dayOfNow()}`) ?? 0) + amount);
        };
        const overAllowance = (w: number, amount: number) => charged[w]! + amount > ALLOWANCE;
        const overDaily = (w: number, amount: number) => (startedOn.get(`${w}:${dayOfNow()}`) ?? 0) + amount > DAILY;
        const check = (v: ReaderVerdict, s: Sale) => {
          const openBefore = open;
          if (!v.accepted) return;
          if (v.status === 'accepted') {
            // Pay the price shown: the open, unpaid request, at its price, once.
            expect(openBefore, 'accepted with no open request').toBeDefined();
            expect(openBefore!.paid, 'accepted for a paid request').toBe(false);
            open = { ...openBefore!, paid: true };
            expect(s.challenge).toBe(toHex(openBefore!.challenge));
            expect(v.amount).toBe(openBefore!.amount);
            expect(s.acceptedAt, 'a token accepted twice').toBeUndefined();
            paidChallenges.set(s.challenge, (paidChallenges.get(s.challenge) ?? 0) + 1);
            expect(paidChallenges.get(s.challenge), 'a request paid twice').toBe(1);
            s.acceptedAt = now;
            s.state = 'pending';
          } else {
            // Vend once: a resume only while pending, within the window, with its request still open.
            expect(s.state).toBe('pending');
            expect(now - s.acceptedAt!).toBeGreaterThanOrEqual(0);
            expect(now - s.acceptedAt!).toBeLessThanOrEqual(r.profile.resumeWindowSeconds);
            expect(openBefore && toHex(openBefore.challenge)).toBe(s.challenge);
            expect(v.charged).toBe(false);
          }
        };
        for (const c of cmds) {
          switch (c.k) {
            case 'request': {
              const challenge = new Uint8Array(8);
              new DataView(challenge.buffer).setUint32(4, ++nChallenge);
              r.openRequest({ amount: c.amount, currency: HKD, now, challenge });
              open = { challenge, amount: c.amount, time: now, paid: false };
              history.push(open);
              break;
            }
            case 'close':
              r.closeRequest();
              open = undefined;
              break;
            case 'pay':
            case 'clone': {
              const req = c.k === 'pay' && c.forOld && history.length ? history[(nChallenge * 7) % history.length]! : (open ?? history.at(-1));
              if (!req) break;
              const counter = c.k === 'clone' && counters[c.w]! > 0 ? counters[c.w]! : ++counters[c.w]!;
              const bytes = signToken(wallets[c.w] as TestWallet, { payee: vend.cert.readerId, amount: req.amount, counter, time: req.time, challenge: req.challenge });
              check(await r.accept(bytes, { now }), saleOf(bytes, req));
              break;
            }
            case 'replay': {
              const s = sales[c.i % Math.max(1, sales.length)];
              if (!s) break;
              check(await r.accept(s.bytes, { now }), s);
              break;
            }
            case 'complete': {
              const s = sales[c.i % Math.max(1, sales.length)];
              if (!s) break;
              const ok = r.complete(tokenHash(s.bytes));
              expect(ok).toBe(s.state === 'pending');
              if (ok) {
                s.state = 'completed';
                if (open && toHex(open.challenge) === s.challenge) open = undefined; // the sale ended: its request closes
              }
              break;
            }
            case 'void': {
              const s = sales[c.i % Math.max(1, sales.length)];
              if (!s) break;
              const v = r.void(tokenHash(s.bytes), now);
              if (v.ok) {
                expect(s.state).toBe('pending');
                s.state = 'voided';
                if (open && toHex(open.challenge) === s.challenge) open = undefined; // the sale ended: its request closes
              }
              break;
            }
            case 'clock':
              now += c.dt;
              break;
            case 'tapIn': {
              const counter = ++riderCounters[c.w]!;
              const bytes = signToken(riders[c.w] as TestWallet, { payee: 300, amount: 2000, counter, time: now });
              signed[c.w] = signed[c.w]! + 2000;
              trips.push({ w: c.w, bytes, hash: toHex(tokenHash(bytes)), tappedOut: false });
              const v = await g.accept(bytes, { tapIn: { maxFare: 2000, currency: HKD }, now });
              if (v.accepted) {
                expect(v.status).toBe('accepted');
                trips.at(-1)!.acceptedAt = now;
                start(c.w, 2000);
              } else if (v.reason === 'allowance_exhausted') {
                expect(overAllowance(c.w, 2000), 'a tap-in refused allowance_exhausted within the allowance').toBe(true);
              } else if (v.reason === 'daily_limit') {
                expect(overDaily(c.w, 2000), 'a tap-in refused daily_limit within the daily total').toBe(true);
              }
              break;
            }
            case 'elsewhere': {
              // A token tapped in at another gate of the operator: this gate first sees it at its tap-out (or
              // shown as a tap-in here, its first tap-in here).
              const counter = ++riderCounters[c.w]!;
              const bytes = signToken(riders[c.w] as TestWallet, { payee: 300, amount: 2000, counter, time: now });
              signed[c.w] = signed[c.w]! + 2000;
              trips.push({ w: c.w, bytes, hash: toHex(tokenHash(bytes)), tappedOut: false });
              break;
            }
            case 'reTap': {
              const t = trips[c.i % Math.max(1, trips.length)];
              if (!t) break;
              const v = await g.accept(t.bytes, { tapIn: { maxFare: 2000, currency: HKD }, now });
              if (!v.accepted && v.reason === 'allowance_exhausted') expect(t.acceptedAt === undefined && overAllowance(t.w, 2000), 'a tap-in refused allowance_exhausted within the allowance').toBe(true);
              if (!v.accepted && v.reason === 'daily_limit') expect(t.acceptedAt === undefined && overDaily(t.w, 2000), 'a tap-in refused daily_limit within the daily total').toBe(true);
              if (v.accepted) {
                // A token whose trip ended here (tapped out here) never opens the gate here again.
                expect(t.tappedOut, 'a token tapped out here opened the gate again').toBe(false);
                if (t.acceptedAt === undefined) {
                  expect(v.status).toBe('accepted'); // its first tap-in here
                  t.acceptedAt = now;
                  start(t.w, 2000);
                } else {
                  // One tap-in opens the gate once, give or take a re-read within the resume window.
                  expect(v.status).toBe('resumed');
                  expect(now - t.acceptedAt).toBeGreaterThanOrEqual(0);
                  expect(now - t.acceptedAt).toBeLessThanOrEqual(g.profile.resumeWindowSeconds);
                }
              }
              break;
            }
            case 'tapOut': {
              const t = trips[c.i % Math.max(1, trips.length)];
              if (!t) break;
              const fare = Math.min(c.fare, 2000);
              const v = await g.tapOut(t.bytes, { fare, currency: HKD, now });
              if (v.accepted) {
                expect(t.tappedOut, 'a trip tapped out twice').toBe(false);
                t.tappedOut = true;
                // With no tap-in here, clearing may charge the token's whole amount for it (no tap-in may ever pair).
                if (t.acceptedAt === undefined) charged[t.w] = charged[t.w]! + 2000;
              } else {
                expect(v.reason, 'an exit is never refused for the daily total').not.toBe('daily_limit');
                if (v.reason === 'allowance_exhausted') {
                  expect(t.acceptedAt === undefined && overAllowance(t.w, 2000), 'a tap-out refused allowance_exhausted within the allowance').toBe(true);
                  expect(signed[t.w], 'an honest wallet (it signed within its allowance) refused at an exit').toBeGreaterThan(ALLOWANCE);
                }
              }
              break;
            }
          }
          // Totals: the journal's accepts minus its voids equal the model's pending and completed sales.
          let journal = 0;
          for (const e of r.entries()) journal += e.kind === 'accept' ? e.value : e.kind === 'void' ? -e.value : 0;
          const model = sales.filter((s) => s.state === 'pending' || s.state === 'completed').reduce((a, s) => a + s.amount, 0);
          expect(journal).toBe(model);
          expect(r.verifyJournal().ok).toBe(true);
          // I5 at the gate: within the allowance in all, and tap-ins within the daily total each day.
          for (const w of [0, 1]) expect(charged[w]!, 'one gate let clearing charge a rider past the allowance').toBeLessThanOrEqual(ALLOWANCE);
          for (const [k, v] of startedOn) expect(v, `a rider's tap-ins at one gate passed the daily total (${k})`).toBeLessThanOrEqual(DAILY);
        }
      }),
      { numRuns: 150, seed: 20261205 },
    );
  }, 120_000);
});
