/**
 * The command table: every command's words, summary and the module that implements it, loaded on use.
 *
 * `offpay --help` and the command lookup read only this table; a command's module (and what it imports:
 * SQLite, the QR engine, the FSK modem, PC/SC ...) is imported when that command runs or prints its own
 * --help. test/core/cli-startup.test.ts checks that this table matches the modules exactly and that
 * `offpay --help` loads no command module.
 */
import type { Command } from './framework.js';

export type Area = 'core' | 'reader' | 'refund' | 'fsk' | 'qr' | 'nfc' | 'serve' | 'playground' | 'demo';

export interface CommandEntry {
  /** Words after `offpay`, e.g. 'reader accept'. */
  name: string;
  area: Area;
  /** Must equal the module's Command.summary (checked by a test). */
  summary: string;
}

/** One lazy import per area module. */
export const AREA_LOADERS: Record<Area, () => Promise<{ commands: Command[] }>> = {
  core: () => import('./commands/core.js'),
  reader: () => import('./commands/reader.js'),
  refund: () => import('./commands/refund.js'),
  fsk: () => import('./commands/fsk.js'),
  qr: () => import('./commands/qr.js'),
  nfc: () => import('./commands/nfc.js'),
  serve: () => import('./commands/serve.js'),
  playground: () => import('./commands/playground.js'),
  demo: () => import('./commands/demo.js'),
};

