/**
 * offpay/nfc — the NFC transport: NDEF records (offpay.dev:token), ISO 7816-4 APDUs, the card application
 * (wallet side, HCE), the reader session (over any CardLink), and the air-time budget. spec/nfc.md.
 *
 * Browser-safe. The Node-only parts (the vpcd virtual card, the PC/SC driver) are in offpay/nfc/node.
 */
export * from './ndef.js';
export * from './apdu.js';
export * from './card.js';
export * from './session.js';
export * from './t4t.js';
