/**
 * Worker side of mailbox.test.ts: a stand-in vCPU thread that makes the
 * accesses it is given through a MailboxClient and posts the results.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AccessKind, MailboxClient } from './mailbox.js';

export interface MailboxOp {
  kind: AccessKind;
  addr: number;
  bytes: number[];
}

export interface MailboxWorkerInit {
  sab: SharedArrayBuffer;
  ops: MailboxOp[];
  /** abandon() says yes from this poll on (each poll is one 100 ms wait); never when omitted. */
  abandonAfterPolls?: number;
}

export interface MailboxResult {
  ok: boolean;
  bytes: number[];
  ms: number;
}

const init = workerData as MailboxWorkerInit;
const client = new MailboxClient(init.sab);
let polls = 0;
const abandon = (): boolean => init.abandonAfterPolls !== undefined && ++polls >= init.abandonAfterPolls;
const results: MailboxResult[] = [];
for (const op of init.ops) {
  const data = Uint8Array.from(op.bytes);
  const start = performance.now();
  const ok = client.call(op.kind, op.addr, data, abandon);
  results.push({ ok, bytes: [...data], ms: performance.now() - start });
}
parentPort!.postMessage(results);
