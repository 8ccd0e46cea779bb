/** Token-level 'qr' transport for the CLI; filled in by the qr transport work. */
import { OffpayError } from '../../errors.js';
import type { Via } from '../via.js';

export const via: Via = {
  name: 'qr',
  async write() {
    throw new OffpayError('cli.transport_unavailable', "the 'qr' transport is not built yet");
  },
  async read() {
    throw new OffpayError('cli.transport_unavailable', "the 'qr' transport is not built yet");
  },
};
