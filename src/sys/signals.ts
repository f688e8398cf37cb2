/**
 * The vCPU kick signal. A vCPU thread blocked in KVM_RUN is made to return
 * by setting kvm_run.immediate_exit and sending it this signal with tgkill:
 * KVM_RUN then fails with EINTR (or returns at once if the signal came
 * before entry), as in Firecracker and Cloud Hypervisor.
 *
 * The signal needs a real handler (SIG_IGN would discard it, the default
 * would kill the process). Listening for it in the main thread makes
 * Node/libuv install its async-signal-safe handler process-wide; it runs on
 * whichever thread receives the signal and only wakes the main loop.
 */
import * as sys from './libc.js';

export const KICK_SIGNAL_NAME = 'SIGUSR2';
/** SIGUSR2 on x86-64 Linux. */
export const KICK_SIGNAL = 12;

let installed = false;
const ignoreKick = (): void => {};

/** Installs the process-wide kick handler; call once in the main thread before starting vCPUs. */
export function installKickHandler(): void {
  if (installed) return;
  process.on(KICK_SIGNAL_NAME, ignoreKick);
  installed = true;
}

export function removeKickHandler(): void {
  if (!installed) return;
  process.off(KICK_SIGNAL_NAME, ignoreKick);
  installed = false;
}

/** Interrupts thread `tid` of this process; false if the thread is gone. */
export function kickThread(tid: number): boolean {
  return sys.tgkill(sys.getpid(), tid, KICK_SIGNAL);
}
