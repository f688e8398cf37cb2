/**
 * Worker side of serial-threads.test.ts: a polling guest driver on its own
 * thread, as a vCPU thread runs it: read LSR until THRE, write THR. Thread
 * `tag` (0 or 1) writes `count` bytes (seq << 1) | tag, seq counting mod 128.
 * The IRQ callback stores the level in a shared cell, as KVM_IRQ_LINE would.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SerialCore } from './serial-core.js';

export interface SerialHammerInit {
  state: SharedArrayBuffer;
  /** Int32 cells: [0] the IRQ line as last set, [1] start gate. */
  line: SharedArrayBuffer;
  tag: number;
  count: number;
}

const THR = 0, LSR = 5;
const LSR_THRE = 0x20;

const init = workerData as SerialHammerInit;
const line = new Int32Array(init.line);
const core = new SerialCore(init.state, (level) => Atomics.store(line, 0, level ? 1 : 0));
const reg = new Uint8Array(1);
const pause = new Int32Array(new SharedArrayBuffer(4));
let fullPolls = 0;
Atomics.wait(line, 1, 0); // wait for the start gate so that both threads run at once
for (let seq = 0; seq < init.count; seq++) {
  for (;;) {
    core.read(LSR, reg);
    if ((reg[0]! & LSR_THRE) !== 0) break;
    fullPolls++;
    Atomics.wait(pause, 0, 0, 0.05); // the guest spins; keep the test's CPU use low
  }
  reg[0] = (((seq & 0x7f) << 1) | init.tag) & 0xff;
  core.write(THR, reg);
}
parentPort!.postMessage({ fullPolls });
