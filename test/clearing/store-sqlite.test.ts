/**
 * The shared clearing store suite (store-suite.ts) on SQLite: each clearing on a new temporary file (not
 * ':memory:', so WAL, synchronous = FULL and the file's locking are the ones users get).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { storeSuite } from './store-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-store-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

storeSuite({
  name: 'SQLite',
  fresh: (o) => Clearing.open({ ...o, path: join(dir, `c${++n}.db`) }),
});
