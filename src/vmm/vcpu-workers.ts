/**
 * vCPU worker threads can be spawned before the rest of the VMM is loaded:
 * a thread's start-up (a new V8 isolate, loading its modules and koffi) then
 * overlaps the main thread's. This module imports nothing heavy on purpose.
 */
import { Worker } from 'node:worker_threads';
// With TKVM_LOCKDEP=1 this creates the shared lock registry, which only workers spawned after it inherit.
import '../util/lockdep.js';

const THREAD_URL = new URL('./vcpu-thread.js', import.meta.url);
const prespawned = new Map<number, Worker>();
/** Settles once a prespawned thread has loaded its modules (or died). */
const loaded = new Map<Worker, Promise<void>>();

export function spawnVcpuWorker(id: number): Worker {
  return new Worker(THREAD_URL, { name: `vcpu${id}`, stdout: false, stderr: false });
}

/** Starts `count` vCPU threads now; the VMM adopts them with takeVcpuWorker. */
export function prespawnVcpuWorkers(count: number): void {
  for (let id = 0; id < count; id++) {
    if (prespawned.has(id)) continue;
    const worker = spawnVcpuWorker(id);
    prespawned.set(id, worker);
    loaded.set(worker, new Promise((resolve) => {
      const done = (): void => resolve();
      worker.on('message', (m: { type?: string }) => { if (m.type === 'loaded') done(); });
      worker.once('error', done);
      worker.once('exit', done);
    }));
  }
}

/**
 * Settles once every prespawned thread has loaded its modules. The main
 * thread must not load koffi (vmm/run.js) while a thread is: two threads
 * initialising koffi at once abort the process now and then (FATAL ERROR
 * Error::ThrowAsJavaScriptException napi_throw, measured: 7 of 200 runs).
 */
export async function prespawnedVcpuWorkersLoaded(timeoutMs = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([Promise.all(loaded.values()), timeout]);
  clearTimeout(timer);
}

/**
 * Stops the prespawned threads nobody adopted (the run failed before the
 * VMM took them). A thread is terminated only once it has loaded its
 * modules: exiting while it is inside koffi's native initialisation aborts
 * the process (FATAL ERROR ... napi_throw) instead of printing the error.
 */
export async function releasePrespawnedVcpuWorkers(timeoutMs = 10_000): Promise<void> {
  const workers = [...prespawned.values()];
  prespawned.clear();
  await Promise.all(workers.map(async (worker) => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([loaded.get(worker), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    loaded.delete(worker);
    await worker.terminate();
  }));
}

/** A prespawned thread for vCPU `id`, or a new one. */
export function takeVcpuWorker(id: number): Worker {
  const worker = prespawned.get(id);
  prespawned.delete(id);
  if (worker !== undefined) loaded.delete(worker);
  return worker ?? spawnVcpuWorker(id);
}
