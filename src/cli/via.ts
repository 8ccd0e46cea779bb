/**
 * Token-level transports for the CLI (`offpay pay --via fsk|qr|nfc`, `offpay verify --via ...`).
 *
 * Each transport module in src/cli/via/ exports a `Via`. The protocol core never imports these: this is
 * where transports (codecs/) and the protocol (src/) meet.
 */
export type PayloadKind = 'token' | 'request';

export interface Via {
  name: 'fsk' | 'qr' | 'nfc' | 'code';
  /** Write `bytes` (a token or a payment request) to `outPath` in this transport's file form. */
  write(kind: PayloadKind, bytes: Uint8Array, outPath: string, options?: Record<string, string>): Promise<string | void>;
  /** Read the bytes back from a file in this transport's form; throws OffpayError on bad input. */
  read(kind: PayloadKind, inPath: string): Promise<Uint8Array>;
}

const loaders: Record<string, () => Promise<{ via: Via }>> = {
  fsk: () => import('./via/fsk.js'),
  qr: () => import('./via/qr.js'),
  code: () => import('./via/code.js'),
  nfc: () => import('./via/nfc.js'),
};

export async function loadVia(name: string): Promise<Via> {
  const load = loaders[name];
  if (!load) throw new Error(`unknown transport '${name}' (expected ${Object.keys(loaders).join(', ')})`);
  return (await load()).via;
}
