/**
 * The one classifier of SQLite errors (src/node/sqlite.ts sqliteFailureOf), which both SQLite stores use: damaged
 * (the reader's reader.corrupt_store, clearing.store_unusable), unavailable (reader.store_unusable,
 * clearing.store_unavailable: try again) and other (a bug: thrown as it is). spec/reader.md §1, spec/clearing.md §8.
 */
import { describe, expect, it } from 'vitest';
import { sqliteFailureOf } from '../../src/node/sqlite.js';

describe('sqliteFailureOf', () => {
  it.each([
    ['SQLITE_CORRUPT', 'damaged'],
    ['SQLITE_CORRUPT_INDEX', 'damaged'],
    ['SQLITE_NOTADB', 'damaged'],
    ['SQLITE_IOERR_CORRUPTFS', 'damaged'],
    ['SQLITE_FULL', 'unavailable'],
    ['SQLITE_IOERR', 'unavailable'],
    ['SQLITE_IOERR_WRITE', 'unavailable'],
    ['SQLITE_IOERR_FSYNC', 'unavailable'],
    ['SQLITE_BUSY', 'unavailable'],
    ['SQLITE_BUSY_SNAPSHOT', 'unavailable'],
    ['SQLITE_LOCKED', 'unavailable'],
    ['SQLITE_NOMEM', 'unavailable'],
    ['SQLITE_CONSTRAINT_PRIMARYKEY', 'other'],
    ['SQLITE_CONSTRAINT', 'other'],
    ['SQLITE_ERROR', 'other'],
    ['SQLITE_MISUSE', 'other'],
    ['SQLITE_RANGE', 'other'],
  ])('%s is %s', (code, kind) => {
    expect(sqliteFailureOf(Object.assign(new Error('x'), { code }))).toEqual({ code, kind });
  });

  it('anything that is not a SQLite error is none of them', () => {
    for (const e of [new Error('x'), Object.assign(new Error('x'), { code: 'ENOENT' }), Object.assign(new Error('x'), { code: 7 }), null, undefined, 'SQLITE_FULL']) {
      expect(sqliteFailureOf(e)).toBeUndefined();
    }
  });
});
