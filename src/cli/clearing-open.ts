/**
 * `--db` of the clearing commands: a SQLite file path (created on first use) or a PostgreSQL URL
 * (postgres://user:password@host:port/database; several `clearing serve` processes may share one).
 */
import { Clearing, isPostgresUrl, type ClearingOptions } from '../clearing/clearing.js';

/** The `--db` option of the clearing commands. */
export const clearingDbOption = {
  type: 'string' as const,
  arg: 'CLEARING.db|postgres://...',
  help: 'clearing database: a SQLite file (created on first use) or a PostgreSQL URL',
};

/** --replace-settings of the clearing commands that set the house's key set or fee (spec/clearing.md §11.2). */
export const replaceSettingsOpt = {
  type: 'boolean' as const,
  help: "PostgreSQL: make this issuer key set and fee the clearing house's, replacing the stored ones (without it a house that differs is refused, clearing.settings_mismatch); stop every node first",
};

/** Open the clearing at `db` (a file path or a postgres:// URL) with the other options. */
export function openClearingAt(db: string, o: Omit<ClearingOptions, 'path' | 'url' | 'store'> = {}): Promise<Clearing> {
  return Clearing.open({ ...o, ...(isPostgresUrl(db) ? { url: db } : { path: db }) });
}
