/** Token-level 'fsk' transport for the CLI; filled in by the fsk transport work. */
import { OffpayError } from '../../errors.js';
import type { Via } from '../via.js';

export const via: Via = {
  name: 'fsk',
  async write() {
    throw new OffpayError('cli.transport_unavailable', "the 'fsk' transport is not built yet");
  },
  async read() {
    throw new OffpayError('cli.transport_unavailable', "the 'fsk' transport is not built yet");
  },
};
