/**
 * spec/protocol.md §9.1 "One request, one payment", across processes: a request paid before gets the token it
 * got, byte for byte, in whatever process asks (the `paid` list kept with the counter, §9.2 step 4, §9.4), and
 * nothing more is spent. Before, the memory was per Wallet object: `offpay pay --request` run twice (a retry
 * after a timeout) signed two tokens with two counters, and a reader holding both could deposit both.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeToken, MemoryCounterStore, OffpayError, Wallet, createRequest, type CounterState, type CounterStore } from '../../src/index.js';
import { PAID_REQUESTS_REMEMBERED } from '../../src/wallet.js';
import { FileCounterStore, createCounterFile, readCounterFile, restoreCounter, loadWallet } from '../../src/node/files.js';
import { MAX_COUNTER_FILE_BYTES, MAX_PAID_TOKEN_BYTES } from '../../src/node/counter.js';
import { fromHex, toHex } from '../../base/hex.js';
import { world } from './helpers.js';
import { cli, counterOf, walletDirs } from './wallet-dirs.js';

const NOW = 1_795_000_000;
const { tmp, walletDir } = walletDirs('paid');
const fresh = (dir: string) => loadWallet(dir, () => NOW); // a new process: nothing in memory
const challenge = (i: number) => fromHex((0x1000_0000_0000_0000n + BigInt(i)).toString(16));

describe('one request, one payment in any process (spec/protocol.md §9.1)', () => {
  it('a new Wallet object on the same directory answers a paid request with the same token and spends nothing', async () => {
    const dir = walletDir('objects');
    const { reader } = world('paid');
    const req = createRequest(reader, { amount: 1250, currency: 344, time: NOW }).bytes;
    const first = await fresh(dir).pay(req);
    expect(counterOf(dir)).toMatchObject({ counter: 1, spent: 1250 });
    const again = await fresh(dir).pay(req);
    expect(toHex(again)).toBe(toHex(first));
    expect(counterOf(dir)).toMatchObject({ counter: 1, spent: 1250 });
    // The list holds the request's fields and the token, as spec/protocol.md §9.4 writes them.
    const r = createRequest(reader, { amount: 1250, currency: 344, time: NOW }); // another challenge
    const second = await fresh(dir).pay(r.bytes);
    expect(decodeToken(second).counter).toBe(2);
    expect(counterOf(dir).paid).toEqual([
      expect.objectContaining({ payee: 4201, time: NOW, amount: 1250, token: toHex(first) }),
      { payee: 4201, challenge: toHex(r.request.challenge), time: NOW, amount: 1250, token: toHex(second) },
    ]);
    expect(readFileSync(join(dir, 'counter.json'), 'utf8')).toMatch(/^\{"counter":2,"spent":2500,"paid":\[\{"payee":4201,"challenge":"[0-9a-f]{16}","time":1795000000,"amount":1250,"token":"[0-9a-f]+"\}/);
    // A one-way payment keeps the list; a payment code is never remembered (§9.1).
    await fresh(dir).payTo({ payee: 4201, amount: 100 });
    const code = { payee: 4201, amount: 300, challenge: challenge(7) };
    const c1 = await fresh(dir).payCode(code);
    const c2 = await fresh(dir).payCode(code);
    expect(decodeToken(c2).counter).toBe(decodeToken(c1).counter + 1);
    expect(counterOf(dir)).toMatchObject({ counter: 5, spent: 2500 + 100 + 600 });
    expect(counterOf(dir).paid).toHaveLength(2);
  });

  it('`offpay pay --request` run twice gives the same token file, says so, and spends once', async () => {
    const d = tmp('cli');
    const dir = walletDir('cli-w');
    const { reader } = world('paid');
    const reqPath = join(d, 'req.cbor');
    writeFileSync(reqPath, createRequest(reader, { amount: 1250, currency: 344, time: NOW }).bytes);
    const run = (out: string) => cli('pay', '--wallet', dir, '--request', reqPath, '--out', join(d, out), '--now=2026-11-18T08:53:20Z', '--json');
    const a = await run('a.tok');
    expect(a.code, a.err).toBe(0);
    expect(JSON.parse(a.out)).toMatchObject({ ok: true, repeated: false, counter: 1 });
    const b = await cli('pay', '--wallet', dir, '--request', reqPath, '--out', join(d, 'b.tok'), '--now=2026-11-18T08:53:20Z');
    expect(b.code, b.err).toBe(0);
    expect(b.out).toContain('this request was paid before: the same token again');
    expect(b.out).toContain('nothing more spent');
    expect(readFileSync(join(d, 'b.tok'))).toEqual(readFileSync(join(d, 'a.tok')));
    expect(counterOf(dir)).toMatchObject({ counter: 1, spent: 1250 });
  });

  it('4 processes paying one request at once: one token, one counter, one amount spent', async () => {
    const dist = join(import.meta.dirname, '../../dist/src');
    expect(existsSync(join(dist, 'node/files.js')), 'run `npm run build` first: this test spawns the built library').toBe(true);
    const dir = walletDir('procs');
    const d = join(dir, '..');
    const { reader } = world('paid');
    writeFileSync(join(d, 'req.cbor'), createRequest(reader, { amount: 999, currency: 344, time: NOW }).bytes);
    const worker = `
      import { loadWallet } from ${JSON.stringify(join(dist, 'node/files.js'))};
      import { existsSync, readFileSync, writeFileSync } from 'node:fs';
      const [d, p] = process.argv.slice(1);
      const wallet = loadWallet(d + '/w', () => ${NOW});
      writeFileSync(d + '/ready-' + p, '');
      while (![0, 1, 2, 3].every((i) => existsSync(d + '/ready-' + i))) await new Promise((r) => setTimeout(r, 2));
      writeFileSync(d + '/tok-' + p, await wallet.pay(new Uint8Array(readFileSync(d + '/req.cbor'))));
    `;
    const codes = await Promise.all(
      [0, 1, 2, 3].map(
        (p) =>
          new Promise<number>((res) => {
            const c = spawn(process.execPath, ['--input-type=module', '-e', worker, d, String(p)], { stdio: ['ignore', 'ignore', 'inherit'] });
            c.on('exit', (code) => res(code ?? -1));
          }),
      ),
    );
    expect(codes).toEqual([0, 0, 0, 0]);
    const tokens = readdirSync(d).filter((f) => f.startsWith('tok-')).map((f) => toHex(readFileSync(join(d, f))));
    expect(tokens).toHaveLength(4);
    expect(new Set(tokens).size).toBe(1);
    expect(counterOf(dir)).toMatchObject({ counter: 1, spent: 999 });
  }, 60_000);

  it('model: payments, repeats, codes, one-way payments and restarts on one counter file, against a model of the list', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('new' as const), amount: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ kind: fc.constant('repeat' as const), back: fc.nat({ max: 24 }) }),
      fc.record({ kind: fc.constant('code' as const), amount: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ kind: fc.constant('oneway' as const), amount: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ kind: fc.constant('restart' as const), memory: fc.boolean() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const { wallet } = world('paid');
        const path = join(tmp('model'), 'counter.json');
        await createCounterFile(path);
        // `memory: false` restarts with a store that keeps only counter and spent (a custom CounterStore): the object's
        // memory is then all there is, and a new object has none.
        const file = new FileCounterStore(path);
        const forgetful: CounterStore = {
          load: () => file.load(),
          reserve: (step) => file.reserve((s) => {
            const n = step({ counter: s.counter, spent: s.spent });
            return { counter: n.counter, spent: n.spent, ...(s.paid ? { paid: s.paid } : {}) };
          }),
        };
        const open = (keeps: boolean) => new Wallet({ secretKey: wallet.secretKey, cert: wallet.cert, counter: keeps ? file : forgetful, clock: () => NOW });
        let w = open(true);
        let keeps = true;
        // The model: every request paid (its token), the stored list (last 16 paid with a keeping store), the
        // object's memory (last 16 paid by this object), counter and spent.
        // A request may be paid again with a new token once forgotten (by the object, with a store that keeps
        // nothing): the list and the memory each hold the token THEY remember, not the request's latest.
        const requests: Array<{ payee: number; challenge: Uint8Array; amount: number }> = [];
        type Held = { i: number; token: Uint8Array };
        let stored: Held[] = [];
        let memory: Held[] = [];
        let counter = 0;
        let spent = 0;
        const remember = (list: Held[], h: Held) => [...list, h].slice(-PAID_REQUESTS_REMEMBERED);
        for (const o of ops) {
          if (o.kind === 'restart') {
            keeps = o.memory;
            w = open(keeps);
            memory = [];
          } else if (o.kind === 'oneway' || o.kind === 'code') {
            const t = o.kind === 'code' ? await w.payCode({ payee: 4201, amount: o.amount, challenge: challenge(1) }) : await w.payTo({ payee: 4201, amount: o.amount });
            expect(decodeToken(t).counter).toBe(++counter);
            spent += o.amount;
          } else {
            const i = o.kind === 'new' ? requests.length : requests.length - 1 - o.back;
            if (i < 0) continue;
            if (i === requests.length) requests.push({ payee: 4201, challenge: challenge(1000 + i), amount: (o as { amount: number }).amount });
            const r = requests[i]!;
            const t = await w.payTo({ payee: r.payee, amount: r.amount, challenge: r.challenge, time: NOW });
            // The object's memory first, then (a keeping store) the list read under the lock.
            const held = memory.find((h) => h.i === i) ?? (keeps ? stored.find((h) => h.i === i) : undefined);
            if (held) {
              expect(toHex(t)).toBe(toHex(held.token)); // the same token, nothing spent
              if (!memory.some((h) => h.i === i)) memory = remember(memory, { i, token: t });
            } else {
              expect(decodeToken(t).counter).toBe(++counter);
              spent += r.amount;
              if (keeps) stored = remember(stored, { i, token: t });
              memory = remember(memory, { i, token: t });
            }
          }
          const s = await readCounterFile(path);
          expect([s.counter, s.spent]).toEqual([counter, spent]);
          expect((s.paid ?? []).map((p) => toHex(p.token))).toEqual(stored.map((h) => toHex(h.token)));
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);

  it('a refused payment is not remembered, and the request is paid once the refusal no longer holds', async () => {
    const { wallet, reader } = world('paid');
    const store = new MemoryCounterStore({ counter: 5, spent: 99_000 });
    const w = new Wallet({ secretKey: wallet.secretKey, cert: wallet.cert, counter: store, clock: () => NOW });
    const req = createRequest(reader, { amount: 2_000, currency: 344, time: NOW }).bytes;
    await expect(w.pay(req)).rejects.toMatchObject({ code: 'wallet.over_offline_allowance' });
    expect(await store.load()).toEqual({ counter: 5, spent: 99_000 });
    // Once the allowance allows it (here a store whose spent total is lower), the same request is paid once.
    const s2 = new MemoryCounterStore({ counter: 5, spent: 0 });
    const w2 = new Wallet({ secretKey: wallet.secretKey, cert: wallet.cert, counter: s2, clock: () => NOW });
    const t = await w2.pay(req);
    expect(await w2.pay(req)).toEqual(t);
    expect(await s2.load()).toMatchObject({ counter: 6, spent: 2_000 });
  });
});

describe('the paid list in counter.json (spec/protocol.md §9.4)', () => {
  const good = (over: Record<string, unknown> = {}) => ({ payee: 4201, challenge: '00112233445566ff', time: NOW, amount: 100, token: 'a1b2', ...over });
  it('a file without `paid` (every wallet before this version) reads and pays as before', async () => {
    const dir = walletDir('old');
    writeFileSync(join(dir, 'counter.json'), '{"counter":7,"spent":700}\n');
    expect(decodeToken(await fresh(dir).payTo({ payee: 4201, amount: 1 })).counter).toBe(8);
    expect(readFileSync(join(dir, 'counter.json'), 'utf8')).toBe('{"counter":8,"spent":701}\n');
  });

  it('a `paid` that is not a list of 16 well-formed requests is wallet.counter_corrupt, and pay refuses, writing nothing', async () => {
    const bad: unknown[] = [
      {},
      [1],
      Array.from({ length: PAID_REQUESTS_REMEMBERED + 1 }, () => good()),
      [good({ payee: -1 })],
      [good({ payee: 2 ** 32 })],
      [good({ challenge: '00112233445566' })],
      [good({ challenge: '00112233445566FF' })],
      [good({ time: 0 })],
      [good({ time: 1.5 })],
      [good({ amount: 0 })],
      [good({ amount: 2 ** 32 })],
      [good({ token: '' })],
      [good({ token: 'abc' })],
      [good({ token: 'zz' })],
      [good({ token: 'ab'.repeat(MAX_PAID_TOKEN_BYTES + 1) })],
      [good({ extra: 1 })],
      [{ payee: 4201, challenge: '00112233445566ff', time: NOW, amount: 100 }],
    ];
    for (const paid of bad) {
      const dir = walletDir('corrupt');
      const text = JSON.stringify({ counter: 3, spent: 300, paid });
      writeFileSync(join(dir, 'counter.json'), text);
      const e = await fresh(dir).payTo({ payee: 4201, amount: 1 }).catch((x: unknown) => x);
      expect((e as OffpayError).code, JSON.stringify(paid).slice(0, 80)).toBe('wallet.counter_corrupt');
      expect(readFileSync(join(dir, 'counter.json'), 'utf8')).toBe(text);
    }
    // The limits themselves are accepted: 16 items, a 256-byte token, time 2^53 - 1, payee 2^32 - 1.
    const dir = walletDir('edges');
    const edges = [good({ token: 'ab'.repeat(MAX_PAID_TOKEN_BYTES), time: 2 ** 53 - 1, payee: 2 ** 32 - 1, amount: 2 ** 32 - 1 }), ...Array.from({ length: 15 }, () => good())];
    writeFileSync(join(dir, 'counter.json'), JSON.stringify({ paid: edges, spent: 300, counter: 3 }, null, 2));
    expect(decodeToken(await fresh(dir).payTo({ payee: 4201, amount: 1 })).counter).toBe(4);
    expect(counterOf(dir).paid).toHaveLength(16);
  });

  it('a full list stays under the file bound; a file over it is refused unread', async () => {
    const dir = walletDir('full');
    const w = fresh(dir);
    const { reader } = world('paid');
    for (let i = 0; i < PAID_REQUESTS_REMEMBERED + 2; i++) await w.pay(createRequest(reader, { amount: 1, currency: 344, time: NOW }).bytes);
    const size = readFileSync(join(dir, 'counter.json')).length;
    expect(counterOf(dir).paid).toHaveLength(PAID_REQUESTS_REMEMBERED);
    expect(size).toBeLessThan(MAX_COUNTER_FILE_BYTES / 2);
    writeFileSync(join(dir, 'counter.json'), `{"counter":1,"spent":1}${' '.repeat(MAX_COUNTER_FILE_BYTES)}`);
    await expect(fresh(dir).payTo({ payee: 4201, amount: 1 })).rejects.toMatchObject({ code: 'wallet.counter_corrupt' });
  });

  it('restore-counter keeps the list of a readable counter.json (its requests still get their tokens), and writes none otherwise', async () => {
    const dir = walletDir('restore');
    const { reader } = world('paid');
    const req = createRequest(reader, { amount: 40, currency: 344, time: NOW }).bytes;
    const t = await fresh(dir).pay(req);
    await restoreCounter(join(dir, 'counter.json'), { counter: 10, spent: 500 });
    expect(await fresh(dir).pay(req)).toEqual(t);
    expect(counterOf(dir)).toMatchObject({ counter: 10, spent: 500 });
    writeFileSync(join(dir, 'counter.json'), 'damaged');
    await restoreCounter(join(dir, 'counter.json'), { counter: 20, spent: 500 });
    expect(counterOf(dir)).toEqual({ counter: 20, spent: 500 });
    expect(decodeToken(await fresh(dir).pay(req)).counter).toBe(21); // forgotten: a new token (the damage lost it)
  });

  it('a store that keeps only counter and spent still answers from the object memory', async () => {
    const { wallet, reader } = world('paid');
    let state: CounterState = { counter: 0, spent: 0 };
    const plain: CounterStore = {
      load: async () => ({ ...state }),
      reserve: async (step) => {
        const n = step({ ...state });
        state = { counter: n.counter, spent: n.spent };
        return state;
      },
    };
    const w = new Wallet({ secretKey: wallet.secretKey, cert: wallet.cert, counter: plain, clock: () => NOW });
    const req = createRequest(reader, { amount: 10, currency: 344, time: NOW }).bytes;
    const t = await w.pay(req);
    expect(await w.pay(req)).toEqual(t);
    expect(state).toEqual({ counter: 1, spent: 10 });
  });
});
