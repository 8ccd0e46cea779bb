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
    /** Headers of the answer (Retry-After of a 503). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * The bytes of request bodies the server holds at once, all connections together (spec/clearing-api.md §3): a
 * body's bytes are taken from it as they arrive, chunk by chunk, whether its length was declared or not, and
 * given back when its request has been answered. A declared Content-Length is never taken ahead: a client that
 * declares a large body and sends nothing would hold room it does not use, and a few such silent connections
 * would lock every real upload out for the whole body deadline. A body that would pass the budget is 503
 * `api.busy` with Retry-After at the chunk that passes it: the client retries later (reader sync does), and
 * memory stays bounded (the budget plus one chunk) however many clients send at once.
 */
export class BodyBudget {
  private used = 0;
  constructor(readonly max: number) {}
  /** Take n bytes; false (nothing taken) when that would pass the budget. */
  take(n: number): boolean {
    if (this.used + n > this.max) return false;
    this.used += n;
    return true;
  }
  /** Give back n bytes taken before. */
  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
  /** Bytes held now (for monitoring, and for tests that wait on what the server holds). */
  get held(): number {
    return this.used;
  }
}

/** Seconds a client is told to wait (Retry-After) when the budget is spent. */
export const BUSY_RETRY_SECONDS = 1;
const busy = (budget: BodyBudget) =>
  new HttpError(503, 'api.busy', `the server holds ${budget.max} bytes of request bodies at once and has no room for this one now; retry later`, true, { 'retry-after': String(BUSY_RETRY_SECONDS) });

/**
 * Read a request body of at most `maxBytes` within `timeoutMs`. A declared length over `maxBytes` is refused
 * before anything is read. With a budget, the body's bytes are taken from it as each chunk arrives (a declared
 * length takes nothing ahead); the chunk that would pass it is refused (503 api.busy, connection closed). On
 * success the caller gives back the body's length once the request is answered; on failure the bytes taken are
 * given back here. `beforeRead` is called once the declared length has passed, before any byte is read.
 */
export function readBody(req: IncomingMessage, maxBytes: number, timeoutMs: number, tooLargeCode: string, budget?: BodyBudget, beforeRead?: () => void): Promise<Uint8Array> {
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    if (!/^\d{1,16}$/.test(declared)) return Promise.reject(new HttpError(400, 'api.bad_request', 'Content-Length is not a number', true));
    if (Number(declared) > maxBytes) {
      return Promise.reject(new HttpError(413, tooLargeCode, `body of ${declared} bytes is over the limit of ${maxBytes} bytes`, true));
    }
  }
  // The body is about to be read: its declared length passed (the server's `100 Continue` goes here).
  beforeRead?.();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0; // bytes received, all of them taken from the budget (if any): the refused chunk is not counted
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
        budget?.give(total);
        reject(err);
      } else {
        // The caller gives back the body's length: exactly what was taken.
        resolve(new Uint8Array(Buffer.concat(chunks, total)));
      }
    };
    const onData = (c: Buffer) => {
      if (total + c.length > maxBytes) return finish(new HttpError(413, tooLargeCode, `body passed the limit of ${maxBytes} bytes`, true));
      if (budget && !budget.take(c.length)) return finish(busy(budget));
      total += c.length;
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
