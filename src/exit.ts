/**
 * The exit (message type 11, spec/protocol.md §4.6 is normative): a transit tap-out signed afresh by the wallet.
 *
 *   exit          = [11, 2, tap-in, time, wallet-signature]
 *   signing input = 0x0e || "OFFPAY-V2-EXIT" || CBOR([11, 2, tap-in, time])
 *
 * `tap-in` is the byte string of the one-way token the wallet tapped in with, exactly as it was shown at entry
 * (its token hash is the trip's key); `time` is the wallet's clock when it signs the exit; the signature is by the
 * wallet key of the token's own certificate. A recording of the tap-in (heard, photographed) is not an exit: only
 * the wallet's key makes one, and a gate that requires exits (profile `requireExit`, spec/reader.md §7.2) takes an
 * exit only within `exitMaxAgeSeconds` of its time.
 *
 * An exit spends nothing: no counter, no allowance. Its charge is the tap-in's, which the wallet counted when it
 * signed the tap-in (spec/protocol.md §9.1).
 */
import { decodeCbor, encodeCbor, MAX_MESSAGE_BYTES, type CborValue } from './cbor.js';
import { nobleEd25519, publicKeyOf, sign, signingInput, SIGNATURE_BYTES, type SyncVerifier } from './crypto.js';
import { REASONS } from './reasons.js';
import { DEFAULT_MAX_FUTURE_SECONDS, reasonForDecodeError, verifyToken, type Accepted, type Rejected, type VerifyContext } from './verify.js';
import { OffpayError } from '../base/errors.js';
import { equalBytes } from '../base/bytes.js';
import { asBytes, asUint, decodeToken, MessageType, openMessage, PROTOCOL_VERSION, SigningTag, type WireToken } from './messages.js';

/** Element count of an exit on the wire. */
export const EXIT_ELEMENTS = 5;

/** The signed fields of an exit (spec/protocol.md §4.6). */
export interface ExitBody {
  /** The tap-in token's bytes, exactly as shown at entry (a one-way token, message 5 with 8 elements). */
  tapIn: Uint8Array;
  /** The wallet's clock when it signed the exit, unix seconds (0..2^53 − 1). */
  time: number;
}

/** An exit with the wallet's signature over {@link exitSigningInput}. */
export interface Exit extends ExitBody {
  /** Ed25519 signature by the wallet key of the tap-in token's certificate, 64 bytes. */
  walletSignature: Uint8Array;
}

function bodyArray(e: ExitBody): CborValue[] {
  return [MessageType.Exit, PROTOCOL_VERSION, e.tapIn, e.time];
}

/** The bytes the wallet key signs: signingInput("OFFPAY-V2-EXIT", CBOR([11, 2, tap-in, time])). */
export function exitSigningInput(e: ExitBody): Uint8Array {
  return signingInput(SigningTag.Exit, encodeCbor(bodyArray(e)));
}

/** The deterministic CBOR bytes of an exit. */
export function encodeExit(e: Exit): Uint8Array {
  return encodeCbor([...bodyArray(e), e.walletSignature]);
}

/**
 * True when `bytes` start as an exit does (an array of 5 whose first element is 11: `85 0b`): what a gate looks at
 * to tell an exit from a token shown again. It decides nothing else; {@link decodeExit} judges the rest.
 */
export function looksLikeExit(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x85 && bytes[1] === MessageType.Exit;
}

/**
 * Decode an exit and check its shape (not its signature, and not the tap-in token inside, which is judged as a
 * token: spec/protocol.md §5).
 * @throws OffpayError `cbor.*` (spec/protocol.md §3.4, 65,536 bytes at most), `message.*`.
 */
export function decodeExit(bytes: Uint8Array): Exit {
  const a = openMessage(decodeCbor(bytes, MAX_MESSAGE_BYTES), MessageType.Exit, 'exit', EXIT_ELEMENTS);
  return {
    tapIn: asBytes(a[2], 'exit tapIn'),
    time: asUint(a[3], 'exit time'),
    walletSignature: asBytes(a[4], 'exit walletSignature', SIGNATURE_BYTES),
  };
}

/** A signed exit: the message and its bytes. */
export interface SignedExit {
  /** The exit. */
  exit: Exit;
  /** Its deterministic CBOR bytes (what the wallet shows at the exit gate). */
  bytes: Uint8Array;
}

/**
 * Sign the exit of a trip: `tapIn` is the wallet's own one-way tap-in token, `time` the wallet's clock.
 * @throws OffpayError `wallet.bad_option` (the tap-in is not a one-way token, or the time not an integer in
 *   0..2^53 − 1), `wallet.key_mismatch` (the token is another wallet's: its certificate names another key).
 */
