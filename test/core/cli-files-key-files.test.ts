import { execFileSync } from 'node:child_process';
import { cpSync, truncateSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, issuerAndWallet, NOW } from './cli-files-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';


/**
 * Attacker-with-files review: wallet.json, reader.json and issuer.json are read by src/node/files.ts readJson()
 * with readFileSync and no stat or size bound (unlike readBytes, readCounterFile, readFileBounded): a key file that is
 * a FIFO blocks forever; one that links to /dev/zero grows to gigabytes (pay: 7.8 GB RSS in 20 s, then killed); a
 * large sparse one is read whole (1.5 GB -> 2.1 GB RSS, then "ERR_STRING_TOO_LONG"). loadWallet/loadReader/loadIssuer
 * document `file.too_large`, which readJson never throws.
 */
const d = mkdtempSync(join(tmpdir(), 'offpay-files-keys-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

beforeAll(() => {
  issuerAndWallet(p, 'zzkeys', { reader: true });
});

describe('key files that are not small regular files', () => {
  it('pay with WALLET/wallet.json a FIFO ends with a typed error instead of blocking forever', () => {
    cpSync(p('alice'), p('alice-fifo'), { recursive: true });
    unlinkSync(p('alice-fifo', 'wallet.json'));
    execFileSync('mkfifo', [p('alice-fifo', 'wallet.json')]);
    const r = cli(['pay', '--wallet', p('alice-fifo'), '--payee', '300', '--amount', '1.00', '--currency', 'HKD', '--out', p('t.cbor'), NOW]);
    expect(r.timedOut, 'pay hung reading a FIFO wallet.json').toBe(false);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/\[file\.[a-z_]+\]/);
  });

  it('wallet new with ISSUER/issuer.json a FIFO ends with a typed error instead of blocking forever', () => {
    cpSync(p('issuer'), p('issuer-fifo'), { recursive: true });
    unlinkSync(p('issuer-fifo', 'issuer.json'));
    execFileSync('mkfifo', [p('issuer-fifo', 'issuer.json')]);
    const r = cli(['wallet', 'new', '--issuer', p('issuer-fifo'), '--out', p('bob'), NOW]);
    expect(r.timedOut, 'wallet new hung reading a FIFO issuer.json').toBe(false);
    expect(r.status).toBe(2);
  });

  it('reader status with READER/reader.json a 400 MB sparse file is refused by size (file.too_large), not read whole', () => {
    cpSync(p('vm'), p('vm-big'), { recursive: true });
    truncateSync(p('vm-big', 'reader.json'), 400 * 1024 * 1024);
    const r = cli(['reader', 'status', '--reader', p('vm-big'), '--db', p('vm.db'), NOW]);
    expect(r.timedOut).toBe(false);
    expect(r.status).toBe(2);
    expect(r.err).toContain('[file.too_large]');
  });
});
