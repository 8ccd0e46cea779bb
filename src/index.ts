/**
 * offpay — signed offline payment tokens. The protocol core: messages, crypto, issuer, wallet and stateless
 * verification. Browser-safe (no Node-only imports); Node helpers are in offpay/node.
 *
 * Exports are listed by hand: what is not here (the CBOR codec and its field readers asArray/asUint/asBytes,
 * the message <-> CBOR-value converters, the verification generators) is internal and may change.
 */
export {
  OffpayError, isOffpayError, asOffpayError, type ErrorCode, type ErrorArea, type ErrorCodeOf, type ErrorReasonOf,
} from '../base/errors.js';
export {
  ERROR_CODES, ERROR_CODE_SPEC, isErrorCode,
} from '../base/error-codes.js';
export {
  MAX_MESSAGE_BYTES,
} from './cbor.js';
export {
  PUBLIC_KEY_BYTES, SECRET_KEY_BYTES, SIGNATURE_BYTES, type SyncVerifier, type AsyncVerifier, type Verifier,
  nobleEd25519, sign, publicKeyOf, randomSecretKey, seededSecretKey, sha256, utf8, signingInput,
  signingInputsFromBytes, hasWebCryptoEd25519, webCryptoEd25519,
} from './crypto.js';
export {
  toHex, fromHex,
} from '../base/hex.js';
export {
  equalBytes,
} from '../base/bytes.js';
export {
  type Currency, MAX_AMOUNT, currencyByAlpha, currencyByNumeric, parseCurrency, parseAmount, formatAmount,
  formatMoney,
} from './currency.js';
export {
  PROTOCOL_VERSION, MessageType, type MessageTypeName, SigningTag, CHALLENGE_BYTES, PAYMENT_CODE_SIGNED_TIME, PAYCODE_SIGNED_TIME, WALLET_ID_BYTES, MAX_UINT,
  MAX_COUNTER, ReaderProfile, type ReaderProfileName, type IssuerKey, type IssuerKeySet, type WalletCertBody,
  type WalletCert, type ReaderCertBody, type ReaderCert, type PaymentRequestBody, type PaymentRequest,
  type PaymentTokenBody, type PaymentToken, ReceiptOutcome, type ReceiptOutcomeName, type ReceiptBody, type Receipt,
  encodeIssuerKeySet, decodeIssuerKeySet, walletCertSigningInput, encodeWalletCert, decodeWalletCert, walletIdOf,
  readerCertSigningInput, encodeReaderCert, decodeReaderCert, requestSigningInput, encodeRequest, decodeRequest,
  tokenSigningInput, encodeToken, decodeToken, type DecodedToken, decodeTokenWithInputs, tokenHash,
  receiptSigningInput, encodeReceipt, decodeReceipt, peekType, MAX_TOKEN_AMOUNT, type WireToken, type TokenBinding,
  TOKEN_ONE_WAY_ELEMENTS, TOKEN_REQUEST_BOUND_ELEMENTS, bindToken,
} from './messages.js';
export {
  REASONS, type StatelessReason, type ReasonEntry, reasonEntry, reasonNumber,
} from './reasons.js';
export {
  type IssuerSigningKey, Issuer, dayOf, MAX_WALLET_LIMIT, checkWalletLimits,
} from './issuer.js';
export {
  type CounterState, type CounterStore, MemoryCounterStore, PAID_REQUESTS_REMEMBERED, type PaidRequest, type PayOptions, type PayResult, Wallet,
} from './wallet.js';
export {
  randomChallenge, createRequest, createReceipt,
} from './request.js';
export {
  type PaymentCode, PAYMENT_CODE_DIGITS, PAYMENT_CODE_MAX_PAYEE, PAYMENT_CODE_MAX_AMOUNT, paymentCodeChallenge,
  encodePaymentCode, decodePaymentCode, formatPaymentCode,
} from './paycode.js';
export {
  DEFAULT_MAX_AGE_SECONDS, DEFAULT_MAX_FUTURE_SECONDS, type VerifyContext, type Accepted, type Rejected,
  type Verdict, type SigCheck, verifyToken, verifyTokenAsync, type RequestVerdictOk, type RequestVerdict,
  verifyRequest, verifyReceipt, type VerifyRequestContext, requestContextOf, type RequestRefusalReason, type DecodeReason,
} from './verify.js';
export {
  isWeakPublicKey, weakPublicKeys,
} from './weakkeys.js';
export {
  type SignedKeySetBody, type SignedKeySet, type SignedKeySetResult, type KeySetContext, type KeySetVerdict, KEYSET_MAX_FUTURE_SECONDS,
  signedKeySetSigningInput, encodeSignedKeySet, decodeSignedKeySet, signKeySet, verifySignedKeySet,
} from './keyset.js';
export {
  EXIT_ELEMENTS, type ExitBody, type Exit, type SignedExit, type ExitReason, type ExitProblem, type ExitAccepted, type ExitVerdict, exitSigningInput, encodeExit, decodeExit, looksLikeExit, createExit,
  exitProblem, exitSignatureValid, verifyExit,
} from './exit.js';
export {
  MAX_REFUND_BYTES, REFUND_ELEMENTS, REFUND_MAX_FUTURE_SECONDS, TOKEN_HASH_BYTES, type RefundBody, type Refund, type RefundSigner, type RefundFields, type SignedRefund,
  type RefundVerdict, type RefundStatelessCode, refundSigningInput, encodeRefund, decodeRefund, createRefund, verifyRefund,
} from './refund.js';
export {
  WEBHOOK_TOLERANCE_SECONDS, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_SIGNATURE_MAX_LENGTH, type HmacSha256, nobleHmacSha256, webhookSignedBytes,
  webhookSignature, webhookSignatureHeader, type WebhookSignatureOk, type WebhookSignatureRefused, type WebhookSignatureCheck, checkWebhookSignature,
} from './webhook-signature.js';
