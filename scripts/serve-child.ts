/**
 * A clearing server in a child process, for the kill -9 test (test/clearing/serve.test.ts): the same
 * Clearing and createClearingServer as `offpay clearing serve`, without the CLI (the test transpiles src/
 * alone). Usage: node serve-child.js ISSUER_DIR CLEARING.db OPERATOR_TOKEN NOW. Prints "listening PORT".
 */
import type { AddressInfo } from 'node:net';
import { Clearing } from '../src/clearing/clearing.js';
import { loadIssuer } from '../src/node/files.js';
import { createClearingServer } from '../src/server/api.js';

const [issuerDir, db, token, now] = process.argv.slice(2);
const issuer = loadIssuer(issuerDir!);
const clock = () => Number(now);
const clearing = new Clearing({ path: db!, issuerKeys: issuer.keySet(), clock });
const server = createClearingServer({ clearing, issuer, operatorToken: token!, clock, blocklistCheckSeconds: 0 });
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
