/**
 * The reader attack review (2026-12-07): `offpay reader accept --json TOKEN...` committed a verdict for an earlier
 * token and then lost it from its output when a later token file was unusable. Now every input is read before any
 * token is judged: an unusable file is exit 2 with nothing recorded.
 *
 * spec/reader.md I10 and §1 Atomicity: "the verdict is reported only after its state is committed" — and, read the
 * other way by every integrator, a committed verdict is reported. README: "Unusable input ... gets a clear message
 * and exit code 2"; §17.3 point 4: exit 2 means "nothing recorded for the token at hand". With --json the CLI
 * collects the verdicts and emits them only at the end (src/cli/commands/reader.ts, accept.run: results[] then
 * ctx.emit), so an unreadable second file threw before the emit: the first token is recorded (charged, a tap-in
 * opened) while the only output is the error object, which a machine reads as "nothing recorded".
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { NOW } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-zz-cli-json-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('reader accept --json with several tokens', () => {
  it('reports the verdict of every token it committed, even when a later file is unusable', async () => {
    let out = '';
    const run = async (...argv: string[]) => {
      out = '';
      return main(argv, { out: (s) => (out += s), err: () => undefined });
    };
    const p = (x: string) => join(dir, x);
    const at = (s: number) => `--now=${NOW + s}`;
    expect(await run('issuer', 'init', '--dir', p('issuer'), '--seed', 'zzjson', at(0))).toBe(0);
    expect(await run('wallet', 'new', '--issuer', p('issuer'), '--out', p('w'), '--seed', 'zzjson', at(0))).toBe(0);
    expect(await run('reader', 'new', '--issuer', p('issuer'), '--id', '5301', '--profile', 'transit', '--operator', '300', '--out', p('gate'), '--seed', 'zzjson', at(0))).toBe(0);
    expect(await run('clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list.cbor'), at(0))).toBe(0);
    expect(await run('reader', 'init', '--reader', p('gate'), '--db', p('gate.db'), '--issuer', p('issuer'), at(0))).toBe(0);
    expect(await run('reader', 'load-blocklist', '--reader', p('gate'), '--db', p('gate.db'), p('list.cbor'), at(0))).toBe(0);
    expect(await run('pay', '--wallet', p('w'), '--payee', '300', '--amount', '2.00', '--currency', 'HKD', '--out', p('t1.cbor'), at(1))).toBe(0);
    writeFileSync(p('damaged.wav'), Buffer.from('RIFF\x10\x00\x00\x00WAVEjunk', 'latin1'));

    const code = await run('reader', 'accept', '--json', '--reader', p('gate'), '--db', p('gate.db'), '--amount', '2.00', p('t1.cbor'), p('damaged.wav'), at(2));
    const printed = out;
    expect(code).toBe(2);
    expect(JSON.parse(printed)).toMatchObject({ ok: false, error: expect.stringMatching(/^fsk\./) });
    // Nothing was judged: the journal is empty, and t1 is still to be taken.
    expect(await run('reader', 'status', '--json', '--reader', p('gate'), '--db', p('gate.db'), at(3))).toBe(0);
    expect((JSON.parse(out) as { head: { seq: number } }).head.seq).toBe(0);
    expect(await run('reader', 'accept', '--json', '--reader', p('gate'), '--db', p('gate.db'), '--amount', '2.00', p('t1.cbor'), at(4))).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ results: [{ accepted: true, status: 'accepted' }] });
  });
});
