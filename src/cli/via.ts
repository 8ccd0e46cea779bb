/**
 * Token-level transports for the CLI (`offpay pay --via fsk|qr|nfc`, `offpay verify --via ...`).
 *
 * Each transport module in src/cli/via/ exports a `Via`. The protocol core never imports these: this is
 * where transports (codecs/) and the protocol (src/) meet.
 */
import { UsageError } from './framework.js';
import { didYouMean } from './suggest.js';

export type PayloadKind = 'token' | 'request';

/** A payload in a transport's file form: bytes for a file, and whether it may be shown on a terminal. */
export interface Rendered {
  data: Uint8Array;
  /** Printable text (a terminal QR code, a payment code): safe to write to a terminal. */
  text: boolean;
  note: string;
}

export interface Via {
  name: 'fsk' | 'qr' | 'nfc' | 'code';
  /** Whether `render` for standard output gives text (safe on a terminal) rather than binary. */
  textOnStdout: boolean;
  /** The payload in this transport's form for standard output (`--out -`): terminal text where there is one. */
  render(kind: PayloadKind, bytes: Uint8Array, options?: Record<string, string>): Promise<Rendered>;
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
  if (!load) throw new UsageError(`--via: unknown transport '${name}' (expected ${Object.keys(loaders).join(', ')})${didYouMean(name, Object.keys(loaders))}`);
  return (await load()).via;
}
