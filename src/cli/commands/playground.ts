/**
 * `offpay playground`: serve the browser reader and wallet pages (src/playground/server.ts) until SIGINT or
 * SIGTERM. Loopback only in this version; a non-loopback --host exits 2 (HTTPS is needed and not built).
 */
import { EXIT_OK, UsageError, type Command } from '../framework.js';
import { startPlayground } from '../../playground/server.js';

const playground: Command = {
  name: 'playground',
  summary: 'serve a browser wallet and reader (a demo issuer) that pay each other by sound and QR code',
  usage: '[--port N] [--host 127.0.0.1]',
  options: {
    port: { type: 'string', arg: 'N', help: 'TCP port (default 8080; 0 picks a free one)' },
    host: { type: 'string', arg: 'HOST', help: 'address to listen on: loopback only (127.0.0.1, localhost, ::1) until HTTPS is built' },
  },
  details: 'Without --issuer (not yet supported) a throw-away demo issuer, vending machine 4201 and gate 5001 are made in memory, and every page says so.\nOpen /reader?fare=2.00&currency=HKD (a gate), /reader?amount=12.50&currency=HKD (a vending machine) and /wallet.',
  async run(ctx) {
    const portText = ctx.opt('port') ?? '8080';
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new UsageError(`--port must be an integer 0..65535, got '${portText}'`);
    const pg = await startPlayground({ port: Number(portText), host: ctx.opt('host') ?? '127.0.0.1' });
    ctx.out(`offpay playground (DEMO issuer, in memory; nothing leaves this machine) at ${pg.url}`);
    ctx.out(`  gate:    ${pg.url}/reader?fare=2.00&currency=HKD`);
    ctx.out(`  vending: ${pg.url}/reader?amount=12.50&currency=HKD`);
    ctx.out(`  wallet:  ${pg.url}/wallet`);
    ctx.emit({ url: pg.url, demo: true });
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await pg.close();
    return EXIT_OK;
  },
};

export const commands: Command[] = [playground];
