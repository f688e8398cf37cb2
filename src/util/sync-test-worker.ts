/**
 * Worker side of sync.test.ts: runs one scenario against shared mutexes
 * and posts back what happened (lockdep's reports, counts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMutex, lockdepReports, waitFor } from './sync.js';

export interface ScenarioInit {
  scenario: 'take-a-then-b' | 'take-b-then-a' | 'hold-across-wait' | 'count';
  sab: SharedArrayBuffer;
  /** Lock names, in the order the scenario's mutexes sit in `sab`. */
  names: string[];
  iterations?: number;
}

const init = workerData as ScenarioInit;
const locks = init.names.map((n, i) => new SharedMutex(init.sab, i * SharedMutex.BYTES, n));
const words = new Int32Array(init.sab, init.names.length * SharedMutex.BYTES, 2);

function takeAThenB(a: SharedMutex, b: SharedMutex): void {
  a.lock();
  b.lock();
  b.unlock();
  a.unlock();
}

function takeBThenA(a: SharedMutex, b: SharedMutex): void {
  b.lock();
  a.lock();
  a.unlock();
  b.unlock();
}

function holdAcrossWait(a: SharedMutex): void {
  a.lock();
  waitFor(words, 0, 0, 1, 'the test worker waits for its partner');
  a.unlock();
}

/** Read, spin, write: without mutual exclusion, increments are lost. */
function count(m: SharedMutex, iterations: number): void {
  for (let i = 0; i < iterations; i++) {
    m.lock();
    const v = words[1]!;
    for (let k = 0; k < 20; k++) words[0] = k;
    words[1] = v + 1;
    m.unlock();
  }
}

switch (init.scenario) {
  case 'take-a-then-b': takeAThenB(locks[0]!, locks[1]!); break;
  case 'take-b-then-a': takeBThenA(locks[0]!, locks[1]!); break;
  case 'hold-across-wait': holdAcrossWait(locks[0]!); break;
  case 'count': count(locks[0]!, init.iterations ?? 1000); break;
}
parentPort!.postMessage({ reports: lockdepReports() });
