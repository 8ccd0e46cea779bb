/**
 * The operator credential (spec/clearing-api.md §7), from an attack review (2026-12-07); each test failed before its fix.
 *
 * DEFECT C1 (security, configuration): `clearing serve` accepts the SAME file as --operator-token-file and
 * --webhook-secret-file. The webhook secret is, by the spec (§9.4), "given to the merchant" (the webhook receiver,
 * a third party); when the two files are one, that merchant holds the operator credential and can read GET
 * /v1/report (every wallet id, every signed token, every merchant's settlement) and GET /v1/refunds. Nothing
 * refuses it, and nothing refuses two different files holding the same 64 digits either.
 *
 * DEFECT C2 (low): the credential file must hold "exactly 64 lower-case hex digits" (and, as issued, a newline);
 * the loader trims ANY surrounding white space (String.prototype.trim: spaces, tabs, blank lines, CR, U+00A0,
 * a BOM...), so a file that is not in the issued form is taken, and a port of the rule that reads the file
 * strictly disagrees with the server.
 *
 * DEFECT C3 (low, interoperability): RFC 9110 §11.1: the auth-scheme is case-insensitive. `Authorization: bearer
 * <credential>` (what some HTTP clients and proxies send) is refused 401.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { checkBearer, loadOrCreateOperatorToken } from '../../src/server/operator.js';

const d = mkdtempSync(join(tmpdir(), 'zz-pay-cred-'));
afterAll(() => rmSync(d, { recursive: true, force: true }));
const p = (...x: string[]) => join(d, ...x);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const T0 = Math.floor(Date.now() / 1000);

async function run(...argv: string[]): Promise<number> {
  return main(argv, { out: () => {}, err: () => {} });
}

/** Start `clearing serve`; resolves with its exit code, or 'listening' (then stops it) once it serves. */
function serve(args: string[]): Promise<{ outcome: number | 'listening'; out: string }> {
  const child = spawn(process.execPath, [CLI, 'clearing', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve) => {
    const on = (b: Buffer) => {
      out += b.toString();
      if (/listening on/.test(out)) {
        child.kill('SIGTERM');
        resolve({ outcome: 'listening', out });
      }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.on('exit', (c) => resolve({ outcome: c ?? -1, out }));
  });
}

describe('operator credential', () => {
  it('DEFECT C1: the operator credential file is refused as the webhook secret (the merchant is given the webhook secret)', async () => {
    expect(existsSync(CLI), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
    expect(await run('issuer', 'init', '--dir', p('issuer'), '--seed', 'zz-pay-cred', `--now=${T0 - 86400}`)).toBe(0);
    const shared = p('shared.secret');
    const r = await serve(['--issuer', p('issuer'), '--db', p('c.db'), '--port', '0', '--operator-token-file', shared, '--webhook-url', 'http://127.0.0.1:8099/hook', '--webhook-secret-file', shared]);
    // Expected: exit 2 (a usage error, or api.bad_webhook_secret naming the reuse), never a server whose webhook
    // receiver holds the operator credential.
    expect(r.outcome).toBe(2);
  }, 60_000);

  it('DEFECT C1b: two files with the same 64 digits are refused too', async () => {
    const hex = '3c'.repeat(32);
    writeFileSync(p('op'), hex + '\n', { mode: 0o600 });
    writeFileSync(p('hook'), hex + '\n', { mode: 0o600 });
    chmodSync(p('op'), 0o600);
    chmodSync(p('hook'), 0o600);
    const r = await serve(['--issuer', p('issuer'), '--db', p('c2.db'), '--port', '0', '--operator-token-file', p('op'), '--webhook-url', 'http://127.0.0.1:8099/hook', '--webhook-secret-file', p('hook')]);
    expect(r.outcome).toBe(2);
  }, 60_000);

  it('DEFECT C2: a credential file that is not 64 lower-case hex digits (and a line end) is api.bad_operator_token', () => {
    const hex = 'a1'.repeat(32);
    for (const [name, text] of [
      ['lead-space', `   ${hex}\n`],
      ['blank-lines', `\n\n${hex}\n\n\n`],
      ['bom', `\uFEFF${hex}\n`],
      ['nbsp', `${hex}\u00a0\n`],
      ['tab', `\t${hex}\t\n`],
    ] as const) {
      const f = p(`cred-${name}`);
      writeFileSync(f, text, { mode: 0o600 });
      chmodSync(f, 0o600);
      expect(() => loadOrCreateOperatorToken(f), name).toThrow(/64 lower-case hex/);
    }
  });

  it('DEFECT C3: the Bearer scheme is matched case-insensitively (RFC 9110 §11.1)', () => {
    const tok = 'a1'.repeat(32);
    expect(checkBearer(`Bearer ${tok}`, tok)).toBe(true);
    expect(checkBearer(`bearer ${tok}`, tok)).toBe(true);
    expect(checkBearer(`BEARER ${tok}`, tok)).toBe(true);
    expect(checkBearer(`Bearer   ${tok}`, tok)).toBe(true); // 1*SP (RFC 6750 §2.1)
    for (const bad of [`Bearer${tok}`, `Bearer\t${tok}`, `Bearer ${tok} `, `Basic ${tok}`, `Bearer ${tok.toUpperCase()}`]) expect(checkBearer(bad, tok), bad).toBe(false);
  });
});
