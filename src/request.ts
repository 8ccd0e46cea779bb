/**
 * Reader-side message construction: payment requests (with a fresh 8-byte challenge) and receipts.
 */
import { sign } from './crypto.js';
import {
  CHALLENGE_BYTES,
  encodeReceipt,
  encodeRequest,
  receiptSigningInput,
  requestSigningInput,
  type PaymentRequest,
  type PaymentRequestBody,
  type ReaderCert,
  type Receipt,
  type ReceiptBody,
} from './messages.js';

/** 8 random bytes from the platform CSPRNG. */
export function randomChallenge(): Uint8Array {
  const c = new Uint8Array(CHALLENGE_BYTES);
  globalThis.crypto.getRandomValues(c);
  return c;
}

/**
 * Sign a payment request with the reader key (spec/protocol.md §4, message type 4): amount in minor units of
 * `currency` (ISO 4217 numeric), `time` in unix seconds, and an 8-byte challenge (default: {@link randomChallenge}).
 * Returns the request and its deterministic CBOR bytes (what the reader shows). The `Reader` of `offpay/reader` validates
 * amounts itself in `Reader.openRequest`; this function signs what it is given.
 *
 * @example
 * ```ts
 * import { createRequest } from 'offpay';
 * const { request, bytes } = createRequest({ secretKey: readerKey, cert: readerCert },
 *   { amount: 1250, currency: 344, time: Math.floor(Date.now() / 1000) });   // HKD 12.50
 * ```
 */
export function createRequest(
  reader: { secretKey: Uint8Array; cert: ReaderCert },
  p: { amount: number; currency: number; time: number; challenge?: Uint8Array },
): {
  /** The signed request. */
  request: PaymentRequest;
  /** Its CBOR bytes (what the reader shows or sends). */
  bytes: Uint8Array;
} {
  const body: PaymentRequestBody = { readerCert: reader.cert, amount: p.amount, currency: p.currency, challenge: p.challenge ?? randomChallenge(), time: p.time };
  const request: PaymentRequest = { ...body, readerSignature: sign(requestSigningInput(body), reader.secretKey) };
  return { request, bytes: encodeRequest(request) };
}

/** Sign a receipt for a token with the reader key (spec/protocol.md §10): the receipt and its CBOR bytes. */
export function createReceipt(reader: { secretKey: Uint8Array }, body: ReceiptBody): {
  /** The signed receipt. */
  receipt: Receipt;
  /** Its CBOR bytes (what the reader hands back). */
  bytes: Uint8Array;
} {
  const receipt: Receipt = { ...body, readerSignature: sign(receiptSigningInput(body), reader.secretKey) };
  return { receipt, bytes: encodeReceipt(receipt) };
}
