/**
 * Test vectors for offpay token and request verification (fixtures/vectors/*.json), Wycheproof-style.
 *
 * Every case is built from seeded keys and fixed times, so generation is byte-for-byte reproducible. Each
 * case DECLARES its expected result and reason; generation refuses to write a file if the verifier
 * disagrees with a declaration, and `checkVectors` re-runs every case with every Ed25519 backend. Each case
 * also lists every signature it contains with the public key, the exact signed bytes and a `valid` flag, so
 * a port can check the signatures with any Ed25519 library first.
 */
import { encodeCbor, type CborValue } from './cbor.js';
import { ED25519_L as ED_L, nobleEd25519, publicKeyOf, seededSecretKey, sign, type AsyncVerifier, type SyncVerifier } from './crypto.js';
import { toHex, fromHex } from '../base/hex.js';
import { OffpayError } from '../base/errors.js';
import { Issuer, dayOf } from './issuer.js';
import {
  decodeIssuerKeySet,
  decodeRequest,
  encodeIssuerKeySet,
  readerCertSigningInput,
  readerCertToCbor,
  requestSigningInput,
  requestToCbor,
  decodeTokenWithInputs,
  tokenSigningInput,
  walletCertSigningInput,
  walletCertToCbor,
  type IssuerKeySet,
  type PaymentRequest,
  type PaymentTokenBody,
  type ReaderCert,
  type WalletCert,
  type WalletCertBody,
} from './messages.js';
import { REASONS, type StatelessReason } from './reasons.js';
import { challengeScalar, equations, le, secretScalar, torsionPoint } from './ed25519-craft.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { createRequest } from './request.js';
import { requestVerification, tokenVerification, type SigCheck, type VerifyContext } from './verify.js';

export const VECTOR_SEED = 'offpay-vectors-v1';
export const GENERATOR_VERSION = '2';
/** The reader's clock in every case unless the case says otherwise: 2026-11-18T20:26:40Z. */
export const T0 = 1_795_000_000;
const DAY = 86400;

export interface VectorSignature {
  role: 'issuer' | 'wallet' | 'reader';
  publicKey: string;
  /** The exact bytes signed: signingInput(tag, CBOR(body)). */
  message: string;
  signature: string;
  /**
   * What offpay's one Ed25519 rule answers (spec/protocol.md §8: S < L, A and R canonical and not of small
   * order, the cofactorless equation), which is libsodium's crypto_sign_verify_detached. Every implementation
   * must give this answer.
   */
  valid: boolean;
}

export interface VectorContext {
  now: number;
  payees: number[];
  request?: { readerId: number; amount?: number; currency?: number; challenge: string; time: number; code?: boolean };
  expected?: { amount?: number; maxAmount?: number; currency?: number };
  maxAgeSeconds: number;
  maxFutureSeconds: number;
  /** Present only as 'signed' (absent: 'now'), spec/protocol.md §5. */
  validAt?: 'signed';
}

export interface VectorCase {
  tcId: number;
  comment: string;
  flags: string[];
  result: 'valid' | 'invalid';
  reason?: StatelessReason;
  reasonCode?: number;
  /** The message under test (token or request), hex. */
  message: string;
  context: VectorContext;
  signatures: VectorSignature[];
}

export interface VectorFile {
  algorithm: string;
  generatorVersion: string;
  seed: string;
  numberOfTests: number;
  header: string[];
  notes: Record<string, { bugType: string; description: string }>;
  issuerKeys: { cbor: string; issuerId: number; keys: { keyIndex: number; publicKey: string; notBefore: number; notAfter: number }[] };
  testGroups: { type: string; comment: string; tests: VectorCase[] }[];
}

const NOTES: VectorFile['notes'] = {
  Valid: { bugType: 'BASIC', description: 'A well-formed message that must be accepted.' },
  Boundary: { bugType: 'EDGE_CASE', description: 'A value at the edge of its range or of a CBOR integer width.' },
  Malformed: { bugType: 'MODIFIED_PARAMETER', description: 'Not a well-formed CBOR item: empty, truncated, trailing bytes, or an item offpay does not use.' },
  NonCanonical: { bugType: 'BER_ENCODING', description: 'Valid CBOR for the same value, but not the one RFC 8949 §4.2.1 deterministic encoding; decoders must re-encode and compare.' },
  WrongType: { bugType: 'MODIFIED_PARAMETER', description: 'Another message type where this one is expected.' },
  Version: { bugType: 'MODIFIED_PARAMETER', description: 'A protocol version this verifier does not implement.' },
  Structure: { bugType: 'MODIFIED_PARAMETER', description: 'A field missing, added, of the wrong kind, length or range.' },
  WeakKey: { bugType: 'AUTH_BYPASS', description: 'A small-order public key: with S = 0 and a small-order R a signature verifies for any message under the cofactorless equation.' },
  IssuerKey: { bugType: 'MISSING_STEP', description: 'Issuer key unknown or outside its validity window at the reader time.' },
  CertSignature: { bugType: 'AUTH_BYPASS', description: 'The issuer signature on the certificate does not verify for the certificate as received.' },
  CertValidity: { bugType: 'MISSING_STEP', description: 'Certificate validity at the reader time.' },
  TokenSignature: { bugType: 'AUTH_BYPASS', description: 'The wallet signature does not verify for the token as received.' },
  SignatureMalleability: { bugType: 'SIGNATURE_MALLEABILITY', description: 'S replaced by S + L: RFC 8032 strict verification requires S < L.' },
  Payee: { bugType: 'MISSING_STEP', description: 'Payee binding: the token must name this reader (or, for transit, its operator).' },
  Challenge: { bugType: 'MISSING_STEP', description: "Challenge binding to the reader's outstanding request." },
  RequestBound: { bugType: 'AUTH_BYPASS', description: 'A request-bound token (6 elements): its signed body is rebuilt from the request in the context (reader id, time, challenge); judged against any other request, or in the other form, its signature fails (spec/protocol.md §4.3).' },
  TimeWindow: { bugType: 'MISSING_STEP', description: 'Token or request time outside [now - maxAge, now + maxFuture].' },
  SignedTime: { bugType: 'MISSING_STEP', description: "Context validAt: the issuer key's window and the certificate's expiry day judged at the token's signed time ('signed', a tap-out) or at now ('now', the default)." },
  Amount: { bugType: 'MISSING_STEP', description: 'Currency and amount against the request or expected fare, and against the certificate limits.' },
  KeyRotation: { bugType: 'FUNCTIONALITY', description: 'A certificate signed with another valid issuer key index.' },
  Precedence: { bugType: 'EDGE_CASE', description: 'Several irregularities in one message: the first irregular CBOR head in reading order decides the reason (spec/protocol.md §3.4).' },
  Float: { bugType: 'BER_ENCODING', description: 'A floating-point number (any width, any value: integral, non-integral, NaN, -0.0): non_canonical, decided by the initial byte (spec/protocol.md §3.4).' },
  Limits: { bugType: 'EDGE_CASE', description: 'At or just past the 65,536-byte size limit or the 16-level nesting limit (spec/protocol.md §3.5).' },
  Shape: { bugType: 'MODIFIED_PARAMETER', description: 'The outer shape of a message: not an array, too few elements, the certificate missing or not an array (spec/protocol.md §5 step 2).' },
  Ed25519EdgeCase: { bugType: 'EDGE_CASE', description: 'A case of the Ed25519 edge-case catalogue (Chalkias, Garillot, Nikolaenko, "Taming the many EdDSAs", 2020): small-order or mixed-order A and R, S >= L, non-canonical A and R. The comment gives the paper case number and which equations hold; the wallet signature entry gives what offpay\'s rule (libsodium\'s) answers.' },
  MixedOrderKey: { bugType: 'AUTH_BYPASS', description: 'A certificate key with a small-order component (not in the prime-order subgroup): refused as weak_public_key before any signature check.' },
};

// ---------------------------------------------------------------------------------------------------------
// The seeded world

interface World {
  issuer: Issuer;
  keySet: IssuerKeySet;
  wallet: { secretKey: Uint8Array; cert: WalletCert };
  lowAllowance: { secretKey: Uint8Array; cert: WalletCert };
  usd: { secretKey: Uint8Array; cert: WalletCert };
  reader: { secretKey: Uint8Array; cert: ReaderCert };
  gate: { secretKey: Uint8Array; cert: ReaderCert };
}

const sk = (label: string) => seededSecretKey(VECTOR_SEED, label);
const signedWalletCert = (body: WalletCertBody): WalletCert => ({ ...body, issuerSignature: sign(walletCertSigningInput(body), sk('issuer-1')) });

