/**
 * Pausing a VM: every vCPU parked outside KVM_RUN, for the operator
 * (`tkvm pause`) or around a register read (`tkvm debug`, NMI injection).
 *
 * All or nothing: if a vCPU does not park within the bound, every vCPU is
 * resumed and the caller gets ERR_PAUSE_TIMEOUT, so the VM is never left
 * half paused while reported as running. The operator's pause and the
 * internal ones are separate reasons: a register read parks the vCPUs only
 * if they run, and resumes them afterwards only if nobody else wants them
 * parked, so `debug` never undoes `tkvm pause`. Operations run one at a
 * time, in the order they were asked for.
 */
import { TkvmError } from '../util/errors.js';

/** One vCPU as the pause sees it (VcpuHandle, or a simulation in tests). */
export interface Pausable {
  readonly id: number;
  /** Resolves once the vCPU is parked (or has stopped); rejects if it does not within `timeoutMs`. */
  pause(timeoutMs?: number): Promise<void>;
  /** Lets a paused (or pausing) vCPU run again. */
  resume(): void;
}

/** How long each vCPU has to park before the pause is rolled back. */
export const PAUSE_TIMEOUT_MS = 2000;

export class VmPause {
  readonly #vcpus: readonly Pausable[];
  readonly #ending: () => boolean;
  readonly #timeoutMs: number;
  /** The operator asked for a pause (what `tkvm list` reports). */
  #operator = false;
  /** Every vCPU is parked now. */
  #parked = false;
  #queue: Promise<unknown> = Promise.resolve();

  /** `vcpus` is read at each pause: the caller may fill it later. */
  constructor(vcpus: readonly Pausable[], ending: () => boolean, opts: { timeoutMs?: number } = {}) {
    this.#vcpus = vcpus;
    this.#ending = ending;
    this.#timeoutMs = opts.timeoutMs ?? PAUSE_TIMEOUT_MS;
  }

  /** Whether the operator's pause is in force (every vCPU is then parked). */
  get paused(): boolean {
    return this.#operator;
  }

  /** Parks every vCPU outside KVM_RUN; idempotent. Rejects, with the VM running, if one does not park. */
  pause(): Promise<void> {
    return this.#serialize(async () => {
      if (this.#operator || this.#ending()) return;
      await this.#park();
      this.#operator = true;
    });
  }

  resume(): Promise<void> {
    return this.#serialize(async () => {
      if (!this.#operator) return;
      this.#operator = false;
      this.#unpark();
    });
  }

  /** Runs `fn` (and waits for it, if it is async) with every vCPU parked, then leaves the VM as the operator wants it. */
  whileParked<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.#serialize(async () => {
      const mine = !this.#parked;
      if (mine) await this.#park();
      try {
        return await fn();
      } finally {
        if (mine && !this.#operator) this.#unpark();
      }
    });
  }

  async #park(): Promise<void> {
    const vcpus = this.#vcpus;
    const results = await Promise.allSettled(vcpus.map((v) => v.pause(this.#timeoutMs)));
    const missed = vcpus.filter((_, i) => results[i]!.status === 'rejected').map((v) => v.id);
    if (missed.length > 0) {
      this.#unpark(); // roll back: the ones that parked run again, the late ones will not park
      throw new TkvmError('ERR_PAUSE_TIMEOUT',
        `vCPU ${missed.join(', ')} did not pause within ${this.#timeoutMs} ms; every vCPU was resumed and the VM is running`);
    }
    this.#parked = true;
  }

  #unpark(): void {
    this.#parked = false;
    for (const v of this.#vcpus) v.resume();
  }

  /** One operation at a time (two clients at once, or a debug during a pause). */
  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => {});
    return next;
  }
}
