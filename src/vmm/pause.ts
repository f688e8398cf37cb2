/**
 * Pausing a VM: every vCPU parked outside KVM_RUN, for the operator
 * (`tkvm pause`) or around a register read (`tkvm debug`, NMI injection).
 */

/** One vCPU as the pause sees it (VcpuHandle, or a simulation in tests). */
export interface Pausable {
  readonly id: number;
  /** Resolves once the vCPU is parked (or has stopped); rejects if it does not within `timeoutMs`. */
  pause(timeoutMs?: number): Promise<void>;
  /** Lets a paused (or pausing) vCPU run again. */
  resume(): void;
}

export class VmPause {
  readonly #vcpus: readonly Pausable[];
  readonly #ending: () => boolean;
  #paused = false;
  #lock: Promise<void> = Promise.resolve();

  /** `vcpus` is read at each pause: the caller may fill it later. */
  constructor(vcpus: readonly Pausable[], ending: () => boolean) {
    this.#vcpus = vcpus;
    this.#ending = ending;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Parks every vCPU outside KVM_RUN; idempotent. */
  async pause(): Promise<void> {
    await this.#serialize(async () => {
      if (this.#paused || this.#ending()) return;
      await Promise.all(this.#vcpus.map((t) => t.pause()));
      this.#paused = true;
    });
  }

  async resume(): Promise<void> {
    await this.#serialize(async () => {
      if (!this.#paused) return;
      this.#vcpus.forEach((t) => t.resume());
      this.#paused = false;
    });
  }

  async whileParked<T>(fn: () => T): Promise<T> {
    const wasPaused = this.#paused;
    await this.pause();
    try {
      return fn();
    } finally {
      if (!wasPaused) await this.resume();
    }
  }

  /** Pause and resume must not interleave (two clients at once). */
  #serialize(fn: () => Promise<void>): Promise<void> {
    const next = this.#lock.then(fn, fn);
    this.#lock = next.catch(() => {});
    return next;
  }
}
