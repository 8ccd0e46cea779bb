/**
 * Reading a request body under our own limits (spec/clearing-api.md §3): the size is bounded BEFORE the body
 * is read (a Content-Length above the limit is refused unread) and while it streams (a chunked body is cut
 * off at the first byte past the limit), and the whole body must arrive within a deadline (a slow-loris
 * client trickling bytes is cut off). Memory held is at most the limit plus one chunk.
 */
import type { IncomingMessage } from 'node:http';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The connection must be closed after the answer (the body was not read to its end). */
    readonly close = false,
  ) {
    super(message);
  }
}

export function readBody(req: IncomingMessage, maxBytes: number, timeoutMs: number, tooLargeCode: string): Promise<Uint8Array> {
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    if (!/^\d{1,16}$/.test(declared)) return Promise.reject(new HttpError(400, 'api.bad_request', 'Content-Length is not a number', true));
    if (Number(declared) > maxBytes) {
      return Promise.reject(new HttpError(413, tooLargeCode, `body of ${declared} bytes is over the limit of ${maxBytes} bytes`, true));
    }
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (err: HttpError | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (err) {
        req.pause();
        chunks.length = 0;
        reject(err);
      } else resolve(new Uint8Array(Buffer.concat(chunks, total)));
    };
    const onData = (c: Buffer) => {
      total += c.length;
      if (total > maxBytes) return finish(new HttpError(413, tooLargeCode, `body passed the limit of ${maxBytes} bytes`, true));
      chunks.push(c);
    };
    const onEnd = () => finish(null);
    const onError = () => finish(new HttpError(400, 'api.bad_request', 'the request body was cut off', true));
    const timer = setTimeout(() => finish(new HttpError(408, 'api.body_timeout', `the body did not arrive within ${timeoutMs} ms`, true)), timeoutMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
