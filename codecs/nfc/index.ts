/**
 * offpay/nfc — the NFC transport: NDEF records (offpay.dev:token), ISO 7816-4 APDUs, the card application
 * (wallet side, HCE), the reader session (over any CardLink), and the air-time budget. spec/nfc.md.
 *
 * Everything exported statically is browser-safe. The Node-only parts (vpcd virtual card, PC/SC driver)
 * load on first use through the async functions at the end, or import 'offpay/nfc' internals from
 * codecs/nfc/node.ts, pcsc.ts and vpcd.ts directly.
 */
export * from './ndef.js';
export * from './apdu.js';
export * from './card.js';
export * from './session.js';
export * from './t4t.js';

import type { CardWallet } from './card.js';
import type { VerifyOutcome } from './session.js';
import type { ReadNdefTagOptions } from './t4t.js';
import type { PcscReadResult, ReadOverPcscOptions, ServeCardOptions, ServedCard } from './node.js';
import type { PcscCard, PcscOptions } from './pcsc.js';
export type { PcscReadResult, ReadOverPcscOptions, ServeCardOptions, ServedCard, PcscCard, PcscOptions };

/** Node only: serve the card application for `wallet` to pcscd through vpcd (see node.ts). */
export async function serveCardOverVpcd(wallet: CardWallet, options: ServeCardOptions = {}): Promise<ServedCard> {
  return (await import('./node.js')).serveCardOverVpcd(wallet, options);
}

/** Node only: read, verify and acknowledge a token from the first card on a PC/SC reader (see node.ts). */
export async function readTokenOverPcsc<T>(
  request: Uint8Array,
  verify: (token: Uint8Array) => Promise<VerifyOutcome<T>>,
  options: ReadOverPcscOptions = {},
): Promise<PcscReadResult<T>> {
  return (await import('./node.js')).readTokenOverPcsc(request, verify, options);
}

/** Node only: read the NDEF message of a Type 4 Tag on a PC/SC reader (see node.ts). */
export async function readNdefTagOverPcsc(options: PcscOptions & ReadNdefTagOptions = {}): Promise<{ message: Uint8Array; readerName: string }> {
  return (await import('./node.js')).readNdefTagOverPcsc(options);
}

/** Node only: wait for a card on a PC/SC reader and connect (see pcsc.ts). */
export async function openPcscCard(options: PcscOptions = {}): Promise<PcscCard> {
  return (await import('./pcsc.js')).openPcscCard(options);
}