export const COMMANDS: readonly CommandEntry[] = [
  { name: "issuer init", area: 'core', summary: "create an issuer: a signing key and the public key set readers trust" },
  { name: "issuer rotate", area: 'core', summary: "add the next issuer key (a key rotation): the new key set for clearing to sign and readers to load" },
  { name: "wallet new", area: 'core', summary: "create a wallet: a key, an issuer-signed certificate with offline limits, and a durable counter" },
  { name: "wallet restore-counter", area: 'core', summary: "set a wallet's counter after counter.json was lost or damaged (never below what is still visible)" },
  { name: "wallet unlock", area: 'core', summary: "show who holds a wallet's lock, and remove a lock whose holder is gone (a restarted container, another machine)" },
  { name: "reader new", area: 'core', summary: "create a reader (vending machine or gate): a key and an issuer-signed reader certificate" },
  { name: "request", area: 'core', summary: "open a signed payment request at a reader (what a vending machine shows as a QR or sends over NFC); it closes the previous one" },
  { name: "pay", area: 'core', summary: "pay a payment request, or a payee with no request, and write the signed token" },
  { name: "exit", area: 'core', summary: "sign the exit of a transit trip (the tap-in token and a fresh wallet signature) to show at the exit gate" },
  { name: "verify", area: 'core', summary: "verify a token as a reader would (stateless checks); exit 0 accepted, 1 rejected, 2 unusable input" },
  { name: "inspect", area: 'core', summary: "decode and print any offpay message (token, exit, request, certificate, key set, receipt, refund, blocklist, batch)" },
  { name: "vectors generate", area: 'core', summary: "regenerate the test vectors from their seeds (byte-for-byte reproducible)" },
  { name: "vectors check", area: 'core', summary: "run every stateless test vector (tokens, requests, key sets, refunds, webhook signatures, sync answers) with every backend (Ed25519: noble, node:crypto, WebCrypto; HMAC: noble, node:crypto)" },
  { name: "reader init", area: 'reader', summary: "create the reader database: a new journal (fresh journal id) with the issuer key set; required before any other reader command" },
  { name: "reader accept", area: 'reader', summary: "judge tokens with the durable reader (replay window, limits, blocklist); exit 0 all accepted, 1 any rejected, 2 unusable" },
  { name: "reader listen", area: 'reader', summary: "listen to raw PCM (stdin or an ALSA device) for days: every FSK token heard is judged by the durable reader, one line per event" },
  { name: "reader void", area: 'reader', summary: "void a pending sale within the void window (the machine failed to dispense); exit 0 voided, 1 refused" },
  { name: "reader complete", area: 'reader', summary: "mark a pending sale complete (goods dispensed): it can no longer be voided or resumed, and its request closes" },
  { name: "reader tap-out", area: 'reader', summary: "transit: record the fare for a trip, shown as its exit (offpay exit) or, where the gate allows it, its tap-in token again; exit 0 recorded, 1 refused" },
  { name: "reader export", area: 'reader', summary: "write the next reader-signed settlement batch (journal entries since the last export) for upload" },
  { name: "reader load-blocklist", area: 'reader', summary: "load a signed blocklist from clearing (must be newer than the one held)" },
  { name: "reader prune", area: 'reader', summary: "forget what no rule can use any more: journal rows clearing holds, token records and daily totals older than the retention (spec/reader.md §9.3)" },
  { name: "reader status", area: 'reader', summary: "check the database (SQLite quick_check), verify the hash chain, show the journal, open request, exports and blocklist freshness" },
  { name: "clearing ingest", area: 'reader', summary: "ingest settlement batches (any order, late or twice); exit 0 all ingested, 1 any batch rejected, 2 any batch over the size limits" },
  { name: "clearing report", area: 'reader', summary: "settlement per merchant and currency (count, gross, fee, net), double spends and over-allowance wallets with evidence, reader faults, trips, gaps, problems" },
  { name: "reader refund", area: 'refund', summary: "sign a refund of a settled token with this reader's key (a merchant's till) and write it or post it to clearing; exit 0 accepted, 1 rejected" },
  { name: "clearing refund", area: 'refund', summary: "decide a merchant-signed refund file against the clearing database (spec/clearing.md §13); exit 0 accepted or duplicate, 1 rejected" },
  { name: "clearing blocklist", area: 'reader', summary: "sign the next blocklist version (every wallet caught double spending, or blocked by hand) for readers to load" },
  { name: "fsk encode", area: 'fsk', summary: "encode a payload file as a multi-tone FSK WAV" },
  { name: "fsk decode", area: 'fsk', summary: "decode a multi-tone FSK WAV back to the payload (all profiles at once)" },
  { name: "fsk sim", area: 'fsk', summary: "pass a WAV through the seeded acoustic channel simulator" },
  { name: "fsk profiles", area: 'fsk', summary: "list the FSK profiles with their tone plans and air time for 200 bytes" },
  { name: "qr encode", area: 'qr', summary: "write payload bytes (a token or a payment request) as a QR code or another 2-D barcode" },
  { name: "qr decode", area: 'qr', summary: "read the offpay code in a PNG or JPEG image and write its payload bytes" },
  { name: "nfc ndef encode", area: 'nfc', summary: "wrap a token in an NDEF message (one offpay.dev:token external-type record) for a tag or Web NFC" },
  { name: "nfc ndef decode", area: 'nfc', summary: "extract the token from an NDEF message (first offpay.dev:token record; chunks reassembled)" },
  { name: "nfc card", area: 'nfc', summary: "act as the phone: serve the card application for a wallet to pcscd through vsmartcard-vpcd" },
  { name: "nfc read", area: 'nfc', summary: "act as the gate: request an amount from the first card on a PC/SC reader, verify the token, send a receipt" },
  { name: "nfc tag serve", area: 'nfc', summary: "act as a phone showing an NDEF message as a Type 4 Tag (what Web NFC reads), through vsmartcard-vpcd" },
  { name: "nfc tag read", area: 'nfc', summary: "read the NDEF message of a Type 4 Tag (or a phone emulating one) on a PC/SC reader" },
  { name: "clearing serve", area: 'serve', summary: "serve the clearing over HTTP: readers upload batches and fetch the blocklist, merchants query payments (spec/clearing-api.md)" },
  { name: "reader sync", area: 'serve', summary: "upload every batch the clearing service lacks, then fetch, verify and load the newest signed key set and blocklist (exit 0 when in sync)" },
  { name: "playground", area: 'playground', summary: "serve a browser wallet and reader that pay each other by sound and QR code (a demo issuer, or yours)" },
  { name: "demo", area: 'demo', summary: "the end-to-end story: vending over sound, gates over QR and NFC, a replay, a cloned wallet caught at clearing, a refund" },
];

/** Load the implementation of a table entry. */
export async function loadCommand(entry: CommandEntry): Promise<Command> {
  const { commands } = await AREA_LOADERS[entry.area]();
  const cmd = commands.find((c) => c.name === entry.name);
  if (!cmd) throw new Error(`command table out of step: '${entry.name}' is not in src/cli/commands/${entry.area}.ts`);
  return cmd;
}
