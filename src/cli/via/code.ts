/** Token-level 'code' transport for the CLI; filled in by the code transport work. */
import { OffpayError } from '../../errors.js';
import type { Via } from '../via.js';

export const via: Via = {
  name: 'code',
  async write() {
    throw new OffpayError('cli.transport_unavailable', "the 'code' transport is not built yet");
  },
  async read() {
    throw new OffpayError('cli.transport_unavailable', "the 'code' transport is not built yet");
  },
};
