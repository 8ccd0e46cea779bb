/**
 * Review of the wallet's "one request, one payment" across processes (spec/protocol.md §9.1, §9.2 steps 4-5,
 * §9.4): crafted counter.json lists, requests that look like payment codes, the CLI's `repeated`, restarts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRequest, decodeToken, MemoryCounterStore, tokenHash, toHex, Wallet, type CounterState } from '../../src/index.js';
import { loadWallet } from '../../src/node/files.js';
import { world } from './helpers.js';
import { cli, counterOf, walletDirs } from './wallet-dirs.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet } from '../reader/helpers.js';

const { tmp, walletDir } = walletDirs('zzpaid');

describe('wallet review: a request that is not a payment code but signs time 0', () => {
  it('a signed request with time 0 is refused before anything is spent (wallet.bad_option, time): its token would look like a payment code\'s, which neither the wallet\'s memory nor clearing\'s M9 compares, so a reader could have it paid twice', async () => {
    const issuer = makeIssuer('zz-wallet-t0');
    const R = makeReader(issuer, 'zz-wallet-t0', 47, 'vending', 90);
    const w = makeWallet(issuer, 'zz-wallet-t0', 'victim');
    const store = new MemoryCounterStore();
    const wallet = new Wallet({ secretKey: w.secretKey, cert: w.cert, counter: store, clock: () => NOW });
    const challenge = new Uint8Array([0xab, 0xcd, 0xef, 1, 2, 3, 4, 5]);
    // A hostile reader signs an ordinary (binary) request with time 0 and re-shows it (re-selects the card).
    const req = createRequest(R, { amount: 1250, currency: HKD, time: 0, challenge }).bytes;
    for (let i = 0; i < 2; i++) await expect(wallet.pay(req)).rejects.toMatchObject({ code: 'wallet.bad_option', detail: { option: 'time' } });
    expect(await store.load()).toEqual({ counter: 0, spent: 0 });
    // A payment code (payCode) still signs time 0: that is its rule (spec/protocol.md §4.3, rule P).
    expect(decodeToken(await wallet.payCode({ payee: 47, amount: 1250, challenge: new Uint8Array([0, 0, 0, 0, 0, 0x0c, 0x0d, 0x0e]) })).counter).toBe(1);
  });
});

describe('wallet review: the paid list of counter.json', () => {
  it('a crafted `paid` item whose token answers another request: wallet.counter_corrupt, nothing emitted (the remembered token is checked: this wallet\'s key, this request\'s body)', async () => {
    const dir = walletDir('crafted');
    const { reader } = world('zzpaid');
    const req = createRequest(reader, { amount: 1250, currency: 344, time: NOW, challenge: new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]) });
    // A token this wallet really signed, for ANOTHER request of the same reader (another challenge, amount 1).
    const other = await loadWallet(dir, () => NOW).pay(createRequest(reader, { amount: 1, currency: 344, time: NOW, challenge: new Uint8Array(8).fill(1) }).bytes);
    const text = JSON.stringify({ counter: 1, spent: 1, paid: [{ payee: 4201, challenge: '0908070605040302', time: NOW, amount: 1250, token: toHex(other) }] });
    writeFileSync(join(dir, 'counter.json'), text);
    await expect(loadWallet(dir, () => NOW).pay(req.bytes)).rejects.toMatchObject({ code: 'wallet.counter_corrupt' });
    expect(readFileSync(join(dir, 'counter.json'), 'utf8')).toBe(text); // nothing written, nothing spent
  });

  it('`offpay pay --request` twice AT ONCE (a retry while the first still runs): exactly one of the two says it spent (repeated false)', async () => {
    const d = tmp('cli-race');
    const dir = walletDir('cli-race-w');
    const { reader } = world('zzpaid');
    const reqPath = join(d, 'req.cbor');
    writeFileSync(reqPath, createRequest(reader, { amount: 1250, currency: 344, time: NOW }).bytes);
    const run = (out: string) => cli('pay', '--wallet', dir, '--request', reqPath, '--out', join(d, out), '--now=2026-11-18T08:53:20Z', '--json');
    const [a, b] = await Promise.all([run('a.tok'), run('b.tok')]);
    expect([a.code, b.code], a.err + b.err).toEqual([0, 0]);
    const ja = JSON.parse(a.out) as { repeated: boolean; counter: number; token: string };
    const jb = JSON.parse(b.out) as { repeated: boolean; counter: number; token: string };
    expect(ja.token).toBe(jb.token);
    expect(counterOf(dir)).toMatchObject({ counter: 1, spent: 1250 });
    expect([ja.repeated, jb.repeated].sort(), 'both runs report a new payment of 12.50 (repeated false), though one spent nothing').toEqual([false, true]);
  });

  it('restart, restore-counter upwards, then the same request: same token, nothing spent; then 16 other requests push it out (a new token, as specified)', async () => {
    const dir = walletDir('window');
    const { reader } = world('zzpaid');
    const req = createRequest(reader, { amount: 40, currency: 344, time: NOW }).bytes;
    const t = await loadWallet(dir, () => NOW).pay(req);
    expect(await cli('wallet', 'restore-counter', '--wallet', dir, '--counter', '50', '--spent', '5.00')).toMatchObject({ code: 0 });
    expect(toHex(await loadWallet(dir, () => NOW).pay(req))).toBe(toHex(t));
    expect(counterOf(dir)).toMatchObject({ counter: 50, spent: 500 });
    const w = loadWallet(dir, () => NOW);
    for (let i = 0; i < 16; i++) await w.pay(createRequest(reader, { amount: 1, currency: 344, time: NOW }).bytes);
    expect(counterOf(dir).paid).toHaveLength(16);
    expect(decodeToken(await loadWallet(dir, () => NOW).pay(req)).counter).toBe(67);
    // The old object's memory (a process that kept running) still answers with the first token.
    expect(toHex(tokenHash(await w.pay(createRequest(reader, { amount: 1, currency: 344, time: NOW, challenge: new Uint8Array(8).fill(3) }).bytes)))).toHaveLength(64);
  });

  it('a payment code paid twice gets two tokens and the list is untouched; a one-way payment keeps the list', async () => {
    const dir = walletDir('codes');
    const { reader } = world('zzpaid');
    const req = createRequest(reader, { amount: 40, currency: 344, time: NOW }).bytes;
    await loadWallet(dir, () => NOW).pay(req);
    const before = readFileSync(join(dir, 'counter.json'), 'utf8');
    const code = { payee: 4201, amount: 40, challenge: new Uint8Array([0, 0, 0, 0, 0, 1, 2, 3]) };
    const k1 = await loadWallet(dir, () => NOW).payCode(code);
    const k2 = await loadWallet(dir, () => NOW).payCode(code);
    expect(toHex(k1)).not.toBe(toHex(k2));
    await loadWallet(dir, () => NOW).payTo({ payee: 4201, amount: 5 });
    expect(counterOf(dir).paid).toEqual(JSON.parse(before).paid);
    expect(counterOf(dir)).toMatchObject({ counter: 4, spent: 125 });
  });
});

describe('wallet review: nothing leaves before the durable write', () => {
  it('a store whose write fails after the step ran: pay rejects, the object does not remember the token, and the next try signs under the store again', async () => {
    const { wallet: base, reader } = world('zzpaid');
    let fail = true;
    let state = { counter: 0, spent: 0 } as CounterState;
    const seen: number[] = [];
    const store = {
      load: async () => ({ ...state }),
      reserve: async (step: (s: CounterState) => CounterState) => {
        const next = step({ ...state });
        seen.push(next.counter);
        if (fail) throw new Error('EIO: write failed');
        state = next;
        return next;
      },
    };
    const w = new Wallet({ secretKey: base.secretKey, cert: base.cert, counter: store, clock: () => NOW });
    const req = createRequest(reader, { amount: 10, currency: 344, time: NOW }).bytes;
    await expect(w.pay(req)).rejects.toThrow('EIO');
    fail = false;
    const t = await w.pay(req);
    expect(seen).toEqual([1, 1]); // the failed write burned nothing; the second try reserved under the store
    expect(decodeToken(t).counter).toBe(1);
    expect(state.paid).toHaveLength(1);
  });
});
