/**
 * Packaging review, the CLI as a newcomer types it from the README (built CLI, dist/):
 * - `offpay reader --help` (a command group) is an error, exit 2, where every other --help is exit 0;
 * - README's listen line uses `--fare 2.00` for a gate; `reader accept --fare 2.00` is "unknown option", because
 *   accept calls the transit fare `--amount` (which on `reader listen` is the vending price instead);
 * - in a command that reads several files, an unusable one is not named ("no barcode found in the image").
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { cliIn } from './cli-files-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32 } from '../../base/crc32.js';

const d = mkdtempSync(join(tmpdir(), 'offpay-cli-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

const { cli, ok } = cliIn(d);

/** A valid 16x16 all-white grayscale PNG: an image with no code in it. */
function blankPng(): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(16, 0);
  ihdr.writeUInt32BE(16, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  const raw = Buffer.alloc(16 * 17, 255);
  for (let y = 0; y < 16; y++) raw[y * 17] = 0; // filter byte
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

beforeAll(() => {
  ok('issuer', 'init', '--dir', p('issuer'));
  ok('wallet', 'new', '--issuer', p('issuer'), '--out', p('alice'), '--currency', 'HKD', '--max-payment', '200', '--allowance', '500');
  ok('reader', 'new', '--issuer', p('issuer'), '--id', '5001', '--operator', '77', '--profile', 'transit', '--out', p('gate'));
  ok('reader', 'init', '--reader', p('gate'), '--issuer', p('issuer'), '--db', p('gate.db'));
  ok('clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list.cbor'));
  ok('reader', 'load-blocklist', '--reader', p('gate'), '--db', p('gate.db'), p('list.cbor'));
  ok('pay', '--wallet', p('alice'), '--payee', '77', '--amount', '2.00', '--currency', 'HKD', '--out', p('trip.cbor'));
  writeFileSync(p('photo.png'), blankPng());
}, 60_000);

describe('the CLI as a newcomer types it', () => {
  it('a command group with --help prints its commands and exits 0 (like every command --help)', () => {
    for (const group of ['reader', 'clearing', 'nfc', 'fsk']) {
      const r = cli(group, '--help');
      expect(r.code, `offpay ${group} --help: ${r.err}`).toBe(0);
    }
  });

  it("reader accept takes a gate's fare as --fare, as reader listen does (README: listen ... --fare 2.00)", () => {
    const r = cli('reader', 'accept', '--reader', p('gate'), '--db', p('gate.db'), '--fare', '2.00', p('trip.cbor'));
    expect(r.err).not.toMatch(/unknown option --fare/);
    expect(r.code, r.err).toBe(0);
  });

  it('an unusable file among several is named in the message', () => {
    const r = cli('reader', 'accept', '--reader', p('gate'), '--db', p('gate.db'), '--amount', '2.00', p('trip.cbor'), p('photo.png'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no barcode/);
    expect(r.err).toContain('photo.png');
  });
});
