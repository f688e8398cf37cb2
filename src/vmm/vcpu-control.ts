/**
 * The block of shared memory between the VMM and one vCPU thread: what the
 * VMM wants (run, pause, stop), what the vCPU is doing, its thread id for
 * kicks, and its exit counters. Only the vCPU thread writes the counters.
 */

export const enum VcpuCommand {
  Run = 0,
  Pause = 1,
  Stop = 2,
}

export const enum VcpuRunState {
  Starting = 0,
  Running = 1,
  Paused = 2,
  Stopped = 3,
}

/** Exit reasons counted per vCPU, in counter order. */
export const EXIT_COUNTERS = [
  'io', 'mmio', 'hlt', 'shutdown', 'interrupted', 'irq-window-open', 'fail-entry',
  'internal-error', 'system-event', 'debug', 'hypercall', 'unknown',
  // Accesses the vCPU thread answered itself:
  'io-port80', 'io-unclaimed', 'mmio-unclaimed',
  // Instructions the host could not emulate and tkvm handled (compat mode):
  'emulated',
] as const;
export type ExitCounter = (typeof EXIT_COUNTERS)[number];

const INT_WORDS = 4;
const CMD = 0;
const STATE = 1;
const TID = 2;
const FIRST_RUN_SLOT = EXIT_COUNTERS.length;
const FLOAT_SLOTS = EXIT_COUNTERS.length + 1;

export class VcpuControl {
  readonly sab: SharedArrayBuffer;
  readonly #ints: Int32Array;
  readonly #floats: Float64Array;
  readonly #counterIndex: Map<string, number>;

  constructor(sab: SharedArrayBuffer = new SharedArrayBuffer(INT_WORDS * 4 + FLOAT_SLOTS * 8)) {
    this.sab = sab;
    this.#ints = new Int32Array(sab, 0, INT_WORDS);
    this.#floats = new Float64Array(sab, INT_WORDS * 4, FLOAT_SLOTS);
    this.#counterIndex = new Map(EXIT_COUNTERS.map((n, i) => [n, i]));
  }

  get command(): VcpuCommand {
    return Atomics.load(this.#ints, CMD);
  }

  /** Sets the command and wakes a vCPU parked in waitWhilePaused(). */
  setCommand(cmd: VcpuCommand): void {
    Atomics.store(this.#ints, CMD, cmd);
    Atomics.notify(this.#ints, CMD);
  }

  get state(): VcpuRunState {
    return Atomics.load(this.#ints, STATE);
  }

  setState(state: VcpuRunState): void {
    Atomics.store(this.#ints, STATE, state);
    Atomics.notify(this.#ints, STATE);
  }

  get tid(): number {
    return Atomics.load(this.#ints, TID);
  }

  setTid(tid: number): void {
    Atomics.store(this.#ints, TID, tid);
  }

  /** vCPU side: blocks while the command is Pause. */
  waitWhilePaused(): void {
    while (Atomics.load(this.#ints, CMD) === VcpuCommand.Pause) Atomics.wait(this.#ints, CMD, VcpuCommand.Pause, 1000);
  }

  /** Hot path: counters are indexed by number to avoid a lookup per exit. */
  countAt(index: number): void {
    this.#floats[index]!++;
  }

  counterIndex(name: ExitCounter): number {
    return this.#counterIndex.get(name)!;
  }

  counters(): Record<ExitCounter, number> {
    return Object.fromEntries(EXIT_COUNTERS.map((n, i) => [n, this.#floats[i]!])) as Record<ExitCounter, number>;
  }

  /** Wall-clock time (ms since the epoch) of this vCPU's first KVM_RUN. */
  get firstRunEpochMs(): number {
    return this.#floats[FIRST_RUN_SLOT]!;
  }

  setFirstRunEpochMs(ms: number): void {
    this.#floats[FIRST_RUN_SLOT] = ms;
  }
}
