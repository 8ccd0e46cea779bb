/**
 * offpay/nfc — the NFC transport: NDEF records (offpay.dev:token), ISO 7816-4 APDUs, the card application
 * (wallet side, HCE), the reader session (over any CardLink), and the air-time budget. spec/nfc.md.
 *
 * Browser-safe. The Node-only parts (the vpcd virtual card, the PC/SC driver) are in offpay/nfc/node.
 */
export {
  TNF, type Tnf, NDEF_FLAG, type NdefRecord, type NdefPhysicalRecord, type NdefEncodeOptions, type NdefDecodeOptions,
  OFFPAY_NDEF_TYPE, ndefRecord, encodeNdefMessage, parseNdefRecords, decodeNdefMessage, isOffpayTokenRecord,
  encodeTokenNdef, decodeTokenNdef,
} from './ndef.js';
export {
  SW, CLA_CHAINING, INS, type CommandApdu, type ParsedCommandApdu, type ResponseApdu, type EncodeCommandOptions,
  needsExtended, encodeCommand, parseCommand, encodeResponse, statusOnly, parseResponse, sw1, sw2, swHex, isOk,
  chainCommand, getResponseCommand, selectCommand,
} from './apdu.js';
export {
  OFFPAY_AID, OFFPAY_CLA, OFFPAY_INS, OFFPAY_PROTOCOL_VERSION, CAPABILITY, type CardInfo, MAX_FCI, encodeFci,
  parseFci, type CardWallet, type CardOptions, WALLET_REASON_SW, WALLET_STATUS_WORDS, walletErrorStatus,
  type CardState, CardApplication,
} from './card.js';
export {
  type CardLink, type Exchange, type LinkStats, type ReaderSessionOptions, type ReaderOptions, statusErrorCode, ReaderSession,
  type VerifyOutcome, type TransactOptions, type TransactResult, transact, type ApduProcessor, type MemoryLink,
  memoryLink, type AirTimeOptions, type AirTime, airTime,
} from './session.js';
export {
  NDEF_TAG_AID, CC_FILE_ID, NDEF_FILE_ID, type NdefTagOptions, type CapabilityContainer, encodeCc, parseCc,
  NdefTagApplication, type ReadNdefTagOptions, readNdefTag, AidRouter,
} from './t4t.js';
