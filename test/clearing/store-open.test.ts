/**
 * Opening a SQLite clearing (src/clearing/store-sqlite.ts): the checks and the schema in one write transaction,
 * so two processes opening one new path at the same moment both get a whole clearing (before, about one open in
 * five was refused as "not a clearing database", "schema version 0" or "database is locked"); mustExist makes no
 * file (spec/clearing.md §8, clearing.store_missing: nothing is created). Found by a review.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { SqliteClearingStore } from '../../src/clearing/store-sqlite.js';
import { makeIssuer } from '../reader/helpers.js';
import { transpileForChild } from '../reader/transpile.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-store-open-'));
const built = transpileForChild([]);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(built, { recursive: true, force: true });
});
const issuer = makeIssuer('store-open');

const child = join(built, 'open-clearing.mjs');
writeFileSync(
  child,
  `import { SqliteClearingStore } from './src/clearing/store-sqlite.js';
const [path, at] = process.argv.slice(2);
while (Date.now() < Number(at)) {} // both processes open at the same moment
try { const s = new SqliteClearingStore({ path }); await s.close(); console.log('ok'); }
catch (e) { console.log(String(e.code) + ' ' + e.message); }
`,
);
const open = (path: string, at: number): Promise<string> =>
  new Promise((resolve) => {
    const p = spawn(process.execPath, [child, path, String(at)], { cwd: built });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    p.on('close', () => resolve(out.trim()));
  });

describe('opening a SQLite clearing', () => {
  it('two processes opening one new path at the same moment both open a whole clearing', async () => {
    const results: string[] = [];
    for (let i = 0; i < 20; i++) {
      const path = join(dir, `race-${i}.db`);
      const at = Date.now() + 500;
      results.push(...(await Promise.all([open(path, at), open(path, at)])));
    }
    expect(results.filter((r) => r !== 'ok')).toEqual([]);
  }, 120_000);

  it('mustExist on a path with no file: clearing.store_missing, and no file is made', () => {
    const path = join(dir, 'typo.db');
    expect(() => new Clearing({ path, issuerKeys: issuer.keySet(), mustExist: true })).toThrow(expect.objectContaining({ code: 'clearing.store_missing' }));
    expect(existsSync(path)).toBe(false);
  });

  it('a clearing held open by one connection opens in a second, with mustExist too', async () => {
    const path = join(dir, 'two.db');
    const a = new Clearing({ path, issuerKeys: issuer.keySet() });
    const b = new Clearing({ path, issuerKeys: issuer.keySet(), mustExist: true });
    expect((await b.report()).settlement).toEqual([]);
    await b.close();
    await a.close();
    await new SqliteClearingStore({ path, mustExist: true }).close();
  });
});
