/**
 * The exit (message 11, spec/protocol.md §4.6, §4.7) and a gate that requires one (profile `requireExit`,
 * spec/reader.md §7.2 step 0 and 1b): the fix of §7.3 point 1, "a recording is an exit pass". Someone who heard or
 * photographed a rider's tap-in left by another gate with it, and clearing charged the rider the higher fare.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../../src/cbor.js';
import { sign } from '../../src/crypto.js';
import { createExit, decodeExit, encodeExit, exitSigningInput, verifyExit } from '../../src/exit.js';
import { MemoryCounterStore, tokenHash, toHex, Wallet } from '../../src/index.js';
import { Clearing } from '../../src/clearing/index.js';
import type { Reader } from '../../src/reader/index.js';
import { codeOf, HKD, NOW, makeIssuer, makeWallet, openTestReader, signToken } from './helpers.js';

const issuer = makeIssuer('exit');
const OP = 300;
const strict = (id: number): Reader => openTestReader(issuer, 'exit', id, { options: { profile: { requireExit: true } } });
const lax = (id: number): Reader => openTestReader(issuer, 'exit', id);
const tapInAt = async (g: Reader, token: Uint8Array, now = NOW) => g.accept(token, { tapIn: { maxFare: 3500, currency: HKD }, now });

describe('exit: a tap-out signed afresh by the wallet (spec/reader.md §7.2, §7.3 point 1)', () => {
  it('at a gate that requires exits, a recording of the tap-in does not leave (exit_required); the rider\'s exit does, and clearing charges her fare', async () => {
    const [entry, exitGate, other] = [strict(901), strict(902), strict(903)];
    const w = makeWallet(issuer, 'exit', 'rider');
    const trip = signToken(w, { payee: OP, amount: 3500, counter: 1, time: NOW });
    expect((await tapInAt(entry, trip)).accepted).toBe(true);
    // the listener plays the recorded tap-in at another gate
    const stolen = await other.tapOut(trip, { fare: 650, currency: HKD, now: NOW + 600 });
    expect(stolen).toMatchObject({ accepted: false, reason: 'exit_required', code: 53 });
    // the rider signs her exit at the gate
    const exit = w.wallet.exit(trip, { time: NOW + 900 });
    const out = await exitGate.tapOut(exit, { fare: 300, currency: HKD, now: NOW + 910 });
    expect(out).toMatchObject({ accepted: true, status: 'tapped_out', amount: 300 });
    expect(toHex(out.tokenHash)).toBe(toHex(tokenHash(trip))); // the trip's key is the tap-in's hash
    // the journal holds the tap-in token, as for a token shown again: the batch and clearing are unchanged
    const batches = [entry, exitGate, other].flatMap((g) => g.export(NOW + 1000).batches);
    expect(batches[1]!.batch.entries.map((e) => toHex(e.data))).toEqual([toHex(trip)]);
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 5000 });
    for (const b of batches) expect((await c.ingest(b.bytes)).outcome).toBe('ingested');
    const rep = await c.report();
    expect(rep.settlement).toEqual([expect.objectContaining({ count: 1, gross: 300n })]);
    expect(rep.multipleTapOuts).toEqual([]);
  });

  it('a gate that does not require exits takes both forms (the default in this version)', async () => {
    const w = makeWallet(issuer, 'exit', 'both');
    const t1 = signToken(w, { payee: OP, amount: 3500, counter: 1, time: NOW });
    const t2 = signToken(w, { payee: OP, amount: 3500, counter: 2, time: NOW });
    const g = lax(911);
    expect((await g.tapOut(t1, { fare: 300, currency: HKD, now: NOW + 60 })).reason).toBe('ok');
    expect((await g.tapOut(w.wallet.exit(t2, { time: NOW + 60 }), { fare: 300, currency: HKD, now: NOW + 60 })).reason).toBe('ok');
  });

  it('the exit\'s own checks, in order: signature by the tap-in certificate\'s key, then its time (both ends inclusive)', async () => {
    const w = makeWallet(issuer, 'exit', 'checks');
    const thief = makeWallet(issuer, 'exit', 'thief');
    const reasons: string[] = [];
    for (const [i, make, at] of [
      [1, (t: Uint8Array) => encodeExit({ tapIn: t, time: NOW, walletSignature: sign(exitSigningInput({ tapIn: t, time: NOW }), thief.secretKey) }), NOW],
      [2, (t: Uint8Array) => w.wallet.exit(t, { time: NOW - 121 }), NOW],
      [3, (t: Uint8Array) => w.wallet.exit(t, { time: NOW - 120 }), NOW],
      [4, (t: Uint8Array) => w.wallet.exit(t, { time: NOW + 60 }), NOW],
      [5, (t: Uint8Array) => w.wallet.exit(t, { time: NOW + 61 }), NOW],
      // a bad signature on a stale exit: the signature decides
      [6, (t: Uint8Array) => encodeExit({ tapIn: t, time: NOW - 999, walletSignature: new Uint8Array(64) }), NOW],
    ] as const) {
      const t = signToken(w, { payee: OP, amount: 3500, counter: i, time: NOW - 30 });
      reasons.push((await strict(920 + i).tapOut(make(t), { fare: 300, currency: HKD, now: at })).reason);
    }
    expect(reasons).toEqual(['bad_exit_signature', 'exit_too_old', 'ok', 'ok', 'exit_in_future', 'bad_exit_signature']);
  });

  it('the tap-in inside is judged before the exit (its own reason), and a malformed exit is the message\'s reason', async () => {
    const w = makeWallet(issuer, 'exit', 'inner');
    const g = strict(931);
    const t = signToken(w, { payee: OP, amount: 3500, counter: 1, time: NOW });
    const bad = new Uint8Array(t);
    bad[bad.length - 1]! ^= 1; // the tap-in's own signature broken
    const e = encodeExit({ tapIn: bad, time: NOW, walletSignature: sign(exitSigningInput({ tapIn: bad, time: NOW }), w.secretKey) });
    expect((await g.tapOut(e, { fare: 300, currency: HKD, now: NOW })).reason).toBe('bad_token_signature');
    const good = w.wallet.exit(t, { time: NOW });
    expect((await g.tapOut(good.subarray(0, good.length - 1), { fare: 300, currency: HKD, now: NOW })).reason).toBe('malformed');
    const v3 = encodeCbor([11, 3, t, NOW, new Uint8Array(64)]);
    expect((await g.tapOut(v3, { fare: 300, currency: HKD, now: NOW })).reason).toBe('unsupported_version');
    const short = encodeCbor([11, 2, t, NOW, new Uint8Array(63)]);
    expect((await g.tapOut(short, { fare: 300, currency: HKD, now: NOW })).reason).toBe('bad_structure');
    // nothing was recorded for any of them: the rider's real exit still goes through
    expect((await g.tapOut(good, { fare: 300, currency: HKD, now: NOW })).reason).toBe('ok');
  });

  it('the clock skew a gate takes at the tap-in, it takes at the exit: a wallet 90 s slow leaves by its own exit (exit attack review)', async () => {
    const entry = strict(961);
    const exitGate = strict(962);
    const base = makeWallet(issuer, 'exit', 'slow');
    let walletNow = NOW - 90; // the phone is 90 s behind the gates
    const wallet = new Wallet({ secretKey: base.secretKey, cert: base.cert, counter: new MemoryCounterStore(), clock: () => walletNow });
    const tapIn = await wallet.payTo({ payee: OP, amount: 3500 });
    expect(await tapInAt(entry, tapIn)).toMatchObject({ accepted: true }); // the gate takes her slow clock at entry
    walletNow = NOW + 600 - 90; // ten minutes later, at the exit gate, she signs her exit there and then
    expect(await exitGate.tapOut(wallet.exit(tapIn), { fare: 650, currency: HKD, now: NOW + 600 })).toMatchObject({ accepted: true, status: 'tapped_out' });
  });

  it('an exit shown again: refused at the same gate (already_tapped_out); at another gate only within exitMaxAgeSeconds (a stated limit)', async () => {
    const w = makeWallet(issuer, 'exit', 'replay');
    const t = signToken(w, { payee: OP, amount: 3500, counter: 1, time: NOW });
    const e = w.wallet.exit(t, { time: NOW });
    const [a, b, c] = [strict(941), strict(942), strict(943)];
    expect((await a.tapOut(e, { fare: 300, currency: HKD, now: NOW })).reason).toBe('ok');
    expect((await a.tapOut(e, { fare: 300, currency: HKD, now: NOW + 5 })).reason).toBe('already_tapped_out');
    expect((await b.tapOut(e, { fare: 650, currency: HKD, now: NOW + 30 })).reason).toBe('ok');
    expect((await c.tapOut(e, { fare: 650, currency: HKD, now: NOW + 121 })).reason).toBe('exit_too_old');
  });

  it('Wallet.exit signs only its own one-way token and spends nothing', async () => {
    const w = makeWallet(issuer, 'exit', 'own');
    const other = makeWallet(issuer, 'exit', 'other');
    const t = await w.wallet.payTo({ payee: OP, amount: 3500 });
    const before = await w.wallet.store.load();
    const e = decodeExit(w.wallet.exit(t));
    expect(toHex(e.tapIn)).toBe(toHex(t));
    expect(e.time).toBe(NOW);
    expect(await w.wallet.store.load()).toEqual(before);
    expect(codeOf(() => other.wallet.exit(t))).toBe('wallet.key_mismatch');
    const bound = signToken(w, { payee: 4201, amount: 100, counter: 9, challenge: new Uint8Array(8) });
    expect(codeOf(() => w.wallet.exit(bound))).toBe('wallet.bad_option');
    expect(codeOf(() => w.wallet.exit(t, { time: 1.5 }))).toBe('wallet.bad_option');
    expect(codeOf(() => w.wallet.exit(new Uint8Array([1, 2, 3])))).toBe('wallet.bad_option');
    expect(codeOf(() => createExit(w.secretKey, t, -1))).toBe('wallet.bad_option');
  });

  it('verifyExit gives the same verdicts statelessly', () => {
    const w = makeWallet(issuer, 'exit', 'stateless');
    const t = signToken(w, { payee: OP, amount: 3500, counter: 1, time: NOW });
    const ctx = { issuerKeys: issuer.keySet(), now: NOW + 100, payees: [OP], maxAgeSeconds: 14_400, maxFutureSeconds: 60, validAt: 'signed' as const, exitMaxAgeSeconds: 60 };
    expect(verifyExit(w.wallet.exit(t, { time: NOW + 100 }), ctx)).toMatchObject({ accepted: true });
    expect(verifyExit(w.wallet.exit(t, { time: NOW }), ctx)).toMatchObject({ accepted: false, reason: 'exit_too_old', code: 25 });
    expect(verifyExit(t, ctx)).toMatchObject({ accepted: false, reason: 'wrong_type' });
  });

  it('requireExit and exitMaxAgeSeconds are validated profile fields', () => {
    expect(codeOf(() => openTestReader(issuer, 'exit', 951, { options: { profile: { requireExit: 'yes' as unknown as boolean } } }))).toBe('reader.bad_config');
    expect(codeOf(() => openTestReader(issuer, 'exit', 952, { options: { profile: { exitMaxAgeSeconds: 0 } } }))).toBe('reader.bad_config');
    // shorter than the one-way window: a wallet 90 s slow would tap in and never get out (exit attack review)
    expect(codeOf(() => openTestReader(issuer, 'exit', 953, { options: { profile: { exitMaxAgeSeconds: 119 } } }))).toBe('reader.bad_config');
    expect(codeOf(() => openTestReader(issuer, 'exit', 954, { options: { profile: { exitMaxAgeSeconds: 60, oneWayMaxAgeSeconds: 60 } } }))).toBe('ok');
  });
});

describe('offpay exit and reader tap-out (CLI)', () => {
  const cli = join(import.meta.dirname, '../../dist/src/cli/main.js');
  it.skipIf(!existsSync(cli))('a gate with requireExit: the tap-in token is refused, the exit signed by offpay exit is recorded; inspect shows the trip', () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-exit-cli-'));
    const run = (...a: string[]) => spawnSync(process.execPath, [cli, ...a], { cwd: d, encoding: 'utf8', timeout: 60_000 });
    const ok = (...a: string[]) => {
      const r = run(...a);
      expect(r.status, `${a.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
      return r.stdout;
    };
    ok('issuer', 'init', '--dir', 'iss');
    ok('wallet', 'new', '--issuer', 'iss', '--out', 'w');
    ok('reader', 'new', '--issuer', 'iss', '--id', '5001', '--operator', '300', '--profile', 'transit', '--out', 'g');
    ok('reader', 'init', '--reader', 'g', '--db', 'g.db', '--issuer', 'iss');
    writeFileSync(join(d, 'g', 'policy.json'), JSON.stringify({ profile: { requireExit: true } }));
    ok('pay', '--wallet', 'w', '--payee', '300', '--amount', '20', '--currency', 'HKD', '--out', 'in.cbor');
    const refused = run('reader', 'tap-out', '--reader', 'g', '--db', 'g.db', 'in.cbor', '--fare', '4.50', '--json');
    expect(refused.status).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ accepted: false, reason: 'exit_required', code: 53 });
    const signed = JSON.parse(ok('exit', '--wallet', 'w', '--token', 'in.cbor', '--out', 'out.cbor', '--json')) as { tripTokenHash: string; bytes: number };
    expect(signed.bytes).toBeGreaterThan(250);
    const taken = JSON.parse(ok('reader', 'tap-out', '--reader', 'g', '--db', 'g.db', 'out.cbor', '--fare', '4.50', '--json')) as { status: string; tokenHash: string };
    expect(taken).toMatchObject({ status: 'tapped_out', tokenHash: signed.tripTokenHash });
    const shown = JSON.parse(ok('inspect', 'out.cbor', '--json')) as { type: string; tripTokenHash: string; tapIn: { tokenHash: string } };
    expect(shown).toMatchObject({ type: 'Exit', tripTokenHash: signed.tripTokenHash, tapIn: { tokenHash: signed.tripTokenHash } });
    // another wallet cannot sign this trip's exit
    ok('wallet', 'new', '--issuer', 'iss', '--out', 'w2', '--seed', 'other');
    const foreign = run('exit', '--wallet', 'w2', '--token', 'in.cbor', '--out', 'x.cbor', '--json');
    expect(foreign.status).toBe(2);
    expect(JSON.parse(foreign.stdout)).toMatchObject({ ok: false, error: 'wallet.key_mismatch' });
  });
});