function makeWorld(): World {
  const issuer = new Issuer(1, [
    { keyIndex: 1, secretKey: sk('issuer-1'), publicKey: publicKeyOf(sk('issuer-1')), notBefore: T0 - 365 * DAY, notAfter: T0 + 365 * DAY },
    { keyIndex: 2, secretKey: sk('issuer-2'), publicKey: publicKeyOf(sk('issuer-2')), notBefore: T0 - 30 * DAY, notAfter: T0 + 730 * DAY },
    { keyIndex: 3, secretKey: sk('issuer-3-retired'), publicKey: publicKeyOf(sk('issuer-3-retired')), notBefore: T0 - 730 * DAY, notAfter: T0 - DAY },
    { keyIndex: 4, secretKey: sk('issuer-4-future'), publicKey: publicKeyOf(sk('issuer-4-future')), notBefore: T0 + DAY, notAfter: T0 + 900 * DAY },
  ]);
  const walletCert = (label: string, limits: { maxPerPayment: number; offlineAllowance: number; currency: number }, keyIndex = 1, expiryDay = dayOf(T0) + 30) =>
    issuer.issueWalletCert({ walletPublicKey: publicKeyOf(sk(label)), expiryDay, ...limits }, T0, keyIndex);
  const readerCert = (label: string, readerId: number, operatorId: number, profile: 'vending' | 'transit') =>
    issuer.issueReaderCert({ readerId, readerPublicKey: publicKeyOf(sk(label)), operatorId, profile, notBefore: T0 - 10 * DAY, notAfter: T0 + 365 * DAY }, T0, 1);
  return {
    issuer,
    keySet: issuer.keySet(),
    wallet: { secretKey: sk('wallet-a'), cert: walletCert('wallet-a', { maxPerPayment: 70_000, offlineAllowance: 100_000, currency: 344 }) },
    // An allowance below maxPerPayment: Issuer.issueWalletCert refuses to sign it (spec/protocol.md §9.3), but
    // a reader must still judge such a certificate, so this one is signed directly with issuer key 1.
    lowAllowance: { secretKey: sk('wallet-b'), cert: signedWalletCert({ keyIndex: 1, walletPublicKey: publicKeyOf(sk('wallet-b')), expiryDay: dayOf(T0) + 30, maxPerPayment: 50_000, offlineAllowance: 20_000, currency: 344 }) },
    usd: { secretKey: sk('wallet-usd'), cert: walletCert('wallet-usd', { maxPerPayment: 10_000, offlineAllowance: 20_000, currency: 840 }) },
    reader: { secretKey: sk('reader-4201'), cert: readerCert('reader-4201', 4201, 90, 'vending') },
    gate: { secretKey: sk('gate-5001'), cert: readerCert('gate-5001', 5001, 77, 'transit') },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Building tokens, canonical and otherwise

interface TokenParts {
  cert: CborValue[];
  fields: CborValue[]; // the signed fields: payee, amount, counter, time, [challenge]
  signature: Uint8Array;
}

/** The wire array: one-way as signed; request-bound (5 signed fields) carries only amount and counter. */
function tokenArray(p: TokenParts): CborValue[] {
  if (p.fields.length === 5) return [5, 2, p.cert, p.fields[1]!, p.fields[2]!, p.signature];
  return [5, 2, p.cert, ...p.fields, p.signature];
}

/** Sign a token body given as raw CBOR elements (the wallet signs whatever it is given). */
function signedParts(walletSk: Uint8Array, cert: WalletCert | CborValue[], fields: CborValue[]): TokenParts {
  const certArr = Array.isArray(cert) ? cert : walletCertToCbor(cert);
  const body = encodeCbor([5, 2, certArr, ...fields]);
  const tag = 'OFFPAY-V2-TOKEN';
  const tagBytes = new TextEncoder().encode(tag);
  const input = new Uint8Array(1 + tagBytes.length + body.length);
  input[0] = tagBytes.length;
  input.set(tagBytes, 1);
  input.set(body, 1 + tagBytes.length);
  return { cert: certArr, fields, signature: sign(input, walletSk) };
}

/** Concatenate an array header with already-encoded elements (for non-canonical variants). */
function rawArray(header: number[], elems: Uint8Array[], trailer: number[] = []): Uint8Array {
  const len = header.length + elems.reduce((n, e) => n + e.length, 0) + trailer.length;
  const out = new Uint8Array(len);
  out.set(header, 0);
  let o = header.length;
  for (const e of elems) {
    out.set(e, o);
    o += e.length;
  }
  out.set(trailer, o);
  return out;
}

function elems(p: TokenParts): Uint8Array[] {
  return tokenArray(p).map((e) => encodeCbor(e));
}

const L = ED_L;

/** S + L: the malleated twin of a valid signature (still < 2^256 for these vectors). */
export function malleate(sig: Uint8Array): Uint8Array {
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]!);
  s += L;
  const out = sig.slice();
  for (let i = 0; i < 32; i++) {
    out[32 + i] = Number(s & 0xffn);
    s >>= 8n;
  }
  if (s !== 0n) throw new Error('S + L overflowed 256 bits');
  return out;
}

function flip(b: Uint8Array, index: number): Uint8Array {
  const c = b.slice();
  c[index] = c[index]! ^ 0x01;
  return c;
}

// ---------------------------------------------------------------------------------------------------------
// Signatures listed in a case

/** One signature entry: the exact signed bytes and what offpay's Ed25519 rule says about them. */
function entry(role: VectorSignature['role'], publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): VectorSignature {
  const valid = nobleEd25519.verify(signature, message, publicKey);
  return { role, publicKey: toHex(publicKey), message: toHex(message), signature: toHex(signature), valid };
}

/** The two signatures of a certificate-carrying message: the issuer's on the certificate, the holder's on the message. */
function certified(keySet: IssuerKeySet, keyIndex: number, issuerSig: [Uint8Array, Uint8Array], holder: VectorSignature): VectorSignature[] {
  const key = keySet.keys.find((k) => k.keyIndex === keyIndex);
  return [...(key ? [entry('issuer', key.publicKey, issuerSig[0], issuerSig[1])] : []), holder];
}

/**
 * A token's signatures. A request-bound token's signed bytes are rebuilt from the case's request (its reader id,
 * time and challenge); without a request there are none to list for the wallet, only the issuer's.
 */
function tokenSignatures(bytes: Uint8Array, keySet: IssuerKeySet, ctx: VerifyContext, fallback?: Uint8Array): VectorSignature[] {
  let d;
  try {
    d = decodeTokenWithInputs(bytes, ctx.request ? { payee: ctx.request.readerId, time: ctx.request.time, challenge: ctx.request.challenge } : undefined);
  } catch {
    return fallback ? tokenSignatures(fallback, keySet, ctx) : [];
  }
  const c = d.wire.walletCert;
  const key = keySet.keys.find((k) => k.keyIndex === c.keyIndex);
  const issuer = key ? [entry('issuer', key.publicKey, walletCertSigningInput(c), c.issuerSignature)] : [];
  return d.tokenSigningInput ? [...issuer, entry('wallet', c.walletPublicKey, d.tokenSigningInput, d.wire.walletSignature)] : issuer;
}

function requestSignatures(bytes: Uint8Array, keySet: IssuerKeySet, fallback?: Uint8Array): VectorSignature[] {
  let r: PaymentRequest;
  try {
    r = decodeRequest(bytes);
  } catch {
    return fallback ? requestSignatures(fallback, keySet) : [];
  }
  const c = r.readerCert;
  return certified(keySet, c.keyIndex, [readerCertSigningInput(c), c.issuerSignature], entry('reader', c.readerPublicKey, requestSigningInput(r), r.readerSignature));
}

// ---------------------------------------------------------------------------------------------------------
// Contexts

function ctxToJson(c: VerifyContext): VectorContext {
  return {
    now: c.now,
    payees: c.payees,
    ...(c.request ? { request: { ...c.request, challenge: toHex(c.request.challenge) } } : {}),
    ...(c.expected ? { expected: c.expected } : {}),
    maxAgeSeconds: c.maxAgeSeconds ?? 300,
    maxFutureSeconds: c.maxFutureSeconds ?? 60,
    ...(c.validAt === 'signed' ? { validAt: 'signed' as const } : {}),
  };
}

export function contextFromJson(c: VectorContext, issuerKeys: IssuerKeySet): VerifyContext {
  return {
    issuerKeys,
    now: c.now,
    payees: c.payees,
    request: c.request ? { ...c.request, challenge: fromHex(c.request.challenge) } : undefined,
    expected: c.expected,
    maxAgeSeconds: c.maxAgeSeconds,
    maxFutureSeconds: c.maxFutureSeconds,
    validAt: c.validAt === 'signed' ? 'signed' : 'now',
  };
}

// ---------------------------------------------------------------------------------------------------------
// The cases

interface Decl {
  comment: string;
  flags: string[];
  reason?: StatelessReason; // undefined = valid
  bytes: Uint8Array;
  ctx: VerifyContext;
  /** Canonical original of a non-canonical variant, for the signature list. */
  original?: Uint8Array;
}

