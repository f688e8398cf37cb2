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

export function spawnVcpuWorker(id: number): Worker {
  return new Worker(THREAD_URL, { name: `vcpu${id}`, stdout: false, stderr: false });
}

/** Starts `count` vCPU threads now; the VMM adopts them with takeVcpuWorker. */
export function prespawnVcpuWorkers(count: number): void {
  for (let id = 0; id < count; id++) if (!prespawned.has(id)) prespawned.set(id, spawnVcpuWorker(id));
}

/** A prespawned thread for vCPU `id`, or a new one. */
export function takeVcpuWorker(id: number): Worker {
  const worker = prespawned.get(id);
  prespawned.delete(id);
  return worker ?? spawnVcpuWorker(id);
}
