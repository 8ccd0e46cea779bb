/**
 * Token-level 'code' transport for the CLI: a payment request as a 20-digit payment code (spec/qr.md §6),
 * for a user to type when scanning fails. Requests only.
 *
 * write: takes the signed request, writes its payee (reader id), amount and challenge as the code, grouped
 * 4 by 4, one line. The request must have been made with a payment-code challenge (21 significant bits:
 * `paymentCodeChallenge()` in src/paycode.ts), or `paycode.range` is raised.
 * read: validates the code (length, check digit, ranges) and returns its 20 digits as ASCII bytes; use
 * `decodePaymentCode` on them. A payment code is not a signed request: it carries no currency, time,
 * reader certificate or signature, so `pay` must treat it as a one-way payment to that payee with that
 * challenge.
 */
import { readFile } from 'node:fs/promises';
import { OffpayError } from '../../../base/errors.js';
import { decodeRequest } from '../../messages.js';
import { decodePaymentCode, encodePaymentCode, formatPaymentCode } from '../../paycode.js';
import { normalizeDigits } from '../../../base/digits.js';
import { writeOut } from '../common.js';
import type { PayloadKind, Via } from '../via.js';

function requestsOnly(kind: PayloadKind): void {
  if (kind !== 'request') {
    throw new OffpayError('paycode.kind', 'the code transport carries payment requests only (a token does not fit in 20 digits)');
  }
}

export const via: Via = {
  name: 'code',
  textOnStdout: true,
  async render(kind: PayloadKind, bytes: Uint8Array) {
    requestsOnly(kind);
    const req = decodeRequest(bytes);
    const code = formatPaymentCode(encodePaymentCode({ payee: req.readerCert.readerId, amount: req.amount, challenge: req.challenge }));
    return { data: new TextEncoder().encode(code + '\n'), text: true, note: `payment code ${code}` };
  },
  async write(kind: PayloadKind, bytes: Uint8Array, outPath: string) {
    requestsOnly(kind);
    const req = decodeRequest(bytes);
    const code = encodePaymentCode({ payee: req.readerCert.readerId, amount: req.amount, challenge: req.challenge });
    writeOut(outPath, formatPaymentCode(code) + '\n');
    return `payment code ${formatPaymentCode(code)}`;
  },
  async read(kind: PayloadKind, inPath: string) {
    requestsOnly(kind);
    const raw = await readFile(inPath);
    if (raw.length > 256) throw new OffpayError('paycode.length', `${inPath} is too long to be a payment code`);
    const text = new TextDecoder('utf-8', { fatal: false }).decode(raw).trim();
    decodePaymentCode(text); // validates: length, check digit, ranges, version
    return new TextEncoder().encode(normalizeDigits(text));
  },
};