function tokenCases(w: World): Decl[] {
  const out: Decl[] = [];
  const challenge = Uint8Array.from([0x3c, 0x91, 0x0e, 0x5a, 0x77, 0x02, 0xd4, 0x18]);
  const request = { readerId: 4201, amount: 1250, currency: 344, challenge, time: T0 - 20 };
  const vending: VerifyContext = { issuerKeys: w.keySet, now: T0, payees: [4201] };
  const vendingReq: VerifyContext = { ...vending, request };
  const gate: VerifyContext = { issuerKeys: w.keySet, now: T0, payees: [5001, 77], expected: { amount: 1100, currency: 344 }, maxAgeSeconds: 120 };

  const fields = (o: Partial<Record<'payee' | 'amount' | 'counter' | 'time', CborValue>> & { challenge?: Uint8Array } = {}): CborValue[] => {
    const f: CborValue[] = [o.payee ?? 4201, o.amount ?? 1250, o.counter ?? 17, o.time ?? T0 - 10];
    if (o.challenge) f.push(o.challenge);
    return f;
  };
  const tok = (f: CborValue[], who = w.wallet) => signedParts(who.secretKey, who.cert, f);
  const bytesOf = (p: TokenParts) => encodeCbor(tokenArray(p));
  const add = (comment: string, flags: string[], reason: StatelessReason | undefined, bytes: Uint8Array, ctx: VerifyContext, original?: Uint8Array) =>
    out.push({ comment, flags, bytes, ctx, ...(reason ? { reason } : {}), ...(original ? { original } : {}) });

  const base = tok(fields());
  const baseBytes = bytesOf(base);
  /** A request-bound token's signed fields: payee = the request's reader id, its time and challenge. */
  const reqFields = (o: Partial<Record<'payee' | 'amount' | 'counter' | 'time', CborValue>> & { challenge?: Uint8Array } = {}) =>
    fields({ payee: request.readerId, time: request.time, challenge, ...o });
  const reqTok = tok(reqFields());
  const reqBytes = bytesOf(reqTok);
  /** The base token with element i replaced by raw bytes. */
  const replace0 = (i: number, b: Uint8Array) => rawArray([0x88], elems(base).map((e, j) => (j === i ? b : e)));

  // --- valid
  add('one-way vending token', ['Valid'], undefined, baseBytes, vending);
  add('request-bound token answering a payment request (6 elements: payee, time and challenge signed, not sent)', ['Valid', 'RequestBound'], undefined, reqBytes, vendingReq);
  add('request-bound token with counter 4294967295 and amount 70000 for a request of 70000', ['Valid', 'RequestBound', 'Boundary'], undefined,
    bytesOf(tok(reqFields({ amount: 70_000, counter: 0xffffffff }))), { ...vendingReq, request: { ...request, amount: 70_000 } });
  add('transit one-way token paying the operator id', ['Valid'], undefined, bytesOf(tok(fields({ payee: 77, amount: 1100 }))), gate);
  add('transit token paying the gate reader id', ['Valid'], undefined, bytesOf(tok(fields({ payee: 5001, amount: 1100 }))), gate);
  add('amount equal to the maximum per payment', ['Valid', 'Boundary'], undefined, bytesOf(tok(fields({ amount: 70_000 }))), vending);
  add('amount equal to the offline allowance', ['Valid', 'Boundary'], undefined, bytesOf(tok(fields({ amount: 20_000 }), w.lowAllowance)), vending);
  add('smallest amount, 1 minor unit', ['Valid', 'Boundary'], undefined, bytesOf(tok(fields({ amount: 1 }))), vending);
  for (const a of [23, 24, 255, 256, 65535, 65536])
    add(`amount ${a} (CBOR integer width boundary)`, ['Valid', 'Boundary'], undefined, bytesOf(tok(fields({ amount: a }))), vending);
  add('counter 1, the first counter value', ['Valid', 'Boundary'], undefined, bytesOf(tok(fields({ counter: 1 }))), vending);
  for (const c of [23, 24, 65536])
    add(`counter ${c} (CBOR integer width boundary)`, ['Valid', 'Boundary'], undefined, bytesOf(tok(fields({ counter: c }))), vending);
  add('counter 4294967295, the largest counter', ['Valid', 'Boundary'], undefined, bytesOf(tok(fields({ counter: 0xffffffff }))), vending);
  add('token time exactly maxAge before now', ['Valid', 'Boundary', 'TimeWindow'], undefined, bytesOf(tok(fields({ time: T0 - 300 }))), vending);
  add('token time exactly maxFuture after now', ['Valid', 'Boundary', 'TimeWindow'], undefined, bytesOf(tok(fields({ time: T0 + 60 }))), vending);
  add('certificate on its expiry day (valid through 23:59:59 UTC)', ['Valid', 'Boundary', 'CertValidity'], undefined, baseBytes, { ...vending, now: (dayOf(T0) + 31) * DAY - 1, maxAgeSeconds: 31 * DAY });
  add('reader time equal to the issuer key notAfter', ['Valid', 'Boundary', 'IssuerKey'], undefined, baseBytes, {
    ...vending,
    issuerKeys: { ...w.keySet, keys: w.keySet.keys.map((k) => (k.keyIndex === 1 ? { ...k, notAfter: T0 } : k)) },
  });
  const rotated = { secretKey: sk('wallet-rot'), cert: w.issuer.issueWalletCert({ walletPublicKey: publicKeyOf(sk('wallet-rot')), expiryDay: dayOf(T0) + 30, maxPerPayment: 50_000, offlineAllowance: 60_000, currency: 344 }, T0, 2) };
  add('certificate signed with issuer key index 2 (rotation)', ['Valid', 'KeyRotation'], undefined, bytesOf(tok(fields(), rotated)), vending);
  const k255: IssuerKeySet = { ...w.keySet, keys: [...w.keySet.keys, { keyIndex: 255, publicKey: publicKeyOf(sk('issuer-1')), notBefore: T0 - DAY, notAfter: T0 + DAY }] };
  const body255 = { keyIndex: 255, walletPublicKey: publicKeyOf(sk('wallet-255')), expiryDay: dayOf(T0) + 30, maxPerPayment: 50_000, offlineAllowance: 60_000, currency: 344 };
  const cert255: WalletCert = { ...body255, issuerSignature: sign(walletCertSigningInput(body255), sk('issuer-1')) };
  add('certificate naming issuer key index 255, the largest', ['Valid', 'Boundary', 'IssuerKey'], undefined, bytesOf(tok(fields(), { secretKey: sk('wallet-255'), cert: cert255 })), { ...vending, issuerKeys: k255 });
  add('largest payee id, 4294967295', ['Valid', 'Boundary'], undefined, bytesOf(tok(fields({ payee: 0xffffffff }))), { ...vending, payees: [0xffffffff] });

  // --- malformed
  add('empty input', ['Malformed'], 'malformed', new Uint8Array(0), vending);
  add('a lone 0xff break byte', ['Malformed'], 'malformed', Uint8Array.from([0xff]), vending);
  add('truncated by one byte', ['Malformed'], 'malformed', baseBytes.slice(0, -1), vending, baseBytes);
  add('truncated to half', ['Malformed'], 'malformed', baseBytes.slice(0, baseBytes.length >> 1), vending, baseBytes);
  add('one trailing zero byte', ['Malformed'], 'malformed', rawArray([], [baseBytes], [0x00]), vending, baseBytes);
  add('the token twice (trailing CBOR item)', ['Malformed'], 'malformed', rawArray([], [baseBytes, baseBytes]), vending, baseBytes);
  add('a CBOR map instead of an array', ['Malformed'], 'malformed', Uint8Array.from([0xa1, 0x01, 0x02]), vending);
  add('the time field wrapped in tag 1 (epoch date)', ['Malformed'], 'malformed', rawArray([0x88], elems(base).map((e, i) => (i === 6 ? rawArray([0xc1], [e]) : e))), vending, baseBytes);
  add('time as a text string (offpay messages carry no text: any text string is malformed)', ['Malformed'], 'malformed', encodeCbor([5, 2, base.cert, ...fields({ time: '2026-11-18T20:26:30Z' }), base.signature]), vending, baseBytes);
  add('time as a text string of invalid UTF-8 (the bytes are never examined)', ['Malformed'], 'malformed', replace0(6, Uint8Array.from([0x62, 0xc3, 0x28])), vending, baseBytes);
  add('the counter as the simple value true', ['Malformed'], 'malformed', replace0(5, Uint8Array.from([0xf5])), vending, baseBytes);
  add('the challenge as null', ['Malformed'], 'malformed', rawArray([0x89], [...elems(base).slice(0, 7), Uint8Array.from([0xf6]), elems(base)[7]!]), vending, baseBytes);

  // --- parser precedence (spec/protocol.md §3.4): the first irregular head decides
  add('non-shortest array head (98 08), then the time as a map', ['Precedence', 'NonCanonical'], 'non_canonical', rawArray([0x98, 0x08], elems(base).map((e, i) => (i === 6 ? Uint8Array.from([0xa1, 0x01, 0x02]) : e))), vending, baseBytes);
  add('non-shortest array head (98 08), then the time wrapped in tag 1', ['Precedence', 'NonCanonical'], 'non_canonical', rawArray([0x98, 0x08], elems(base).map((e, i) => (i === 6 ? rawArray([0xc1], [e]) : e))), vending, baseBytes);
  add('non-shortest array head (98 08), then truncated', ['Precedence', 'NonCanonical'], 'non_canonical', rawArray([0x98, 0x08], elems(base)).slice(0, 40), vending, baseBytes);
  add('the amount as a map, then a non-shortest time', ['Precedence', 'Malformed'], 'malformed', rawArray([0x88], elems(base).map((e, i) => (i === 4 ? Uint8Array.from([0xa1, 0x01, 0x02]) : i === 6 ? rawArray([0x1b, 0, 0, 0, 0], [e.slice(1)]) : e))), vending, baseBytes);
  add('a non-shortest amount, then trailing bytes', ['Precedence', 'NonCanonical'], 'non_canonical', rawArray([0x88], elems(base).map((e, i) => (i === 4 ? Uint8Array.from([0x1a, 0x00, 0x00, 0x04, 0xe2]) : e)), [0x00]), vending, baseBytes);
  add('a non-shortest head cut short by the end of the input (1a 00 00)', ['Precedence', 'Malformed'], 'malformed', rawArray([0x88], elems(base).slice(0, 4), [0x1a, 0x00, 0x00]), vending, baseBytes);
  add('an array head announcing more elements than bytes left, before a non-shortest element', ['Precedence', 'Malformed'], 'malformed', Uint8Array.from([0x98, 0xff, 0x18, 0x05]), vending);

  // --- floats (spec/protocol.md §3.4): every float is non_canonical, whatever its width and value
  add('the amount as a float16 NaN', ['Float', 'NonCanonical'], 'non_canonical', replace0(4, Uint8Array.from([0xf9, 0x7e, 0x00])), vending, baseBytes);
  add('the amount as a float16 -0.0', ['Float', 'NonCanonical'], 'non_canonical', replace0(4, Uint8Array.from([0xf9, 0x80, 0x00])), vending, baseBytes);
  add('the amount as a float32 1250.5 (not integral)', ['Float', 'NonCanonical'], 'non_canonical', replace0(4, Uint8Array.from([0xfa, 0x44, 0x9c, 0x50, 0x00])), vending, baseBytes);
  add('the amount as a float64 1250.0 (integral)', ['Float', 'NonCanonical'], 'non_canonical', replace0(4, Uint8Array.from([0xfb, 0x40, 0x93, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00])), vending, baseBytes);
  add('the amount as a float64 NaN', ['Float', 'NonCanonical'], 'non_canonical', replace0(4, Uint8Array.from([0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0])), vending, baseBytes);
  add('the counter as a float64 -0.0', ['Float', 'NonCanonical'], 'non_canonical', replace0(5, Uint8Array.from([0xfb, 0x80, 0, 0, 0, 0, 0, 0, 0])), vending, baseBytes);

  // --- limits (spec/protocol.md §3.5)
  const nested = (levels: number) => Uint8Array.from([...new Array<number>(levels - 1).fill(0x81), 0x80]);
  add('16 nested arrays (the deepest a decoder accepts; not a token)', ['Limits', 'Shape'], 'bad_structure', nested(16), vending);
  add('17 nested arrays (too deep)', ['Limits', 'Malformed'], 'malformed', nested(17), vending);
  const big = new Uint8Array(65_536);
  big.set([0x59, 0xff, 0xfd]);
  add('a 65,536-byte message (a byte string; the largest size a decoder parses)', ['Limits', 'Shape'], 'bad_structure', big, vending);
  add('a 65,537-byte message (too large, refused before parsing)', ['Limits', 'Malformed'], 'malformed', rawArray([], [big], [0x00]), vending);

  // --- shape (spec/protocol.md §5 step 2)
  add('top level an integer (05), not an array', ['Shape'], 'bad_structure', Uint8Array.from([0x05]), vending);
  add('top level a byte string', ['Shape'], 'bad_structure', encodeCbor(baseBytes.slice(0, 20)), vending);
  add('top level the empty array []', ['Shape'], 'bad_structure', Uint8Array.from([0x80]), vending);
  add('top level [5]', ['Shape'], 'bad_structure', Uint8Array.from([0x81, 0x05]), vending);
  add('top level [5, 2]', ['Shape'], 'bad_structure', Uint8Array.from([0x82, 0x05, 0x02]), vending);
  add('[4] (one element: too short before the type is read)', ['Shape'], 'bad_structure', Uint8Array.from([0x81, 0x04]), vending);
  add('element 0 a byte string', ['Shape', 'WrongType'], 'wrong_type', encodeCbor([Uint8Array.of(5), 2, base.cert, ...base.fields, base.signature]), vending);
  add('the certificate missing (7 elements)', ['Shape'], 'bad_structure', encodeCbor([5, 2, ...base.fields, base.signature]), vending);
  add('the certificate a byte string (its encoding) instead of an array', ['Shape'], 'bad_structure', encodeCbor([5, 2, encodeCbor(base.cert), ...base.fields, base.signature]), vending);
  add('the certificate an array of one element [2]', ['Shape'], 'bad_structure', encodeCbor([5, 2, [2], ...base.fields, base.signature]), vending);
  add('a token of 7 elements whose certificate has type 3 (the token count is checked first)', ['Shape'], 'bad_structure', encodeCbor([5, 2, [3, ...(base.cert as CborValue[]).slice(1)], ...base.fields.slice(0, 3), base.signature]), vending);

  // --- non-canonical (RFC 8949 §4.2.1)
  const be = elems(base);
  const replace = (i: number, b: Uint8Array, header: number[] = [0x88]) => rawArray(header, be.map((e, j) => (j === i ? b : e)));
  add('amount 1250 as a 32-bit integer (non-shortest argument)', ['NonCanonical'], 'non_canonical', replace(4, Uint8Array.from([0x1a, 0x00, 0x00, 0x04, 0xe2])), vending, baseBytes);
  add('time as a 64-bit integer (non-shortest argument)', ['NonCanonical'], 'non_canonical', replace(6, rawArray([0x1b, 0, 0, 0, 0], [be[6]!.slice(1)])), vending, baseBytes);
  add('array header with a one-byte length argument (98 08)', ['NonCanonical'], 'non_canonical', rawArray([0x98, 0x08], be), vending, baseBytes);
  add('indefinite-length array', ['NonCanonical'], 'non_canonical', rawArray([0x9f], be, [0xff]), vending, baseBytes);
  add('signature byte string with a two-byte length (59 00 40)', ['NonCanonical'], 'non_canonical', replace(7, rawArray([0x59, 0x00, 0x40], [base.signature])), vending, baseBytes);
  add('indefinite-length byte string for the signature', ['NonCanonical'], 'non_canonical', replace(7, rawArray([0x5f, 0x58, 0x20], [base.signature.slice(0, 32), Uint8Array.from([0x58, 0x20]), base.signature.slice(32)], [0xff])), vending, baseBytes);
  add('amount as a float32 (1250.0)', ['NonCanonical'], 'non_canonical', replace(4, Uint8Array.from([0xfa, 0x44, 0x9c, 0x40, 0x00])), vending, baseBytes);
  add('counter as a float16 (17.0)', ['NonCanonical'], 'non_canonical', replace(5, Uint8Array.from([0xf9, 0x4c, 0x40])), vending, baseBytes);
  const ce = (base.cert as CborValue[]).map((e) => encodeCbor(e));
  add('certificate expiry day as a 32-bit integer inside the embedded certificate', ['NonCanonical'], 'non_canonical',
    replace(2, rawArray([0x89], ce.map((e, j) => (j === 4 ? rawArray([0x1a, 0x00, 0x00], [e.slice(1)]) : e)))), vending, baseBytes);

  // --- type and version
  const retag = (t: number, v: number) => encodeCbor([t, v, base.cert, ...base.fields, base.signature]);
  add('message type 4 (a payment request) where a token is expected', ['WrongType'], 'wrong_type', retag(4, 2), vending);
  add('message type 2 (a bare wallet certificate)', ['WrongType'], 'wrong_type', encodeCbor(base.cert), vending);
  add('token version 1 (offpay v1: not implemented by a v2 verifier)', ['Version'], 'unsupported_version', retag(5, 1), vending);
  add('token version 3', ['Version'], 'unsupported_version', retag(5, 3), vending);
  add('token version 0', ['Version'], 'unsupported_version', retag(5, 0), vending);
  const certV1 = [...(base.cert as CborValue[])];
  certV1[1] = 1;
  add('embedded certificate of version 1', ['Version'], 'unsupported_version', bytesOf(tok(fields(), { secretKey: w.wallet.secretKey, cert: certV1 as unknown as WalletCert })), vending);
  const certT3 = [...(base.cert as CborValue[])];
  certT3[0] = 3;
  add('embedded certificate with message type 3', ['WrongType'], 'wrong_type', bytesOf(tok(fields(), { secretKey: w.wallet.secretKey, cert: certT3 as unknown as WalletCert })), vending);

  // --- structure
  const struct = (comment: string, f: CborValue[], certArr?: CborValue[]) =>
    add(comment, ['Structure'], 'bad_structure', encodeCbor([5, 2, certArr ?? base.cert, ...f, base.signature]), vending);
  struct('a token with 7 elements (time missing)', fields().slice(0, 3));
  struct('a token with 10 elements', [...fields({ challenge }), 0]);
  struct('a token of 9 elements (the v1 form with the challenge on the wire)', fields({ challenge }));
  add('a token of 7 elements (a request-bound token with the time appended)', ['Structure', 'RequestBound'], 'bad_structure', encodeCbor([5, 2, reqTok.cert, 1250, 17, T0 - 20, reqTok.signature]), vendingReq);
  add('a request-bound token with amount 2^32 (above the uint32 bound)', ['Structure', 'RequestBound', 'Boundary'], 'bad_structure', encodeCbor([5, 2, reqTok.cert, 0x100000000, 17, reqTok.signature]), vendingReq);
  struct('negative amount', fields({ amount: -1250 }));
  struct('amount as a byte string', fields({ amount: Uint8Array.from([0x04, 0xe2]) }));
  struct('counter 0 (counters start at 1)', fields({ counter: 0 }));
  struct('counter 4294967296 (above 2^32 - 1)', fields({ counter: 0x100000000 }));
  struct('payee 4294967296 (above 2^32 - 1)', fields({ payee: 0x100000000 }));

  struct('amount above 2^53 - 1', fields({ amount: 2n ** 60n }));
  struct('amount 4294967296 (above 2^32 - 1)', fields({ amount: 0x100000000 }));
  const certMut = (i: number, v: CborValue) => {
    const c = [...(base.cert as CborValue[])];
    c[i] = v;
    return c;
  };
  struct('maximum per payment 4294967296 in the certificate (above 2^32 - 1)', fields(), certMut(5, 0x100000000));
  struct('wallet public key of 31 bytes', fields(), certMut(3, w.wallet.cert.walletPublicKey.slice(0, 31)));
  struct('issuer signature of 63 bytes', fields(), certMut(8, w.wallet.cert.issuerSignature.slice(0, 63)));
  struct('currency 0', fields(), certMut(7, 0));
  struct('currency 1000 (ISO 4217 numeric codes have 3 digits)', fields(), certMut(7, 1000));
  struct('issuer key index 256', fields(), certMut(2, 256));
  add('wallet signature of 65 bytes', ['Structure'], 'bad_structure', encodeCbor([5, 2, base.cert, ...base.fields, Uint8Array.from([...base.signature, 0])]), vending);

  // --- weak key (an issuer that certified a small-order key, and the universal forgery it enables)
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const weakBody = { keyIndex: 1, walletPublicKey: identity, expiryDay: dayOf(T0) + 30, maxPerPayment: 50_000, offlineAllowance: 60_000, currency: 344 };
  const weakCert: WalletCert = { ...weakBody, issuerSignature: sign(walletCertSigningInput(weakBody), sk('issuer-1')) };
  const forged = new Uint8Array(64);
  forged[0] = 1; // R = identity, S = 0
  add('small-order wallet key (identity) with the universal forgery R = identity, S = 0', ['WeakKey'], 'weak_public_key', encodeCbor([5, 2, walletCertToCbor(weakCert), ...fields(), forged]), vending);

  // --- issuer key
  add('issuer key index 9 is not in the key set', ['IssuerKey'], 'unknown_issuer_key', encodeCbor([5, 2, certMut(2, 9), ...base.fields, base.signature]), vending);
  const retired = { secretKey: sk('wallet-old'), cert: w.issuer.issueWalletCert({ walletPublicKey: publicKeyOf(sk('wallet-old')), expiryDay: dayOf(T0) + 30, maxPerPayment: 50_000, offlineAllowance: 60_000, currency: 344 }, T0, 3) };
  add('certificate signed by issuer key 3, retired the day before', ['IssuerKey'], 'issuer_key_not_valid', bytesOf(tok(fields(), retired)), vending);
  const future = { secretKey: sk('wallet-new'), cert: w.issuer.issueWalletCert({ walletPublicKey: publicKeyOf(sk('wallet-new')), expiryDay: dayOf(T0) + 30, maxPerPayment: 50_000, offlineAllowance: 60_000, currency: 344 }, T0, 4) };
  add('certificate signed by issuer key 4, valid only from tomorrow', ['IssuerKey'], 'issuer_key_not_valid', bytesOf(tok(fields(), future)), vending);
  add('reader time one second after the issuer key notAfter', ['IssuerKey', 'Boundary'], 'issuer_key_not_valid', baseBytes, {
    ...vending,
    issuerKeys: { ...w.keySet, keys: w.keySet.keys.map((k) => (k.keyIndex === 1 ? { ...k, notAfter: T0 - 1 } : k)) },
  });

  // --- certificate signature
  const reSign = (c: CborValue[]) => bytesOf(tok(fields(), { secretKey: w.wallet.secretKey, cert: c as unknown as WalletCert }));
  add('issuer signature with one bit flipped', ['CertSignature'], 'bad_certificate_signature', reSign(certMut(8, flip(w.wallet.cert.issuerSignature, 5))), vending);
  add('maximum per payment raised after issuance (wallet re-signs the token)', ['CertSignature'], 'bad_certificate_signature', reSign(certMut(5, 5_000_000)), vending);
  add('certificate expiry extended after issuance', ['CertSignature'], 'bad_certificate_signature', reSign(certMut(4, dayOf(T0) + 3650)), vending);
  add('certificate signed by a key that is not an issuer key', ['CertSignature'], 'bad_certificate_signature',
    reSign(certMut(8, sign(walletCertSigningInput(w.wallet.cert), sk('mallory')))), vending);
  add('issuer signature malleated to S + L', ['CertSignature', 'SignatureMalleability'], 'bad_certificate_signature', reSign(certMut(8, malleate(w.wallet.cert.issuerSignature))), vending);
  add('issuer signature all zero', ['CertSignature'], 'bad_certificate_signature', reSign(certMut(8, new Uint8Array(64))), vending);

  // --- certificate validity
  const expired = { secretKey: sk('wallet-exp'), cert: w.issuer.issueWalletCert({ walletPublicKey: publicKeyOf(sk('wallet-exp')), expiryDay: dayOf(T0) - 1, maxPerPayment: 50_000, offlineAllowance: 60_000, currency: 344 }, T0, 1) };
  add('certificate expired at the end of yesterday', ['CertValidity'], 'certificate_expired', bytesOf(tok(fields(), expired)), vending);
  add('certificate one second after its expiry day', ['CertValidity', 'Boundary'], 'certificate_expired', baseBytes, { ...vending, now: (dayOf(T0) + 31) * DAY, maxAgeSeconds: 32 * DAY });

  // --- token signature
  add('wallet signature with one bit flipped', ['TokenSignature'], 'bad_token_signature', encodeCbor([5, 2, base.cert, ...base.fields, flip(base.signature, 40)]), vending);
  add('amount changed after signing', ['TokenSignature'], 'bad_token_signature', encodeCbor([5, 2, base.cert, ...fields({ amount: 125 }), base.signature]), vending);
  add('counter changed after signing', ['TokenSignature'], 'bad_token_signature', encodeCbor([5, 2, base.cert, ...fields({ counter: 18 }), base.signature]), vending);
  add('payee changed after signing', ['TokenSignature'], 'bad_token_signature', encodeCbor([5, 2, base.cert, ...fields({ payee: 4202 }), base.signature]), { ...vending, payees: [4202] });
  add('a request-bound signature presented as a one-way token (payee and time on the wire, no challenge)', ['TokenSignature', 'RequestBound'], 'bad_token_signature',
    encodeCbor([5, 2, reqTok.cert, request.readerId, 1250, 17, request.time, reqTok.signature]), vending);
  add('a one-way signature presented as a request-bound token', ['TokenSignature', 'RequestBound'], 'bad_token_signature', encodeCbor([5, 2, base.cert, 1250, 17, base.signature]), vendingReq);
  add('request-bound token judged against another request: other challenge', ['TokenSignature', 'RequestBound'], 'bad_token_signature', reqBytes, { ...vendingReq, request: { ...request, challenge: flip(challenge, 7) } });
  add('request-bound token judged against another request: other time', ['TokenSignature', 'RequestBound'], 'bad_token_signature', reqBytes, { ...vendingReq, request: { ...request, time: request.time + 1 } });
  add('request-bound token judged against another request: other reader id', ['TokenSignature', 'RequestBound'], 'bad_token_signature', reqBytes, { ...vendingReq, payees: [4202], request: { ...request, readerId: 4202 } });
  add('request-bound token with its amount changed to another request\'s amount', ['TokenSignature', 'RequestBound'], 'bad_token_signature',
    encodeCbor([5, 2, reqTok.cert, 1000, 17, reqTok.signature]), { ...vendingReq, request: { ...request, amount: 1000 } });
  add('wallet signature malleated to S + L', ['TokenSignature', 'SignatureMalleability'], 'bad_token_signature', encodeCbor([5, 2, base.cert, ...base.fields, malleate(base.signature)]), vending);
  add('token signed by another wallet key', ['TokenSignature'], 'bad_token_signature', bytesOf({ ...tok(fields(), { secretKey: sk('mallory'), cert: w.wallet.cert }) }), vending);
  add("another wallet's certificate spliced into a signed token", ['TokenSignature'], 'bad_token_signature', encodeCbor([5, 2, walletCertToCbor(w.lowAllowance.cert), ...base.fields, base.signature]), vending);

  // --- payee
  add('token for another vending reader', ['Payee'], 'wrong_payee', bytesOf(tok(fields({ payee: 4202 }))), vending);
  add("transit operator id presented at a vending reader of another operator", ['Payee'], 'wrong_payee', bytesOf(tok(fields({ payee: 77 }))), vending);

  // --- challenge
  add('one-way token where the reader issued a request', ['Challenge'], 'challenge_missing', baseBytes, vendingReq);
  add('request-bound token where the verifier has no request (nothing to rebuild its signed body from)', ['Challenge', 'RequestBound'], 'challenge_mismatch', reqBytes, vending);

  // --- time window
  add('token time one second older than maxAge', ['TimeWindow', 'Boundary'], 'time_too_old', bytesOf(tok(fields({ time: T0 - 301 }))), vending);
  add('token time one second beyond the allowed future skew', ['TimeWindow', 'Boundary'], 'time_in_future', bytesOf(tok(fields({ time: T0 + 61 }))), vending);
  add('transit token older than the gate 120 s window', ['TimeWindow'], 'time_too_old', bytesOf(tok(fields({ payee: 77, amount: 1100, time: T0 - 121 }))), gate);
  add('the request being answered has expired', ['TimeWindow', 'RequestBound'], 'time_too_old', bytesOf(tok(reqFields({ time: T0 - 301 }))), { ...vendingReq, request: { ...request, time: T0 - 301 } });

  // --- currency and amount
  add('USD wallet paying a HKD request', ['Amount'], 'currency_mismatch', bytesOf(tok(reqFields(), w.usd)), vendingReq);
  add('USD wallet at a HKD transit gate', ['Amount'], 'currency_mismatch', bytesOf(tok(fields({ payee: 77, amount: 1100 }), w.usd)), gate);
  add('amount zero', ['Amount', 'Boundary'], 'amount_invalid', bytesOf(tok(fields({ amount: 0 }))), vending);
  add('amount one minor unit less than requested', ['Amount'], 'amount_mismatch', bytesOf(tok(reqFields({ amount: 1249 }))), vendingReq);
  add('fare other than the gate fare', ['Amount'], 'amount_mismatch', bytesOf(tok(fields({ payee: 77, amount: 1000 }))), gate);
  add('amount above the maximum fare authorisation', ['Amount'], 'amount_mismatch', bytesOf(tok(fields({ amount: 2501 }))), { ...vending, expected: { maxAmount: 2500 } });
  add('amount one above the maximum per payment', ['Amount', 'Boundary'], 'over_payment_limit', bytesOf(tok(fields({ amount: 70_001 }))), vending);
  add('amount one above the offline allowance', ['Amount', 'Boundary'], 'over_offline_allowance', bytesOf(tok(fields({ amount: 20_001 }), w.lowAllowance)), vending);

  // --- validAt 'signed' (a tap-out): the key's end and the certificate's expiry day judged at the signed time less
  // maxFuture (the earliest reader time at which an entry gate could have taken the token), the key's start at now;
  // the time window still against now
  const endOfCert = (dayOf(T0) + 31) * DAY; // the first second after the base certificate's expiry day
  const lastMinute = bytesOf(tok(fields({ time: endOfCert - 10 })));
  const trip: VerifyContext = { ...vending, now: endOfCert + 600, maxAgeSeconds: 14_400, validAt: 'signed' };
  add('validAt signed: signed 10 s before the certificate ended, judged 600 s after (a tap-out after the expiry day)', ['Valid', 'SignedTime', 'CertValidity', 'Boundary'], undefined, lastMinute, trip);
  add('the same token and reader time with validAt now', ['CertValidity', 'SignedTime'], 'certificate_expired', lastMinute, { ...trip, validAt: 'now' });
  add('validAt signed: signed 59 s after the certificate ended (a wallet clock 60 s fast at a tap-in 1 s before the end): signed time less maxFuture is on the last day', ['Valid', 'SignedTime', 'CertValidity', 'Boundary'], undefined, bytesOf(tok(fields({ time: endOfCert + 59 }))), trip);
  add('validAt signed: signed maxFuture (60 s) after the certificate ended', ['CertValidity', 'SignedTime', 'Boundary'], 'certificate_expired', bytesOf(tok(fields({ time: endOfCert + 60 }))), trip);
  add('validAt signed: the certificate ended but the token time is more than maxAge old', ['TimeWindow', 'SignedTime'], 'time_too_old', lastMinute, { ...trip, now: endOfCert + 14_400 });
  add('validAt signed: a token time after its certificate ended and beyond maxFuture: the certificate (step 7) before the time window (step 11)', ['CertValidity', 'TimeWindow', 'SignedTime'], 'certificate_expired', bytesOf(tok(fields({ time: endOfCert + 10_000 }))), trip);
  const keyEnds = (notBefore: number, notAfter: number) => ({ ...w.keySet, keys: w.keySet.keys.map((k) => (k.keyIndex === 1 ? { ...k, notBefore, notAfter } : k)) });
  add('validAt signed: issuer key ended after the token time and before now', ['Valid', 'SignedTime', 'IssuerKey', 'Boundary'], undefined, baseBytes, {
    ...vending, issuerKeys: keyEnds(T0 - 86_400, T0 - 10), now: T0 + 600, maxAgeSeconds: 14_400, validAt: 'signed',
  });
  add('the same with validAt now', ['IssuerKey', 'SignedTime'], 'issuer_key_not_valid', baseBytes, { ...vending, issuerKeys: keyEnds(T0 - 86_400, T0 - 10), now: T0 + 600, maxAgeSeconds: 14_400, validAt: 'now' });
  add('validAt signed: issuer key notAfter equal to the token time less maxFuture', ['Valid', 'SignedTime', 'IssuerKey', 'Boundary'], undefined, baseBytes, {
    ...vending, issuerKeys: keyEnds(T0 - 86_400, T0 - 70), now: T0 + 600, maxAgeSeconds: 14_400, validAt: 'signed',
  });
  add('validAt signed: issuer key notAfter one second before the token time less maxFuture', ['IssuerKey', 'SignedTime', 'Boundary'], 'issuer_key_not_valid', baseBytes, {
    ...vending, issuerKeys: keyEnds(T0 - 86_400, T0 - 71), now: T0 + 600, maxAgeSeconds: 14_400, validAt: 'signed',
  });
  add('validAt signed: issuer key began after the token time but before now (a wallet clock slow in the key\'s first minute): its start is judged at now', ['Valid', 'IssuerKey', 'SignedTime', 'Boundary'], undefined, baseBytes, {
    ...vending, issuerKeys: keyEnds(T0 - 9, T0 + 86_400), validAt: 'signed',
  });
  add('validAt signed: issuer key begins one second after now', ['IssuerKey', 'SignedTime', 'Boundary'], 'issuer_key_not_valid', baseBytes, {
    ...vending, issuerKeys: keyEnds(T0 + 1, T0 + 86_400), validAt: 'signed',
  });
  // A request-bound token: its signed time is the request's time.
  const lateRequest = { ...request, time: endOfCert - 10 };
  const lateReqBytes = bytesOf(tok(reqFields({ time: endOfCert - 10 })));
  add('validAt signed: a request-bound token whose request time is 10 s before the certificate ended', ['Valid', 'SignedTime', 'CertValidity', 'RequestBound'], undefined, lateReqBytes, {
    ...vendingReq, request: lateRequest, now: endOfCert + 600, maxAgeSeconds: 14_400, validAt: 'signed',
  });
  add('validAt signed: a request-bound token whose request time is 60 s after the certificate ended', ['CertValidity', 'SignedTime', 'RequestBound'], 'certificate_expired', bytesOf(tok(reqFields({ time: endOfCert + 60 }))), {
    ...vendingReq, request: { ...request, time: endOfCert + 60 }, now: endOfCert + 600, maxAgeSeconds: 14_400, validAt: 'signed',
  });
  // A payment-code token signs time 0: the request's time stands in for it (rule P), here too.
  add('validAt signed: a payment-code token (signed time 0) whose request time is 10 s before the certificate ended', ['Valid', 'SignedTime', 'CertValidity', 'RequestBound'], undefined, bytesOf(tok(reqFields({ time: 0 }))), {
    ...vendingReq, request: { ...lateRequest, code: true }, now: endOfCert + 600, maxAgeSeconds: 14_400, validAt: 'signed',
  });
  add('validAt signed: a request-bound token judged without a request after the certificate ended: steps 5 and 7 at now, before step 8', ['CertValidity', 'SignedTime', 'RequestBound'], 'certificate_expired', reqBytes, {
    ...vending, now: endOfCert + 600, maxAgeSeconds: 32 * DAY, validAt: 'signed',
  });
  add('validAt signed: the same token without a request before the certificate ended: challenge_mismatch (step 8)', ['Challenge', 'SignedTime', 'RequestBound'], 'challenge_mismatch', reqBytes, { ...vending, validAt: 'signed' });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The Ed25519 edge-case group ("Taming the many EdDSAs", Chalkias, Garillot, Nikolaenko 2020, cases 0-11)

type Pt = InstanceType<typeof ed25519.Point>;

/**
 * Tokens whose wallet key and signature are crafted: for each case the wallet key A (in a certificate the issuer
 * key 1 signed directly, as a careless or compromised issuer would) and a signature (R, S) built from known
 * scalars and torsion points, ground over the counter until the case's condition on the equations holds.
 */
function edgeCases(w: World): Decl[] {
  const out: Decl[] = [];
  const P = ed25519.Point;
  const vending: VerifyContext = { issuerKeys: w.keySet, now: T0, payees: [4201] };
  const a = secretScalar(sk('edge-wallet'));
  const r = secretScalar(sk('edge-nonce'));
  const aB = P.BASE.multiply(a);
  const rB = P.BASE.multiply(r);
  const L = ED_L;
  const mod = (x: bigint) => ((x % L) + L) % L;
  const certFor = (A: Uint8Array): WalletCert => {
    const body = { keyIndex: 1, walletPublicKey: A, expiryDay: dayOf(T0) + 30, maxPerPayment: 50_000, offlineAllowance: 60_000, currency: 344 };
    return { ...body, issuerSignature: sign(walletCertSigningInput(body), sk('issuer-1')) };
  };
  const identityPPlus1 = fromHex('eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
  const order4P = fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'); // y = p: the point y = 0
  interface Sig { rBytes: Uint8Array; R: Pt; s: bigint }
  /**
   * Grind the counter from 17 until `accept` holds; `build` makes (R, S) for the signing input. `kCanonical` says
   * whether the case's lenient verifier hashes the canonical re-encodings of A and R instead of the bytes sent.
   */
  const make = (comment: string, reason: StatelessReason | undefined, flags: string[], A: Uint8Array, Apt: Pt, build: (msg: Uint8Array) => Sig,
    accept: (eq: { cofactorless: boolean; cofactored: boolean }) => boolean, kCanonical = false) => {
    const cert = certFor(A);
    for (let counter = 17; counter < 17 + 400; counter++) {
      const body: PaymentTokenBody = { walletCert: cert, payee: 4201, amount: 1250, counter, time: T0 - 10 };
      const msg = tokenSigningInput(body);
      const sig = build(msg);
      const k = kCanonical ? challengeScalar(sig.R.toBytes(), Apt.toBytes(), msg) : challengeScalar(sig.rBytes, A, msg);
      const eq = equations(Apt, sig.R, sig.s, k);
      if (!accept(eq)) continue;
      const signature = new Uint8Array(64);
      signature.set(sig.rBytes, 0);
      signature.set(le(sig.s), 32);
      const bytes = encodeCbor([5, 2, walletCertToCbor(cert), 4201, 1250, counter, T0 - 10, signature]);
      const eqs = `cofactorless ${eq.cofactorless ? 'holds' : 'fails'}, cofactored ${eq.cofactored ? 'holds' : 'fails'}${kCanonical ? ' (k over the canonical re-encoding)' : ''}`;
      out.push({ comment: `${comment}; ${eqs}`, flags: ['Ed25519EdgeCase', ...flags], bytes, ctx: vending, ...(reason ? { reason } : {}) });
      return;
    }
    throw new Error(`edge case not found: ${comment}`);
  };
  const T = torsionPoint;
  const honestS = (R: Uint8Array, A: Uint8Array, msg: Uint8Array) => mod(r + challengeScalar(R, A, msg) * a);
  const ka = (R: Uint8Array, A: Uint8Array, msg: Uint8Array, times = a) => mod(challengeScalar(R, A, msg) * times);

  const Ab = aB.toBytes();
  make('prime-order A, R = rB, S = r + ka: an ordinary signature', undefined, ['Valid'], Ab, aB, (m) => ({ rBytes: rB.toBytes(), R: rB, s: honestS(rB.toBytes(), Ab, m) }), (e) => e.cofactorless);
  // case 0: small-order A and R, S = 0
  const A8 = T(1);
  make('case 0: A and R of small order (A of order 8), S = 0', 'weak_public_key', ['WeakKey'], A8.toBytes(), A8,
    (m) => { for (let i = 0; i < 8; i++) { const R = T(i); if (R.add(A8.multiplyUnsafe(challengeScalar(R.toBytes(), A8.toBytes(), m))).is0()) return { rBytes: R.toBytes(), R, s: 0n }; } return { rBytes: T(0).toBytes(), R: T(0), s: 0n }; },
    (e) => e.cofactorless);
  // case 1: small-order A, mixed-order R
  const R1 = rB.add(T(3));
  make('case 1: A of small order (order 8), R = rB + T mixed order, S = r', 'weak_public_key', ['WeakKey'], A8.toBytes(), A8, () => ({ rBytes: R1.toBytes(), R: R1, s: r }), (e) => e.cofactored && e.cofactorless);
  // case 2: mixed-order A, small-order R
  const Am = aB.add(T(1));
  const Amb = Am.toBytes();
  make('case 2: A = aB + T mixed order, R of small order (order 4), S = ka', 'weak_public_key', ['MixedOrderKey'], Amb, Am, (m) => ({ rBytes: T(2).toBytes(), R: T(2), s: ka(T(2).toBytes(), Amb, m) }), (e) => e.cofactorless);
  // cases 3 and 4: mixed-order A and R
  const Rm = rB.add(T(5));
  make('case 3: A and R of mixed order, S = r + ka, the cofactorless equation holds (libsodium accepts the signature; the certificate key is refused)', 'weak_public_key', ['MixedOrderKey'], Amb, Am,
    (m) => ({ rBytes: Rm.toBytes(), R: Rm, s: honestS(Rm.toBytes(), Amb, m) }), (e) => e.cofactorless);
  make('case 4: A and R of mixed order, S = r + ka, only the cofactored equation holds', 'weak_public_key', ['MixedOrderKey'], Amb, Am,
    (m) => ({ rBytes: Rm.toBytes(), R: Rm, s: honestS(Rm.toBytes(), Amb, m) }), (e) => e.cofactored && !e.cofactorless);
  // case 5: mixed-order A, prime-order R
  make('case 5: A of mixed order, R = rB, S = r + ka, only the cofactored equation holds', 'weak_public_key', ['MixedOrderKey'], Amb, Am,
    (m) => ({ rBytes: rB.toBytes(), R: rB, s: honestS(rB.toBytes(), Amb, m) }), (e) => e.cofactored && !e.cofactorless);
  make('mixed-order A, R = rB, S = r + ka, the cofactorless equation holds (about 1 in 8): the signature is valid, the certificate key is refused', 'weak_public_key', ['MixedOrderKey'], Amb, Am,
    (m) => ({ rBytes: rB.toBytes(), R: rB, s: honestS(rB.toBytes(), Amb, m) }), (e) => e.cofactorless);
  // the reader/clearing split of issue 12: prime-order A, R' = rB + T
  const Rp = rB.add(T(1));
  make("case 5 turned on R: prime-order A, R' = rB + T (T of order 8), S = r + ka: a cofactored verifier accepts, offpay's rule refuses", 'bad_token_signature', ['TokenSignature'], Ab, aB,
    (m) => ({ rBytes: Rp.toBytes(), R: Rp, s: honestS(Rp.toBytes(), Ab, m) }), (e) => e.cofactored && !e.cofactorless);
  make('prime-order A, R of small order (order 8), S = ka: a cofactored verifier accepts, R is refused', 'bad_token_signature', ['TokenSignature'], Ab, aB,
    (m) => ({ rBytes: T(1).toBytes(), R: T(1), s: ka(T(1).toBytes(), Ab, m) }), (e) => e.cofactored);
  // cases 6 and 7: S >= L
  for (const [label, n] of [['case 6: S + L (S >= L)', 1n], ['case 7: S + 15L (S far above L, top bits set)', 15n]] as const) {
    const cert = certFor(Ab);
    const body: PaymentTokenBody = { walletCert: cert, payee: 4201, amount: 1250, counter: 17, time: T0 - 10 };
    const msg = tokenSigningInput(body);
    const s0 = honestS(rB.toBytes(), Ab, msg);
    const signature = new Uint8Array(64);
    signature.set(rB.toBytes(), 0);
    signature.set(le(s0 + n * L), 32);
    if (s0 + n * L >= 2n ** 256n) throw new Error('S + nL overflows');
    out.push({ comment: `${label}, prime-order A and R; the equation holds for S mod L`, flags: ['Ed25519EdgeCase', 'TokenSignature', 'SignatureMalleability'], reason: 'bad_token_signature',
      bytes: encodeCbor([5, 2, walletCertToCbor(cert), 4201, 1250, 17, T0 - 10, signature]), ctx: vending });
  }
  // cases 8 and 9: non-canonical R (the identity written as y = p + 1)
  make('case 8: R non-canonical (the identity as y = p + 1), prime-order A, S = ka with k over the bytes sent', 'bad_token_signature', ['TokenSignature'], Ab, aB,
    (m) => ({ rBytes: identityPPlus1, R: P.ZERO, s: ka(identityPPlus1, Ab, m) }), (e) => e.cofactorless);
  make('case 9: R non-canonical (the identity as y = p + 1), prime-order A, S = ka with k over the canonical encoding of R', 'bad_token_signature', ['TokenSignature'], Ab, aB,
    (m) => ({ rBytes: identityPPlus1, R: P.ZERO, s: ka(P.ZERO.toBytes(), Ab, m) }), (e) => e.cofactorless, true);
  // cases 10 and 11: non-canonical A
  make('case 10: A non-canonical (the identity as y = p + 1), R = rB, S = r', 'weak_public_key', ['WeakKey'], identityPPlus1, P.ZERO,
    () => ({ rBytes: rB.toBytes(), R: rB, s: r }), (e) => e.cofactorless);
  const A4 = P.fromBytes(order4P, true);
  make('case 11: A non-canonical (the order-4 point y = 0 written as y = p), R = rB, S = r, k over the canonical encoding of A', 'weak_public_key', ['WeakKey'], order4P, A4,
    () => ({ rBytes: rB.toBytes(), R: rB, s: r }), (e) => e.cofactorless, true);
  return out;
}

function requestCases(w: World): Decl[] {
  const out: Decl[] = [];
  const ctx: VerifyContext = { issuerKeys: w.keySet, now: T0, payees: [] };
  const challenge = Uint8Array.from([0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7]);
  const { request, bytes } = createRequest(w.reader, { amount: 1250, currency: 344, time: T0 - 5, challenge });
  const add = (comment: string, flags: string[], reason: StatelessReason | undefined, b: Uint8Array, c = ctx, original?: Uint8Array) =>
    out.push({ comment, flags, bytes: b, ctx: c, ...(reason ? { reason } : {}), ...(original ? { original } : {}) });
  const arr = requestToCbor(request);
  const re = (i: number, v: CborValue) => {
    const a = [...arr];
    a[i] = v;
    return encodeCbor(a);
  };
  const resign = (mut: (a: CborValue[]) => void) => {
    const a = [...arr];
    mut(a);
    const body = encodeCbor(a.slice(0, 7));
    const tag = new TextEncoder().encode('OFFPAY-V2-REQUEST');
    const input = new Uint8Array([tag.length, ...tag, ...body]);
    a[7] = sign(input, w.reader.secretKey);
    return encodeCbor(a);
  };
  add('payment request from vending reader 4201', ['Valid'], undefined, bytes);
  add('payment request from transit gate 5001', ['Valid'], undefined, createRequest(w.gate, { amount: 1100, currency: 344, time: T0, challenge }).bytes);
  add('request signature with one bit flipped', ['TokenSignature'], 'bad_request_signature', re(7, flip(request.readerSignature, 3)));
  add('amount changed after signing', ['TokenSignature'], 'bad_request_signature', re(3, 125));
  add('request signature malleated to S + L', ['SignatureMalleability'], 'bad_request_signature', re(7, malleate(request.readerSignature)));
  const rc = readerCertToCbor(w.reader.cert);
  const rcMut = (i: number, v: CborValue) => {
    const c = [...rc];
    c[i] = v;
    return c;
  };
  add('reader id changed in the certificate after issuance', ['CertSignature'], 'bad_certificate_signature', resign((a) => (a[2] = rcMut(3, 4202))));
  add('reader certificate naming an unknown issuer key', ['IssuerKey'], 'unknown_issuer_key', resign((a) => (a[2] = rcMut(2, 9))));
  add('reader certificate not yet valid', ['CertValidity'], 'certificate_expired', bytes, { ...ctx, now: w.reader.cert.notBefore - 1 });
  add('request older than maxAge', ['TimeWindow'], 'time_too_old', bytes, { ...ctx, now: T0 + 301 });
  add('request dated in the future', ['TimeWindow'], 'time_in_future', resign((a) => (a[6] = T0 + 61)));
  add('challenge of 9 bytes', ['Structure'], 'bad_structure', resign((a) => (a[5] = new Uint8Array(9))));
  add('amount 0', ['Structure'], 'bad_structure', resign((a) => (a[3] = 0)));
  add('a token where a request is expected', ['WrongType'], 'wrong_type', encodeCbor([5, ...arr.slice(1)]));
  add('request version 1', ['Version'], 'unsupported_version', encodeCbor([4, 1, ...arr.slice(2)]));
  add('non-shortest amount (19 00 0a... as 1a)', ['NonCanonical'], 'non_canonical',
    rawArray([0x88], arr.map((e, i) => (i === 3 ? Uint8Array.from([0x1a, 0, 0, 0x04, 0xe2]) : encodeCbor(e)))), ctx, bytes);
  add('trailing byte', ['Malformed'], 'malformed', rawArray([], [bytes], [0]), ctx, bytes);
  const weakReaderBody = { ...w.reader.cert, readerPublicKey: new Uint8Array(32) };
  add('reader certificate with a small-order key', ['WeakKey'], 'weak_public_key', resign((a) => (a[2] = readerCertToCbor({ ...weakReaderBody, issuerSignature: sign(readerCertSigningInput(weakReaderBody), sk('issuer-1')) }))));
  // A mixed-order reader key (a prime-order point plus a point of order 8), certified by issuer key 1 directly.
  const mixedKey = ed25519.Point.BASE.multiply(secretScalar(sk('reader-mixed'))).add(torsionPoint(1)).toBytes();
  const mixedBody = { ...w.reader.cert, readerPublicKey: mixedKey };
  add('reader certificate with a mixed-order key (prime-order point + order-8 point)', ['MixedOrderKey'], 'weak_public_key', resign((a) => (a[2] = readerCertToCbor({ ...mixedBody, issuerSignature: sign(readerCertSigningInput(mixedBody), sk('issuer-1')) }))));
  // §6 step by step: certificate shape, issuer key, certificate window, time window boundaries
  add('a wallet certificate where the reader certificate belongs', ['WrongType'], 'wrong_type', resign((a) => (a[2] = walletCertToCbor(w.usd.cert))));
  add('reader certificate of version 1', ['Version'], 'unsupported_version', resign((a) => (a[2] = rcMut(1, 1))));
  add('reader certificate with profile 2 (only 0 vending and 1 transit exist)', ['Structure'], 'bad_structure', resign((a) => (a[2] = rcMut(6, 2))));
  add('reader certificate not an array', ['Shape'], 'bad_structure', resign((a) => (a[2] = 7)));
  add('request of 7 elements (time missing)', ['Shape'], 'bad_structure', encodeCbor([...arr.slice(0, 6), arr[7]!]));
  add('reader time before the issuer key notBefore', ['IssuerKey'], 'issuer_key_not_valid', bytes, { ...ctx, issuerKeys: { ...w.keySet, keys: w.keySet.keys.map((k) => (k.keyIndex === 1 ? { ...k, notBefore: T0 + 1 } : k)) } });
  add('reader time one second after the reader certificate notAfter', ['CertValidity', 'Boundary'], 'certificate_expired', bytes, {
    ...ctx,
    now: w.reader.cert.notAfter + 1,
    maxAgeSeconds: w.reader.cert.notAfter - T0 + 10,
    issuerKeys: { ...w.keySet, keys: w.keySet.keys.map((k) => (k.keyIndex === 1 ? { ...k, notAfter: T0 + 400 * DAY } : k)) },
  });
  add('reader time equal to the reader certificate notBefore', ['Valid', 'Boundary', 'CertValidity'], undefined, resign((a) => (a[6] = w.reader.cert.notBefore)), { ...ctx, now: w.reader.cert.notBefore });
  add('request time exactly maxAge before now', ['Valid', 'Boundary', 'TimeWindow'], undefined, bytes, { ...ctx, now: T0 - 5 + 300 });
  add('request time one second older than maxAge', ['TimeWindow', 'Boundary'], 'time_too_old', bytes, { ...ctx, now: T0 - 5 + 301 });
  add('request time exactly maxFuture after now', ['Valid', 'Boundary', 'TimeWindow'], undefined, resign((a) => (a[6] = T0 + 60)));
  add('amount 1, the smallest', ['Valid', 'Boundary'], undefined, resign((a) => (a[3] = 1)));
  return out;
}

// ---------------------------------------------------------------------------------------------------------

function keySetJson(ks: IssuerKeySet): VectorFile['issuerKeys'] {
  return { cbor: toHex(encodeIssuerKeySet(ks)), issuerId: ks.issuerId, keys: ks.keys.map((k) => ({ keyIndex: k.keyIndex, publicKey: toHex(k.publicKey), notBefore: k.notBefore, notAfter: k.notAfter })) };
}

function finish(algorithm: string, header: string[], groups: { type: string; comment: string; decls: Decl[]; kind: 'token' | 'request' }[], ks: IssuerKeySet): VectorFile {
  let id = 0;
  const testGroups = groups.map((g) => ({
    type: g.type,
    comment: g.comment,
    tests: g.decls.map((d): VectorCase => {
      const tcId = ++id;
      const customKeys = d.ctx.issuerKeys !== ks;
      const context = ctxToJson(d.ctx);
      const c: VectorCase = {
        tcId,
        comment: d.comment,
        flags: d.flags,
        result: d.reason ? 'invalid' : 'valid',
        ...(d.reason ? { reason: d.reason, reasonCode: REASONS[d.reason].code } : {}),
        message: toHex(d.bytes),
        context: customKeys ? { ...context, issuerKeysOverride: keySetJson(d.ctx.issuerKeys) } as VectorContext : context,
        signatures: g.kind === 'token' ? tokenSignatures(d.bytes, d.ctx.issuerKeys, d.ctx, d.original) : requestSignatures(d.bytes, d.ctx.issuerKeys, d.original),
      };
      return c;
    }),
  }));
  const numberOfTests = testGroups.reduce((n, g) => n + g.tests.length, 0);
  return { algorithm, generatorVersion: GENERATOR_VERSION, seed: VECTOR_SEED, numberOfTests, header, notes: NOTES, issuerKeys: keySetJson(ks), testGroups };
}

/** Build both vector files; throws if any declared result disagrees with the verifier. */
/**
 * Build both vector files from their seeds (byte-for-byte reproducible). `onProgress(done, total, step)` is
 * told as each of the GENERATE_STEPS steps starts (the CLI draws a progress line on a terminal).
 */
export function generateVectors(onProgress?: (done: number, total: number, step: string) => void): { 'token_verify.json': VectorFile; 'request_verify.json': VectorFile } {
  const step = (i: number, name: string): void => onProgress?.(i, GENERATE_STEPS, name);
  step(0, 'keys and certificates');
  const w = makeWorld();
  step(1, 'token cases');
  const cases = tokenCases(w);
  const token = finish(
    'offpay-token-v2',
    [
      'Verification of offpay payment tokens (spec/protocol.md §Verification).',
      'Run each case with the issuer key set (issuerKeys, or context.issuerKeysOverride when present) and the context; expect result, and reason when invalid.',
      "context.validAt, when present, is 'signed': steps 5 and 7 (the issuer key's window, the certificate's expiry day) judge the token's signed time instead of now (a tap-out); absent, they judge now.",
      'signatures lists every signature in the case: publicKey, the exact signed bytes (message) and whether offpay\'s Ed25519 rule (spec/protocol.md §8; libsodium\'s crypto_sign_verify_detached) accepts it. For non-canonical or malformed variants of a good token, the list is that of the canonical original.',
      'A request-bound token (6 elements, flag RequestBound) is signed over [5, 2, wallet-cert, payee, amount, counter, time, challenge] with payee = context.request.readerId, time = context.request.time and challenge = context.request.challenge (spec/protocol.md §4.3); its wallet signature entry is that rebuilt body, and is absent when the context has no request.',
    ],
    [
      { type: 'TokenVerify', comment: 'Stateless token verification at a reader', decls: cases.filter((d) => !d.flags.includes('SignedTime')), kind: 'token' },
      {
        type: 'Ed25519EdgeCases',
        comment: 'The Ed25519 edge-case catalogue (Chalkias, Garillot, Nikolaenko, "Taming the many EdDSAs", 2020, cases 0-11) as offpay tokens: crafted wallet keys and signatures, with the verdict of offpay\'s one Ed25519 rule (spec/protocol.md §8)',
        decls: edgeCases(w),
        kind: 'token',
      },
      // Last, so that the tcIds of the groups above stay as they were before this group was added.
      {
        type: 'TokenVerifySignedTime',
        comment: "Context validAt 'signed' (a tap-out): the issuer key's window and the certificate's expiry day judged at the token's signed time, the time window still against now (spec/protocol.md §5 steps 5, 7 and 11)",
        decls: cases.filter((d) => d.flags.includes('SignedTime')),
        kind: 'token',
      },
    ],
    w.keySet,
  );
  step(2, 'request cases');
  const request = finish(
    'offpay-request-v2',
    ['Verification of offpay payment requests by a wallet (spec/protocol.md §Request verification). Context fields payees, request and expected are unused.'],
    [{ type: 'RequestVerify', comment: 'A wallet checks a reader payment request', decls: requestCases(w), kind: 'request' }],
    w.keySet,
  );
  const files = { 'token_verify.json': token, 'request_verify.json': request };
  step(3, 'checking every case');
  const problems = checkVectorFilesSync(files, nobleEd25519);
  if (problems.length) throw new Error(`vector declarations disagree with the verifier:\n${problems.join('\n')}`);
  step(GENERATE_STEPS, 'done');
  return files;
}

/** Steps generateVectors reports: keys, token cases, request cases, the self-check. */
export const GENERATE_STEPS = 4;

// ---------------------------------------------------------------------------------------------------------
// Checking

export function keySetFromJson(j: VectorFile['issuerKeys']): IssuerKeySet {
  return decodeIssuerKeySet(fromHex(j.cbor));
}

type Outcome = { accepted: boolean; reason?: string };

function* caseRun(file: VectorFile, c: VectorCase): Generator<SigCheck, Outcome, boolean> {
  const override = (c.context as VectorContext & { issuerKeysOverride?: VectorFile['issuerKeys'] }).issuerKeysOverride;
  const ks = keySetFromJson(override ?? file.issuerKeys);
  const ctx = contextFromJson(c.context, ks);
  const bytes = fromHex(c.message);
  if (file.algorithm === 'offpay-request-v2') return yield* requestVerification(bytes, ctx);
  return yield* tokenVerification(bytes, ctx);
}

function judge(c: VectorCase, o: Outcome): string | undefined {
  if (c.result === 'valid' && !o.accepted) return `tcId ${c.tcId} (${c.comment}): expected valid, got ${o.reason}`;
  if (c.result === 'invalid' && o.accepted) return `tcId ${c.tcId} (${c.comment}): expected ${c.reason}, got valid`;
  if (c.result === 'invalid' && o.reason !== c.reason) return `tcId ${c.tcId} (${c.comment}): expected ${c.reason}, got ${o.reason}`;
  return undefined;
}

function sigProblems(c: VectorCase, v: SyncVerifier): string[] {
  return c.signatures
    .filter((s) => typeof s.valid !== 'boolean' || v.verify(fromHex(s.signature), fromHex(s.message), fromHex(s.publicKey)) !== s.valid)
    .map((s) => `tcId ${c.tcId}: ${v.name} says the ${s.role} signature is ${s.valid ? 'invalid' : 'valid'}`);
}

export function checkVectorFilesSync(files: Record<string, VectorFile>, verifier: SyncVerifier): string[] {
  const problems: string[] = [];
  for (const [name, file] of Object.entries(files)) {
    let count = 0;
    for (const g of file.testGroups)
      for (const c of g.tests) {
        count++;
        const gen = caseRun(file, c);
        let step = gen.next(false as never);
        while (!step.done) step = gen.next(verifier.verify(step.value.signature, step.value.message, step.value.publicKey));
        const p = judge(c, step.value);
        if (p) problems.push(`${name}: ${p} [${verifier.name}]`);
        problems.push(...sigProblems(c, verifier).map((s) => `${name}: ${s}`));
      }
    if (count !== file.numberOfTests) problems.push(`${name}: numberOfTests says ${file.numberOfTests}, found ${count}`);
  }
  return problems;
}

export async function checkVectorFilesAsync(files: Record<string, VectorFile>, verifier: AsyncVerifier): Promise<string[]> {
  const problems: string[] = [];
  for (const [name, file] of Object.entries(files))
    for (const g of file.testGroups)
      for (const c of g.tests) {
        const gen = caseRun(file, c);
        let step = gen.next(false as never);
        while (!step.done) step = gen.next(await verifier.verify(step.value.signature, step.value.message, step.value.publicKey));
        const p = judge(c, step.value);
        if (p) problems.push(`${name}: ${p} [${verifier.name}]`);
        for (const s of c.signatures) {
          if (typeof s.valid !== 'boolean' || (await verifier.verify(fromHex(s.signature), fromHex(s.message), fromHex(s.publicKey))) !== s.valid) {
            problems.push(`${name}: tcId ${c.tcId}: ${verifier.name} disagrees on the ${s.role} signature`);
          }
        }
      }
  return problems;
}

/** Parse a vector file's JSON with a typed error. */
export function parseVectorFile(text: string, name: string): VectorFile {
  try {
    const v = JSON.parse(text) as VectorFile;
    if (!v || !Array.isArray(v.testGroups) || typeof v.algorithm !== 'string') throw new Error('not a vector file');
    return v;
  } catch (e) {
    throw new OffpayError('vectors.bad_file', `${name}: ${(e as Error).message}`);
  }
}

/** Canonical JSON text of a vector file (stable key order as built, two-space indent, final newline). */
export function vectorFileText(f: VectorFile): string {
  return JSON.stringify(f, null, 2) + '\n';
}

export type { PaymentTokenBody };
