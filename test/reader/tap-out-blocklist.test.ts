/**
 * A blocklisted wallet at the exit (spec/reader.md §7.2 step 3c, invariant I6). Found by a transit attack review: a
 * wallet on the gate's blocklist passed the exit, and the gate recorded a charge against a wallet clearing had
 * already blocked.
 */
import { describe, expect, it } from 'vitest';
import { walletIdOf } from '../../src/index.js';
import { createBlocklist } from '../../src/reader/index.js';
import { HKD, NOW, makeIssuer, makeWallet, openTestReader, signToken } from './helpers.js';

const issuer = makeIssuer('tap-out-blocklist');
const OP = 300;
const listOf = (version: number, issuedAt: number, walletIds: Uint8Array[]) => createBlocklist(issuer.keys[0]!, { issuerId: 7, version, issuedAt, walletIds }).bytes;

const gate = (id: number, list: Uint8Array) => openTestReader(issuer, 'tap-out-blocklist', id, { list });

describe('a blocklisted wallet at the exit gate', () => {
  const blocked = makeWallet(issuer, 'tap-out-blocklist', 'blocked');
  const honest = makeWallet(issuer, 'tap-out-blocklist', 'honest');
  const bad = walletIdOf(blocked.cert.walletPublicKey);

  it('tapped in before it was blocked, or never: refused blocklisted (38), nothing recorded; another wallet passes', async () => {
    const a = gate(701, listOf(1, NOW, []));
    const b = gate(702, listOf(2, NOW, [bad]));
    const trip = signToken(blocked, { payee: OP, amount: 3500, counter: 1, time: NOW });
    expect((await a.accept(trip, { tapIn: { maxFare: 3500, currency: HKD }, now: NOW })).accepted).toBe(true);
    expect(await b.tapOut(trip, { fare: 400, currency: HKD, now: NOW + 900 })).toMatchObject({ accepted: false, reason: 'blocklisted', code: 38 });
    const only = signToken(blocked, { payee: OP, amount: 3500, counter: 2, time: NOW + 800 });
    expect(await b.tapOut(only, { fare: 3500, currency: HKD, now: NOW + 900 })).toMatchObject({ accepted: false, reason: 'blocklisted' });
    expect(b.entries()).toEqual([]);
    const ok = signToken(honest, { payee: OP, amount: 3500, counter: 1, time: NOW + 800 });
    expect(await b.tapOut(ok, { fare: 400, currency: HKD, now: NOW + 900 })).toMatchObject({ accepted: true, status: 'tapped_out' });
  });

  it('a round trip at one gate whose list blocked the wallet after its tap-in; and a stale list still blocks', async () => {
    const g = gate(703, listOf(1, NOW, []));
    const trip = signToken(blocked, { payee: OP, amount: 3500, counter: 1, time: NOW });
    expect((await g.accept(trip, { tapIn: { maxFare: 3500, currency: HKD }, now: NOW })).accepted).toBe(true);
    g.loadBlocklist(listOf(2, NOW, [bad]), NOW);
    // Two days later the list is stale (blocklistMaxAgeSeconds one day): it still blocks what it lists.
    const late = signToken(blocked, { payee: OP, amount: 3500, counter: 3, time: NOW + 2 * 86_400 });
    expect(await g.tapOut(trip, { fare: 400, currency: HKD, now: NOW + 600 })).toMatchObject({ accepted: false, reason: 'blocklisted' });
    expect(await g.tapOut(late, { fare: 400, currency: HKD, now: NOW + 2 * 86_400 })).toMatchObject({ accepted: false, reason: 'blocklisted' });
    expect(g.entries().map((e) => e.kind)).toEqual(['tap_in']);
  });
});
