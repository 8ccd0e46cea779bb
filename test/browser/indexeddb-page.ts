// Runs inside Chromium (test/browser/indexeddb.test.ts bundles it): the ReaderStore behaviour suite on
// IndexedDbReaderStore, with reopen (close + open the same database: what a page reload does), plus the
// explicit-creation rules. The problems found are left in window.__idb.
import { IndexedDbReaderStore } from '../../src/reader/indexeddb.js';
import type { ReaderStore } from '../../src/reader/store.js';
import { storeBasics, storeModel, storePrune, type StoreHarness } from '../reader/store-suite.js';

let n = 0;
const harness: StoreHarness = {
  refusesNesting: true,
  create: () => IndexedDbReaderStore.open(`suite-${n++}`, { mode: 'create' }),
  async reopen(s: ReaderStore) {
    const name = (s as IndexedDbReaderStore).name;
    await (s as IndexedDbReaderStore).flush();
    s.close();
    return IndexedDbReaderStore.open(name, { mode: 'open' });
  },
  flush: (s) => (s as IndexedDbReaderStore).flush(),
};

const code = (p: Promise<unknown>) => p.then(() => 'opened', (e: { code?: string }) => e.code ?? String(e));

async function run(): Promise<Record<string, unknown>> {
  const basics = await storeBasics(harness);
  const model: string[] = [];
  for (const seed of [1, 2, 3]) model.push(...(await storeModel(harness, seed, 200)));
  const prune = await storePrune(harness);
  const missing = await code(IndexedDbReaderStore.open('never-created', { mode: 'open' }));
  const missingStill = await code(IndexedDbReaderStore.open('never-created', { mode: 'open' }));
  const exists = await code(IndexedDbReaderStore.open('suite-0', { mode: 'create' }));
  // Fail closed: a write IndexedDB refuses (here: the connection closed under the store) makes flush()
  // reject with reader.store_unusable and every later transaction throw it.
  const s = await IndexedDbReaderStore.open('fail-closed', { mode: 'create' });
  (s as unknown as { db: IDBDatabase }).db.close();
  s.transact((tx) => tx.putTotal('x', 1));
  const flushed = await code(s.flush());
  let after = 'ran';
  try {
    s.transact((tx) => tx.getTotal('x'));
  } catch (e) {
    after = (e as { code?: string }).code ?? String(e);
  }
  return { basics, model, prune, missing, missingStill, exists, failClosed: [flushed, after] };
}

const w = window as unknown as { __idb?: unknown };
run().then(
  (r) => (w.__idb = r),
  (e: unknown) => (w.__idb = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
);