export function createExit(secretKey: Uint8Array, tapIn: Uint8Array, time: number): SignedExit {
  if (!Number.isSafeInteger(time) || time < 0) throw new OffpayError('wallet.bad_option', 'the exit time is an integer of unix seconds in 0..2^53 - 1', { option: 'time' });
  let token: WireToken;
  try {
    token = decodeToken(tapIn);
  } catch (e) {
    throw new OffpayError('wallet.bad_option', `the tap-in is not a payment token: ${(e as Error).message}`, { option: 'tapIn' });
  }
  if (token.requestBound) throw new OffpayError('wallet.bad_option', 'the tap-in is a request-bound token: only a one-way token is a tap-in', { option: 'tapIn' });
  if (!equalBytes(publicKeyOf(secretKey), token.walletCert.walletPublicKey)) {
    throw new OffpayError('wallet.key_mismatch', "the tap-in token is another wallet's: its certificate names another key");
  }
  const body: ExitBody = { tapIn: new Uint8Array(tapIn), time };
  const exit: Exit = { ...body, walletSignature: sign(exitSigningInput(body), secretKey) };
  return { exit, bytes: encodeExit(exit) };
}

/** Why an exit's own checks failed (spec/protocol.md §4.7 steps 3-4). */
export type ExitReason = 'bad_exit_signature' | 'exit_too_old' | 'exit_in_future';

/** An exit's own check that failed: the reason and a message for people. */
export interface ExitProblem {
  /** The verdict reason (spec/protocol.md §7: 24, 25 or 26). */
  reason: ExitReason;
  /** What failed, for people (not stable). */
  message: string;
}

/**
 * The exit's own checks once its tap-in token verified (spec/protocol.md §4.7 steps 3-4), in this order: the signature
 * (`signatureValid`: by the wallet key of the token's certificate over {@link exitSigningInput}), then the time:
 * `time > now + maxFutureSeconds` is `exit_in_future`, `time < now - maxAgeSeconds` is `exit_too_old`. Null when
 * they pass.
 */
export function exitProblem(e: Exit, p: { now: number; maxAgeSeconds: number; maxFutureSeconds: number }, signatureValid: boolean): ExitProblem | null {
  if (!signatureValid) return { reason: 'bad_exit_signature', message: "the wallet signature on the exit does not verify under the tap-in certificate's key" };
  if (e.time > p.now + p.maxFutureSeconds) return { reason: 'exit_in_future', message: `the exit is dated ${e.time}, more than ${p.maxFutureSeconds} s after the reader clock ${p.now}` };
  if (e.time < p.now - p.maxAgeSeconds) return { reason: 'exit_too_old', message: `the exit is dated ${e.time}, more than ${p.maxAgeSeconds} s before the reader clock ${p.now}` };
  return null;
}

/** The exit signature check with a synchronous verifier (spec/protocol.md §8.1). */
export function exitSignatureValid(e: Exit, walletPublicKey: Uint8Array, verifier: SyncVerifier): boolean {
  return verifier.verify(e.walletSignature, exitSigningInput(e), walletPublicKey);
}

/** The verdict of {@link verifyExit}: the tap-in token's verdict, or a rejection by the exit's own checks. */
export type ExitVerdict = (Accepted & ExitAccepted) | Rejected;

/** What an accepted exit adds to the tap-in token's verdict. */
export interface ExitAccepted {
  /** The exit, decoded. */
  exit: Exit;
}

/**
 * Stateless verification of an exit (spec/protocol.md §4.7), as a gate makes it before its stateful tap-out checks
 * (spec/reader.md §7.2), in this order, the first failure deciding:
 *   1. decode the exit (§3.4 at most 65,536 bytes, shape §4.6): `malformed`, `non_canonical`, `wrong_type`,
 *      `unsupported_version`, `bad_structure`;
 *   2. the tap-in token inside, verified with `ctx` (for a gate: payees, `maxAgeSeconds` = `maxTripSeconds`, the
 *      fare's currency, `validAt: 'signed'`): its stateless reason;
 *   3. the exit signature by the wallet key of the token's certificate: `bad_exit_signature`;
 *   4. `time > now + maxFutureSeconds`: `exit_in_future`; `time < now - exitMaxAgeSeconds`: `exit_too_old`.
 * The verdict's token and tokenHash are the tap-in's.
 */
export function verifyExit(bytes: Uint8Array, ctx: VerifyContext & { exitMaxAgeSeconds: number }, verifier: SyncVerifier = nobleEd25519): ExitVerdict {
  let exit: Exit;
  try {
    exit = decodeExit(bytes);
  } catch (e) {
    const { reason, message } = reasonForDecodeError(e);
    return { accepted: false, reason, code: REASONS[reason].code, message: `exit: ${message}` };
  }
  const v = verifyToken(exit.tapIn, ctx, verifier);
  if (!v.accepted) return v;
  const bad = exitProblem(exit, { now: ctx.now, maxAgeSeconds: ctx.exitMaxAgeSeconds, maxFutureSeconds: ctx.maxFutureSeconds ?? DEFAULT_MAX_FUTURE_SECONDS }, exitSignatureValid(exit, v.token.walletCert.walletPublicKey, verifier));
  if (bad) return { accepted: false, reason: bad.reason, code: REASONS[bad.reason].code, message: bad.message };
  return { ...v, exit };
}
