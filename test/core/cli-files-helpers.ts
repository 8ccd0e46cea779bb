/** Shared by the cli-files-* tests (hostile files given to the CLI): spawn the built CLI with a hard timeout. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

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

/** A CLI runner with `cwd` set (the README's relative paths): `cli(...argv)` and `ok(...argv)`, which requires exit 0. */
export function cliIn(cwd: string): { cli: (...argv: string[]) => { code: number; out: string; err: string }; ok: (...argv: string[]) => string } {
  const run = (...argv: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...argv], { encoding: 'utf8', cwd, timeout: 60_000 });
    return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '' };
  };
  return {
    cli: run,
    ok: (...argv: string[]) => {
      const r = run(...argv);
      expect(r.code, `${argv.join(' ')}\n${r.err}`).toBe(0);
      return r.out;
    },
  };
}

/** Set up by the CLI in `p(...)`: an issuer `issuer` and a wallet `alice` (seeded), and with `reader` a reader `vm` (vending 4201) and its database `vm.db`. */
export function issuerAndWallet(p: (...x: string[]) => string, seed: string, o: { reader?: boolean } = {}): void {
  ok(['issuer', 'init', '--dir', p('issuer'), '--seed', seed, NOW]);
  ok(['wallet', 'new', '--issuer', p('issuer'), '--out', p('alice'), '--seed', seed, NOW]);
  if (!o.reader) return;
  ok(['reader', 'new', '--issuer', p('issuer'), '--id', '4201', '--out', p('vm'), '--seed', seed, NOW]);
  ok(['reader', 'init', '--reader', p('vm'), '--issuer', p('issuer'), '--db', p('vm.db'), NOW]);
}

/**
 * Set up by the CLI in `p(...)`: an issuer, a wallet `alice`, a transit gate `gate` (5001, operator 300) with a fresh
 * blocklist from a clearing `clearing.db`, and one fixed-fare sale of alice's (HKD 2.00) at times `t1` (pay) and
 * `t2` (accept).
 */
export function gateWithOneSale(p: (...x: string[]) => string, seed: string, t1: string, t2: string): void {
  issuerAndWallet(p, seed);
  ok(['reader', 'new', '--issuer', p('issuer'), '--id', '5001', '--profile', 'transit', '--operator', '300', '--out', p('gate'), '--seed', seed, NOW]);
  ok(['reader', 'init', '--reader', p('gate'), '--issuer', p('issuer'), '--db', p('gate.db'), NOW]);
  ok(['clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list.cbor'), NOW]);
  ok(['reader', 'load-blocklist', '--reader', p('gate'), '--db', p('gate.db'), p('list.cbor'), NOW]);
  ok(['pay', '--wallet', p('alice'), '--payee', '300', '--amount', '2.00', '--currency', 'HKD', '--out', p('t.cbor'), t1]);
  ok(['reader', 'accept', '--reader', p('gate'), '--db', p('gate.db'), '--fare', '2.00', p('t.cbor'), t2]);
}
