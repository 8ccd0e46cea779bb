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

/** Open the clearing at `db` (a file path or a postgres:// URL) with the other options. */
export function openClearingAt(db: string, o: Omit<ClearingOptions, 'path' | 'url' | 'store'> = {}): Promise<Clearing> {
  return Clearing.open({ ...o, ...(isPostgresUrl(db) ? { url: db } : { path: db }) });
}
