/** Shared by the cli-files-* tests (hostile files given to the CLI): spawn the built CLI with a hard timeout. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
export const NOW = '--now=2026-12-01T12:00:00Z';

export interface Ran {
  status: number | null;
  timedOut: boolean;
  out: string;
  err: string;
}

/** Run the CLI; a run past `timeout` (default 8 s) is killed and reported as timedOut (a hang is a finding). */
export function cli(args: string[], o: { timeout?: number } = {}): Ran {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: o.timeout ?? 8000, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'] });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT' || r.signal === 'SIGKILL';
  return { status: r.status, timedOut, out: r.stdout ?? '', err: r.stderr ?? '' };
}

/** Run the CLI and require exit 0 (set-up steps). */
export function ok(args: string[]): Ran {
  const r = cli(args, { timeout: 30000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')} -> ${r.status}\n${r.err}`);
  return r;
}
