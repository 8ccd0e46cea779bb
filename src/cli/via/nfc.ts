/**
 * Token-level 'nfc' transport for files: an NDEF message holding offpay's external-type record
 * (codecs/nfc/ndef.ts, spec/nfc.md). A live card over PC/SC is `offpay nfc read`; this reads what a tag,
 * Web NFC or `offpay nfc ndef encode` wrote.
 */
import { decodeTokenNdef, encodeTokenNdef } from '../../../codecs/nfc/ndef.js';
import { OffpayError } from '../../../base/errors.js';
import { readBytes } from '../../node/files.js';
import { writeOut } from '../common.js';
import type { Via } from '../via.js';

export const via: Via = {
  name: 'nfc',
  textOnStdout: false,
  async render(kind, bytes) {
    if (kind !== 'token') throw new OffpayError('cli.transport_unavailable', 'the NDEF record carries tokens; a payment request travels in the GET TOKEN command (offpay nfc read)');
    const data = encodeTokenNdef(bytes);
    return { data, text: false, note: `NDEF message of ${data.length} bytes` };
  },
  async write(kind, bytes, outPath) {
    if (kind !== 'token') throw new OffpayError('cli.transport_unavailable', 'the NDEF record carries tokens; a payment request travels in the GET TOKEN command (offpay nfc read)');
    const msg = encodeTokenNdef(bytes);
    writeOut(outPath, msg);
    return `NDEF message of ${msg.length} bytes`;
  },
  async read(kind, inPath) {
    if (kind !== 'token') throw new OffpayError('cli.transport_unavailable', 'the NDEF record carries tokens, not payment requests');
    return decodeTokenNdef(readBytes(inPath, 'NDEF message', 1 << 20));
  },
};
