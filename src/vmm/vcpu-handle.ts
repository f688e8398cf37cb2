/**
 * The VMM's handle on one vCPU thread: spawns the worker early (so its
 * module loading overlaps VM construction), starts it on a configured vCPU,
 * and kicks, pauses or stops it.
 */
import type { Worker } from 'node:worker_threads';
import type { Vcpu } from '../kvm/vcpu.js';
import { kickThread } from '../sys/signals.js';
import { TkvmError } from '../util/errors.js';
import { VcpuCommand, VcpuControl, VcpuRunState } from './vcpu-control.js';
import type { VcpuThreadInit, VcpuThreadMessage } from './vcpu-thread.js';
import { takeVcpuWorker } from './vcpu-workers.js';

export class VcpuHandle {
  readonly id: number;
  readonly control = new VcpuControl();
  readonly #worker: Worker;
  #vcpu: Vcpu | undefined;
  #stopped: Promise<void>;
  #exited = false;

  /** Spawns the thread; it idles until start(). */
  constructor(id: number, onMessage: (msg: VcpuThreadMessage) => void, onError: (err: Error) => void) {
    this.id = id;
    this.#worker = takeVcpuWorker(id);
    this.#stopped = new Promise((resolve) => {
      this.#worker.once('exit', () => {
        this.#exited = true;
        resolve();
      });
    });
    this.#worker.on('message', onMessage);
    this.#worker.on('error', onError);
  }

  start(vcpu: Vcpu, init: Omit<VcpuThreadInit, 'id' | 'vcpuFd' | 'mmapSize' | 'control'>): void {
    this.#vcpu = vcpu;
    const full: VcpuThreadInit = { ...init, id: this.id, vcpuFd: vcpu.fd, mmapSize: vcpu.mmapSize, control: this.control.sab };
    this.#worker.postMessage(full);
  }

  /** Forces the thread out of KVM_RUN: immediate_exit plus the kick signal. */
  kick(): void {
    this.#vcpu?.setImmediateExit(true);
    const tid = this.control.tid;
    if (tid > 0 && this.control.state !== VcpuRunState.Stopped) kickThread(tid);
  }

  /**
   * Asks the vCPU to park and resolves once it has (or has stopped); rejects
   * with ERR_VCPU_PAUSE_TIMEOUT if it has not within `timeoutMs`, leaving the
   * command at Pause (the caller resumes or stops it).
   */
  async pause(timeoutMs = 2000): Promise<void> {
    this.control.setCommand(VcpuCommand.Pause);
    this.kick();
    await this.#until((s) => s === VcpuRunState.Paused || s === VcpuRunState.Stopped, timeoutMs);
  }

  resume(): void {
    if (this.control.command === VcpuCommand.Pause) this.control.setCommand(VcpuCommand.Run);
  }

  /**
   * Stops the thread: the command, then kicks until it leaves KVM_RUN; a
   * thread that does not end within `graceMs` is terminated.
   */
  async stop(graceMs = 2000): Promise<void> {
    this.control.setCommand(VcpuCommand.Stop);
    if (!this.#vcpu) {
      await this.#worker.terminate(); // never started: nothing is in KVM_RUN
      return;
    }
    const deadline = Date.now() + graceMs;
    while (!this.#exited && Date.now() < deadline) {
      this.kick();
      await Promise.race([this.#stopped, sleep(20)]);
    }
    if (!this.#exited) await this.#worker.terminate();
  }

  get state(): VcpuRunState {
    return this.control.state;
  }

  /** Waits for a state, kicking the thread again every few ms in case a kick was missed. */
  async #until(pred: (s: VcpuRunState) => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let state = this.control.state; !pred(state); state = this.control.state) {
      if (Date.now() > deadline) throw new TkvmError('ERR_VCPU_PAUSE_TIMEOUT', `vCPU ${this.id} did not respond within ${timeoutMs} ms`);
      this.kick();
      await this.control.stateChange(state, 5);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
