/**
 * Every read of the SQLite clearing store types a damaged file as an ingest does (spec/clearing.md §8):
 * SQLITE_CORRUPT / SQLITE_NOTADB is clearing.store_unusable, exit 2. `clearing report` and `clearing blocklist` on
 * a database with an overwritten page used to end in "offpay: internal error: SqliteError: database disk image is
 * malformed" with a stack trace, exit 70.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { SqliteClearingStore } from '../../src/clearing/store-sqlite.js';
import { cli, gateWithOneSale, NOW, ok } from '../core/cli-files-helpers.js';

const d = mkdtempSync(join(tmpdir(), 'offpay-clearing-corrupt-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

beforeAll(() => {
  gateWithOneSale(p, 'corrupt', '--now=2026-12-01T12:00:01Z', '--now=2026-12-01T12:00:02Z');
  ok(['reader', 'export', '--reader', p('gate'), '--db', p('gate.db'), '--out', p('gate.batch')]);
  ok(['clearing', 'ingest', '--issuer', p('issuer'), '--db', p('clearing.db'), p('gate.batch')]);
});

/** A copy of the clearing database with page `page` (0-based, 4 KiB) overwritten with 0x5a. */
function damaged(page: number): string {
  const b = Buffer.from(readFileSync(p('clearing.db')));
  b.fill(0x5a, page * 4096, (page + 1) * 4096);
  const path = p(`damaged-${page}.db`);
  writeFileSync(path, b);
  return path;
}

describe('a clearing database with a damaged page', () => {
  it('clearing report answers clearing.store_unusable (exit 2), never an internal error', () => {
    const pages = Math.floor(readFileSync(p('clearing.db')).length / 4096);
    const bad: string[] = [];
    let unusable = 0;
    for (let page = 2; page < Math.min(pages, 14); page++) {
      const r = cli(['clearing', 'report', '--db', damaged(page)]);
      if (r.status !== 0 && r.status !== 2) bad.push(`page ${page}: exit ${r.status}: ${r.err.split('\n')[0]}`);
      else if (/internal error|\n\s+at /.test(r.err)) bad.push(`page ${page}: ${r.err.split('\n')[0]}`);
      if (r.err.includes('[clearing.store_unusable]')) unusable++;
    }
    expect(bad).toEqual([]);
    expect(unusable, 'no damaged page was noticed').toBeGreaterThan(0);
  });

  it('clearing blocklist answers with a typed error or a list, never an internal error', () => {
    const pages = Math.floor(readFileSync(p('clearing.db')).length / 4096);
    const bad: string[] = [];
    for (let page = 2; page < Math.min(pages, 14); page++) {
      const r = cli(['clearing', 'blocklist', '--issuer', p('issuer'), '--db', damaged(page), '--out', p(`list-${page}.cbor`), NOW]);
      if ((r.status !== 0 && r.status !== 2) || /internal error|\n\s+at /.test(r.err)) bad.push(`page ${page}: exit ${r.status}: ${r.err.split('\n')[0]}`);
    }
    expect(bad).toEqual([]);
  });

  it('the store\'s reads throw clearing.store_unusable naming the file', async () => {
    const pages = Math.floor(readFileSync(p('clearing.db')).length / 4096);
    const seen = new Set<string>();
    for (let page = 2; page < pages; page++) {
      const path = damaged(page);
      let store: SqliteClearingStore;
      try {
        store = new SqliteClearingStore({ path, mustExist: true });
      } catch (e) {
        seen.add(e instanceof OffpayError ? e.code : `open: ${String(e)}`);
        continue;
      }
      const reads: (() => Promise<unknown>)[] = [
        () => store.settleRows(() => undefined), () => store.chains(), () => store.problems(), () => store.blocklist(), () => store.doubleSpendRows(),
        () => store.readerFaultRows(), () => store.invalidEntries(), () => store.voidCount(), () => store.refunds(), () => store.conflictWallets(),
        () => store.contestedRequestSales(), () => store.heldBatches(5001), () => store.refundTotals(), () => store.seqRuns(1),
      ];
      for (const read of reads) {
        try {
          await read();
        } catch (e) {
          if (!(e instanceof OffpayError)) seen.add(`page ${page}: ${String(e)}`);
          else {
            seen.add(e.code);
            if (e.code === 'clearing.store_unusable') expect(e.message).toContain(path);
          }
        }
      }
      await store.close();
    }
    expect([...seen].filter((c) => c !== 'clearing.store_unusable')).toEqual([]);
    expect(seen.has('clearing.store_unusable')).toBe(true);
  });
});
