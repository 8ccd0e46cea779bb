/**
 * The ReaderStore behaviour suite (store-suite.ts) on the Node stores: MemoryReaderStore and the durable
 * SqliteReaderStore (with reopen). The same suite runs on IndexedDbReaderStore in Chromium
 * (test/browser/indexeddb.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryReaderStore, type ReaderStore } from '../../src/reader/index.js';
import { SqliteReaderStore } from '../../src/reader/sqlite.js';
import { storeBasics, storeModel, storePrune, type StoreHarness } from './store-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const memory: StoreHarness = { create: async () => new MemoryReaderStore(), refusesNesting: true };
let n = 0;
const paths = new WeakMap<ReaderStore, string>();
const sqlite: StoreHarness = {
  async create() {
    const p = join(dir, `s${n++}.db`);
    const s = SqliteReaderStore.create(p);
    paths.set(s, p);
    return s;
  },
  async reopen(s) {
    const p = paths.get(s)!;
    s.close();
    const again = SqliteReaderStore.open(p);
    paths.set(again, p);
    return again;
  },
};

describe.each([
  ['MemoryReaderStore', memory],
  ['SqliteReaderStore', sqlite],
] as const)('%s: the ReaderStore behaviour suite', (_name, h) => {
  it('basics: reads back, copies, complete rollback, journal order, no nesting, closed', async () => {
    expect(await storeBasics(h)).toEqual([]);
  });
  it('model: seeded random transactions (a quarter throw) agree with a plain model', async () => {
    for (const seed of [1, 2, 3]) expect(await storeModel(h, seed, 200)).toEqual([]);
  });
  it('prune: deletes what the plan names and nothing else, keeps the newest journal row, reopens the same', async () => {
    expect(await storePrune(h)).toEqual([]);
  });
});

describe('the suite can fail', () => {
  it('a store that forgets rollbacks is caught', async () => {
    // MemoryReaderStore with its undo log disabled: a throwing transaction keeps its writes.
    const broken: StoreHarness = {
      refusesNesting: true,
      async create() {
        const s = new MemoryReaderStore();
        const inner = s.transact.bind(s);
        s.transact = <T>(fn: Parameters<typeof inner<T>>[0]): T => {
          let out: T | undefined;
          let err: unknown;
          inner((tx) => {
            try {
              out = fn(tx);
            } catch (e) {
              err = e;
            }
            return undefined;
          });
          if (err) throw err;
          return out as T;
        };
        return s;
      },
    };
    expect((await storeBasics(broken)).join('\n')).toMatch(/rolled back completely/);
    expect((await storeModel(broken, 1, 200)).length).toBeGreaterThan(0);
  });
});
