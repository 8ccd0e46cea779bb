/**
 * `--db` of the clearing commands: a SQLite file path (created on first use) or a PostgreSQL URL
 * (postgres://user:password@host:port/database; several `clearing serve` processes may share one).
 */
import { existsSync } from 'node:fs';
import { Clearing, isPostgresUrl, type ClearingOptions } from '../clearing/clearing.js';
import { storeMissingError } from '../clearing/store-sqlite.js';

/** The `--db` option of the clearing commands. */
export const clearingDbOption = {
  type: 'string' as const,
  arg: 'CLEARING.db|postgres://...',
  help: 'clearing database: a SQLite file (clearing ingest, serve and blocklist create it; report and refund need it) or a PostgreSQL URL',
};

/** --replace-settings of the clearing commands that set the house's key set or fee (spec/clearing.md §11.2). */
export const replaceSettingsOpt = {
  type: 'boolean' as const,
  help: "PostgreSQL: make this issuer key set and fee the clearing house's, replacing the stored ones (without it a house that differs is refused, clearing.settings_mismatch); stop every node first",
};

/**
 * Open the clearing at `db` (a file path or a postgres:// URL) with the other options. `existing`: the command only
 * reads a clearing or decides against what it holds (report, refund), so a SQLite file that is not there is
 * `clearing.store_missing` instead of a new, empty clearing (a mistyped path would report nothing to settle).
 * `clearing blocklist` creates one: an operator's first act is to sign version 1 for the readers.
 */
export async function openClearingAt(db: string, o: Omit<ClearingOptions, 'path' | 'url' | 'store'> = {}, existing = false): Promise<Clearing> {
  if (existing && !isPostgresUrl(db) && !existsSync(db)) {
    throw storeMissingError(db);
  }
  return Clearing.open({ ...o, ...(isPostgresUrl(db) ? { url: db } : { path: db, ...(existing ? { mustExist: true } : {}) }) });
}
