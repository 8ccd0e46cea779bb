/** Raw HTTP/1.1 over node:net, for tests where an HTTP client would hide what the server does. */
import { connect } from 'node:net';

/** Connect, write the pieces, collect every byte until the server closes or `ms` passes (closed: false then). */
export function raw(port: number, data: (string | Buffer)[] | string | Buffer, ms = 3000): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text: Buffer.concat(parts).toString('latin1'), closed, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), ms);
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('close', () => finish(true));
    s.on('error', () => undefined);
    s.on('connect', () => {
      for (const d of Array.isArray(data) ? data : [data]) s.write(d);
    });
  });
}
