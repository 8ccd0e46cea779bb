/**
 * A merchant's webhook receiver: the clearing service (`offpay clearing serve --webhook-url ...`) POSTs signed
 * events (charge.complete, charge.refunded, wallet.blocklisted), at least once, each with an
 * `Offpay-Signature` header (spec/clearing-api.md §9). The receiver reads the raw body (bounded), checks the
 * signature over those exact bytes before parsing them, processes each event id once, and answers 2xx only
 * after it has recorded the event (any other answer makes the clearing try again later).
 *
 * To run on its own, the program plays the clearing node too: it signs a sample event with the house's secret
 * and delivers it twice (the second is a redelivery: processed once), then a tampered copy and a replay from
 * an hour ago (both refused).
 * Run: `npm run build && node dist/examples/webhook-receiver.js`.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkWebhookSignature, webhookSignatureHeader, WEBHOOK_SIGNATURE_HEADER } from 'offpay';

/** The secret file's 64 hex digits (clearing.db.webhook-secret), without its line end; shared with the merchant. */
const SECRET = 'c0ffee00'.repeat(8);
const MAX_BODY = 64 * 1024; // events are small; bound what an unauthenticated sender can make us read

const processed = new Set<string>(); // a real receiver keeps this in its database, in the same transaction as the effect

async function rawBody(req: IncomingMessage): Promise<Uint8Array | undefined> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > MAX_BODY) return undefined;
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

const server = createServer(async (req, res) => {
  const body = await rawBody(req);
  if (!body) return void res.writeHead(413).end();
  const header = req.headers[WEBHOOK_SIGNATURE_HEADER];
  const check = checkWebhookSignature(typeof header === 'string' ? header : undefined, body, SECRET, Math.floor(Date.now() / 1000));
  if (!check.ok) {
    console.log(`refused: ${check.reason}`);
    return void res.writeHead(400).end();
  }
  const event = JSON.parse(new TextDecoder().decode(body)) as { id: string; type: string; data: { tokenHash?: string; amount?: string } };
  if (processed.has(event.id)) {
    console.log(`${event.id}: already processed (a redelivery)`);
  } else {
    processed.add(event.id);
    console.log(`${event.id}: ${event.type}, token ${event.data.tokenHash?.slice(0, 16)}..., amount ${event.data.amount}`);
  }
  res.writeHead(204).end();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/offpay-hooks`;

// What a clearing node sends (src/server/webhooks.ts does this for every event it queued).
const now = Math.floor(Date.now() / 1000);
const event = { id: 'evt_5b2f0d7c1a9e4b3f8c6d2e1f0a9b8c7d', type: 'charge.complete', created: now, data: { tokenHash: '5b2f'.repeat(16), amount: '1250', currency: 344, operatorId: 90 } };
const bytes = new TextEncoder().encode(JSON.stringify(event));
const deliver = async (body: Uint8Array, t: number, signedBody = body) =>
  (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', [WEBHOOK_SIGNATURE_HEADER]: webhookSignatureHeader(SECRET, t, signedBody) }, body: body as Uint8Array<ArrayBuffer> })).status;

const statuses = [
  await deliver(bytes, now), // 204: processed
  await deliver(bytes, now + 30), // 204: the same event again (at least once), signed anew: processed once
  await deliver(new TextEncoder().encode(JSON.stringify({ ...event, data: { ...event.data, amount: '125000' } })), now, bytes), // 400: bad_signature
  await deliver(bytes, now - 3600), // 400: too_old (a replayed delivery)
];
server.close();
console.log(`answers: ${statuses.join(', ')}`);
if (statuses.join() !== '204,204,400,400' || processed.size !== 1) throw new Error('the receiver did not behave as expected');
