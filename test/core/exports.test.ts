/**
 * Explicit exports: every entry point lists its exports by hand (no `export *`), and the protocol core does
 * not expose its internals (the CBOR codec and field readers, the message <-> CBOR-value converters, the
 * verification generators).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as core from '../../src/index.js';
import * as reader from '../../src/reader/index.js';
import * as qr from '../../codecs/qr/index.js';
import * as nfc from '../../codecs/nfc/index.js';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, { default: string } | string> };
const sources = Object.entries(pkg.exports)
  .filter(([, t]) => typeof t !== 'string') // code entry points (not ./package.json, ./fixtures/*, ./spec/*)
  .map(([, t]) => (t as { default: string }).default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));

describe('entry points', () => {
  it('list their exports by hand (no export *)', () => {
    expect(sources.length).toBeGreaterThanOrEqual(10);
    for (const f of sources) expect(readFileSync(f, 'utf8'), f).not.toMatch(/^export \* from/m);
  });

  it('offpay does not expose the CBOR helpers or the converters', () => {
    for (const n of ['asArray', 'asUint', 'asBytes', 'openMessage', 'encodeCbor', 'decodeCbor', 'cborHead', 'cborItemEnd', 'tokenToCbor', 'tokenFromCbor', 'carve', 'prefixKey', 'tokenVerification']) {
      expect(core, n).not.toHaveProperty(n);
    }
  });

  it('keeps what the README, the CLI and the browser page use', () => {
    for (const n of ['Issuer', 'Wallet', 'MemoryCounterStore', 'createRequest', 'verifyToken', 'verifyTokenAsync', 'webCryptoEd25519', 'nobleEd25519', 'hasWebCryptoEd25519', 'publicKeyOf', 'randomSecretKey', 'seededSecretKey', 'dayOf', 'decodeToken', 'encodeToken', 'tokenHash', 'OffpayError']) {
      expect(core, n).toHaveProperty(n);
    }
    for (const n of ['Reader', 'MemoryReaderStore', 'createBlocklist', 'decodeBatch', 'READER_REASONS']) expect(reader, n).toHaveProperty(n);
    expect(reader).not.toHaveProperty('openSqliteReaderStore'); // Node only: offpay/node
    for (const n of ['loadQrEngine', 'encodeCode', 'decodeCode', 'wrap', 'unwrap']) expect(qr, n).toHaveProperty(n);
    for (const n of ['CardApplication', 'transact', 'memoryLink', 'encodeTokenNdef', 'airTime']) expect(nfc, n).toHaveProperty(n);
    expect(nfc).not.toHaveProperty('readTokenOverPcsc'); // Node only: offpay/nfc/node
  });
});
