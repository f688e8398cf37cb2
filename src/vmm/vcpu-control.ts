/**
 * The block of shared memory between the VMM and one vCPU thread: what the
 * VMM wants (run, pause, stop), what the vCPU is doing, its thread id for
 * kicks, and its exit counters. Only the vCPU thread writes the counters.
 * The park and the waits for a state go through util/sync.ts.
 */
import { parkWhile, publish, waitForAsync } from '../util/sync.js';

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
  'io-port80', 'io-com1', 'io-rtc', 'io-unclaimed', 'mmio-unclaimed',
  // Instructions the host could not emulate and tkvm handled (compat mode):
  'emulated',
] as const;
export type ExitCounter = (typeof EXIT_COUNTERS)[number];

const CMD = 0;
const STATE = 1;
const TID = 2;
/** Profiler: the number of the sample the VMM asked for, and of the last one taken. */
const SAMPLE_WANTED = 3;
const SAMPLE_TAKEN = 4;
/** The last sample: RIP low and high halves, CPL. */
const SAMPLE_RIP_LOW = 5;
const SAMPLE_RIP_HIGH = 6;
const SAMPLE_CPL = 7;
const INT_WORDS = 8;
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
    publish(this.#ints, CMD, cmd);
  }

  get state(): VcpuRunState {
    return Atomics.load(this.#ints, STATE);
  }

  setState(state: VcpuRunState): void {
    publish(this.#ints, STATE, state);
  }

  /** Main-thread side: resolves when the state is no longer `from`, or after `timeoutMs`. */
  async stateChange(from: VcpuRunState, timeoutMs: number): Promise<void> {
    const w = waitForAsync(this.#ints, STATE, from, timeoutMs);
    if (w.async) await w.value;
  }

  get tid(): number {
    return Atomics.load(this.#ints, TID);
  }

  setTid(tid: number): void {
    Atomics.store(this.#ints, TID, tid);
  }

  /** vCPU side: parks while the command is Pause. */
  waitWhilePaused(): void {
    parkWhile(this.#ints, CMD, VcpuCommand.Pause, 'vCPU parked while paused');
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

  /** Main-thread side: asks for sample `seq` (the caller then kicks the vCPU). */
  requestSample(seq: number): void {
    Atomics.store(this.#ints, SAMPLE_WANTED, seq);
  }

  /** vCPU side: the sample number wanted, if it differs from the one last taken; else 0. */
  get sampleWanted(): number {
    const wanted = Atomics.load(this.#ints, SAMPLE_WANTED);
    return wanted !== Atomics.load(this.#ints, SAMPLE_TAKEN) ? wanted : 0;
  }

  /** vCPU side: publishes sample `seq` ([ripLow, ripHigh, cpl]); the sequence number goes last. */
  storeSample(seq: number, sample: Uint32Array): void {
    Atomics.store(this.#ints, SAMPLE_RIP_LOW, sample[0]! | 0);
    Atomics.store(this.#ints, SAMPLE_RIP_HIGH, sample[1]! | 0);
    Atomics.store(this.#ints, SAMPLE_CPL, sample[2]! | 0);
    Atomics.store(this.#ints, SAMPLE_TAKEN, seq);
  }

  /** Main-thread side: sample `seq` into `out` [ripLow, ripHigh, cpl] if the vCPU has taken it. */
  takenSample(seq: number, out: Uint32Array): boolean {
    if (Atomics.load(this.#ints, SAMPLE_TAKEN) !== seq) return false;
    out[0] = Atomics.load(this.#ints, SAMPLE_RIP_LOW);
    out[1] = Atomics.load(this.#ints, SAMPLE_RIP_HIGH);
    out[2] = Atomics.load(this.#ints, SAMPLE_CPL);
    return true;
  }

  /** Wall-clock time (ms since the epoch) of this vCPU's first KVM_RUN. */
  get firstRunEpochMs(): number {
    return this.#floats[FIRST_RUN_SLOT]!;
  }

  setFirstRunEpochMs(ms: number): void {
    this.#floats[FIRST_RUN_SLOT] = ms;
  }
}
