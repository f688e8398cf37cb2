import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import type { LockdepReport } from './lockdep.js';
import type { ScenarioInit } from './sync-test-worker.js';

// Lockdep is read at load: switch it on before the module (and the workers) load it.
process.env['TKVM_LOCKDEP'] = '1';
const sync = await import('./sync.js');
const { SharedMutex } = sync;

const WORKER = new URL('./sync-test-worker.js', import.meta.url);
let unique = 0;

function locksBuffer(count: number): SharedArrayBuffer {
  return new SharedArrayBuffer(count * SharedMutex.BYTES + 8);
}

function names(...base: string[]): string[] {
  unique++;
  return base.map((b) => `${b}-${unique}`);
}

function runWorker(init: ScenarioInit, env: NodeJS.ProcessEnv = process.env): Promise<LockdepReport[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { workerData: init, env });
    let reports: LockdepReport[] | undefined;
    w.once('message', (m: { reports: LockdepReport[] }) => { reports = m.reports; });
    w.once('error', reject);
    w.once('exit', (code) => (reports && code === 0 ? resolve(reports) : reject(new Error(`worker exited with ${code}`))));
  });
}

test('lockdep catches ABBA across two workers, before anything deadlocks, naming both acquisition sites', async () => {
  const sab = locksBuffer(2);
  const [a, b] = names('lock-a', 'lock-b');
  // Sequential phases: the first worker takes A then B and ends; the second takes B then A.
  assert.deepEqual(await runWorker({ scenario: 'take-a-then-b', sab, names: [a!, b!] }), []);
  const reports = await runWorker({ scenario: 'take-b-then-a', sab, names: [a!, b!] });
  assert.equal(reports.length, 1, JSON.stringify(reports));
  const r = reports[0]!;
  assert.equal(r.kind, 'order-cycle');
  assert.match(r.message, new RegExp(`"${b}" → "${a}" here, but "${a}" → "${b}" before`));
  const sites = r.sites.join('\n');
  assert.match(sites, /taken at takeBThenA .*\n.*at takeBThenA /, 'the sites of this order, starting at the caller');
  assert.match(sites, /taken at takeAThenB .*\n.*taken at takeAThenB /, 'the sites of the earlier order, seen in the other worker');
  // Reported once: the same pattern again says nothing more.
  assert.deepEqual(await runWorker({ scenario: 'take-b-then-a', sab, names: [a!, b!] }), []);
});

test('with TKVM_LOCKDEP unset nothing is validated: the same ABBA passes silently', async () => {
  const sab = locksBuffer(2);
  const n = names('quiet-a', 'quiet-b');
  const off = { ...process.env, TKVM_LOCKDEP: '' };
  assert.deepEqual(await runWorker({ scenario: 'take-a-then-b', sab, names: n }, off), []);
  assert.deepEqual(await runWorker({ scenario: 'take-b-then-a', sab, names: n }, off), []);
});

test('lockdep reports nothing for a consistent order, in any number of threads', async () => {
  const sab = locksBuffer(2);
  const n = names('outer', 'inner');
  for (let i = 0; i < 3; i++) assert.deepEqual(await runWorker({ scenario: 'take-a-then-b', sab, names: n }), []);
});

test('lockdep reports a lock held across a blocking wait, with the lock and the wait sites', async () => {
  const sab = locksBuffer(1);
  const reports = await runWorker({ scenario: 'hold-across-wait', sab, names: names('held') });
  assert.equal(reports.length, 1, JSON.stringify(reports));
  assert.equal(reports[0]!.kind, 'held-across-wait');
  const sites = reports[0]!.sites.join('\n');
  assert.match(sites, /taken at holdAcrossWait /);
  assert.match(sites, /the test worker waits for its partner/);
});

test('lockdep in one thread: a cycle through three locks, and a recursive lock', () => {
  const sab = locksBuffer(3);
  const [x, y, z] = names('x', 'y', 'z').map((n, i) => new SharedMutex(sab, i * SharedMutex.BYTES, n));
  const before = sync.lockdepReports().length;
  x!.lock(); y!.lock(); y!.unlock(); x!.unlock();
  y!.lock(); z!.lock(); z!.unlock(); y!.unlock();
  assert.equal(sync.lockdepReports().length, before);
  z!.lock(); x!.lock(); x!.unlock(); z!.unlock();
  const cycle = sync.lockdepReports().slice(before);
  assert.equal(cycle.length, 1);
  assert.equal(cycle[0]!.kind, 'order-cycle');
  assert.match(cycle[0]!.message, /"x-\d+" → "y-\d+" → "z-\d+" before/);
  // Two mutexes of one class (one name) nested: reported without blocking.
  const other = new SharedMutex(locksBuffer(1), 0, x!.name);
  x!.lock(); other.lock(); other.unlock(); x!.unlock();
  assert.equal(sync.lockdepReports().slice(before)[1]?.kind, 'recursive');
  assert.deepEqual(sync.heldLocks(), []);
});

test('SharedMutex: mutual exclusion under contention across workers', async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 50, max: 2000 }), async (workers, iterations) => {
    const sab = locksBuffer(1);
    const n = names('counter');
    const runs = Array.from({ length: workers }, () => runWorker({ scenario: 'count', sab, names: n, iterations }));
    for (const reports of await Promise.all(runs)) assert.deepEqual(reports, []);
    assert.equal(new Int32Array(sab, SharedMutex.BYTES, 2)[1], workers * iterations);
    assert.equal(new SharedMutex(sab, 0, n[0]!).locked, false);
  }), { numRuns: 6 });
});

test('SharedMutex: tryLock, unlock of a free mutex, bad layout; waitFor and wake', () => {
  const sab = locksBuffer(1);
  const m = new SharedMutex(sab, 0, names('plain')[0]!);
  assert.equal(m.tryLock(), true);
  assert.equal(m.tryLock(), false);
  m.unlock();
  assert.throws(() => m.unlock(), { code: 'ERR_SYNC_NOT_LOCKED' });
  assert.throws(() => new SharedMutex(sab, 2, 'odd'), { code: 'ERR_SYNC_LAYOUT' });
  assert.throws(() => new SharedMutex(sab, sab.byteLength - 4, 'tail'), { code: 'ERR_SYNC_LAYOUT' });
  const cell = new Int32Array(new SharedArrayBuffer(8));
  assert.equal(sync.waitFor(cell, 0, 1), 'not-equal');
  assert.equal(sync.waitFor(cell, 0, 0, 1), 'timed-out');
  assert.equal(sync.wake(cell, 0), 0);
  sync.publish(cell, 0, 3);
  assert.equal(sync.parkWhile(cell, 0, 2), 3);
});
