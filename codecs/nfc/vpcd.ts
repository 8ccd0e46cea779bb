/**
 * A virtual contactless card for pcscd's vpcd driver (vsmartcard-vpcd), running offpay's card application
 * (or any APDU processor) in Node. Node only: uses node:net.
 *
 * vpcd protocol (virtualsmartcard src/vpcd/vpcd.c, ifd-vpcd.c; research note §2.4): pcscd listens on TCP
 * 35963 (+ slot); the card connects as a client. Every message both ways is a 2-byte big-endian length and a
 * payload. A 1-byte payload from vpcd is a control byte: 00 power off, 01 power on, 02 reset (no reply),
 * 04 get ATR (reply: the ATR). A longer payload is a command APDU; the reply is the response APDU. Closing
 * the socket is "card removed": vpcd then answers the reader's next transmit with 0 bytes.
 */
import { connect, type Socket } from 'node:net';
import { OffpayError } from '../../base/errors.js';
import type { ApduProcessor } from './session.js';

/** Contactless T=1 ATR without historical bytes: 3B 80 80 01 01 (TCK = 80 ^ 80 ^ 01). */
export const VPCD_DEFAULT_ATR = Uint8Array.of(0x3b, 0x80, 0x80, 0x01, 0x01);

/** vpcd's first slot port (reader "Virtual PCD 00 00"); slot n listens on 35963 + n. */
export const VPCD_PORT = 35963;

/**
 * Options of {@link startVirtualCard}: where vpcd listens (default 127.0.0.1, {@link VPCD_PORT}), the ATR to
 * present (default {@link VPCD_DEFAULT_ATR}) and test hooks.
 */
export interface VirtualCardOptions {
  /** vpcd host (default 127.0.0.1). */
  host?: string;
  /** vpcd port (default VPCD_PORT = 35963). */
  port?: number;
  /** ATR the virtual card presents. */
  atr?: Uint8Array;
  /** Keep retrying the connection (pcscd not up yet) for this long. Default 5000 ms. */
  connectTimeoutMs?: number;
  /**
   * Called for every command APDU before the card processes it; return false to pull the card instead of
   * answering (simulates a card taken out of the field mid-exchange).
   */
  onCommand?(apdu: Uint8Array, index: number): boolean | void;
  /** Called with each exchange after the response is sent. */
  onExchange?(command: Uint8Array, response: Uint8Array): void;
}

/** A virtual card connected to vpcd ({@link startVirtualCard}): command count, presence, and removal. */
export interface VirtualCard {
  /** Number of command APDUs received. */
  readonly commands: number;
  /** Whether the socket is still open. */
  readonly inserted: boolean;
  /** Resolves when the card is removed (socket closed, by either side). */
  readonly removed: Promise<void>;
  /** Remove the card (close the socket). */
  close(): Promise<void>;
}

function tryConnect(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const onError = (e: Error): void => {
      s.destroy();
      reject(e);
    };
    s.once('error', onError);
    s.once('connect', () => {
      s.off('error', onError);
      resolve(s);
    });
  });
}

/** Connect a virtual card to vpcd and serve `card` until `close()` or until vpcd drops the connection. */
export async function startVirtualCard(card: ApduProcessor, options: VirtualCardOptions = {}): Promise<VirtualCard> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? VPCD_PORT;
  const atr = options.atr ?? VPCD_DEFAULT_ATR;
  const deadline = Date.now() + (options.connectTimeoutMs ?? 5000);
  let sock: Socket | undefined;
  let lastError: unknown;
  while (!sock) {
    try {
      sock = await tryConnect(host, port);
    } catch (e) {
      lastError = e;
      if (Date.now() > deadline)
        throw new OffpayError('nfc.vpcd_unavailable', `cannot connect to vpcd at ${host}:${port}: ${(lastError as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const socket = sock;
  socket.setNoDelay(true);
  let commands = 0;
  let inserted = true;
  let resolveRemoved!: () => void;
  const removed = new Promise<void>((r) => (resolveRemoved = r));
  let acc: Buffer = Buffer.alloc(0);
  let queue: Promise<void> = Promise.resolve();

  const send = (payload: Uint8Array): void => {
    if (!inserted) return;
    const h = Buffer.alloc(2);
    h.writeUInt16BE(payload.length);
    socket.write(Buffer.concat([h, payload]));
  };
  const remove = (): void => {
    if (!inserted) return;
    inserted = false;
    card.deactivate?.();
    socket.destroy();
    resolveRemoved();
  };

  const handle = async (msg: Uint8Array): Promise<void> => {
    if (!inserted) return;
    if (msg.length === 1) {
      const ctl = msg[0];
      if (ctl === 0x04) send(atr);
      else if (ctl === 0x00 || ctl === 0x02) card.deactivate?.();
      return;
    }
    if (msg.length === 0) return;
    const index = commands++;
    if (options.onCommand?.(msg, index) === false) {
      remove();
      return;
    }
    const response = await card.process(msg);
    send(response);
    options.onExchange?.(msg, response);
  };

  socket.on('data', (d: Buffer) => {
    acc = acc.length ? Buffer.concat([acc, d]) : d;
    while (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
      const n = acc.readUInt16BE(0);
      const msg = Uint8Array.prototype.slice.call(acc, 2, 2 + n);
      acc = acc.subarray(2 + n);
      queue = queue.then(() => handle(msg)).catch(() => remove());
    }
  });
  socket.on('error', () => remove());
  socket.on('close', () => remove());

  return {
    get commands() {
      return commands;
    },
    get inserted() {
      return inserted;
    },
    removed,
    async close() {
      remove();
      await removed;
    },
  };
}
