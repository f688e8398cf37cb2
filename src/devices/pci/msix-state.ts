/**
 * The part of a function's MSI-X state that threads other than the VMM's
 * main thread need (PCI 3.0 §6.8.2): whether MSI-X is enabled, which
 * vectors may be delivered right now (enabled, function and vector
 * unmasked, route and irqfd in place) and the Pending Bit Array. It lives
 * in a SharedArrayBuffer, so a device worker can decide without a message
 * whether to write a vector's irqfd or set its pending bit.
 *
 * Hand-off without lost interrupts: the main thread makes a vector
 * deliverable and only then drains its pending bit; a signaller that found
 * it not deliverable sets the pending bit and then checks again. Whoever
 * clears the pending bit (an atomic and returns the old word) delivers.
 */

const CONTROL = 0;
const CONTROL_ENABLED = 1;
const CONTROL_FUNCTION_MASKED = 2;
const HEADER_WORDS = 1;

/** What `signal` did with an interrupt. */
export type MsixSignalOutcome = 'sent' | 'pending' | 'disabled' | 'no-vector';

/** Writes 1 to an eventfd (an irqfd): the kernel injects the routed MSI. */
export type EventFdWriter = (eventFd: number) => void;

export class MsixSharedState {
  readonly buffer: SharedArrayBuffer;
  readonly vectors: number;
  readonly #words: Int32Array;
  readonly #bitmapWords: number;

  /** Creates the state for `vectors` vectors, or opens `buffer` made by another thread. */
  constructor(vectors: number, buffer?: SharedArrayBuffer) {
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > 2048) throw new RangeError(`MSI-X: ${vectors} vectors is not in 1..2048`);
    this.vectors = vectors;
    this.#bitmapWords = Math.ceil(vectors / 32);
    const bytes = 4 * (HEADER_WORDS + 2 * this.#bitmapWords);
    this.buffer = buffer ?? new SharedArrayBuffer(bytes);
    if (this.buffer.byteLength < bytes) throw new RangeError('MSI-X shared state buffer is too small');
    this.#words = new Int32Array(this.buffer, 0, bytes / 4);
  }

  get enabled(): boolean {
    return (Atomics.load(this.#words, CONTROL) & CONTROL_ENABLED) !== 0;
  }

  get functionMasked(): boolean {
    return (Atomics.load(this.#words, CONTROL) & CONTROL_FUNCTION_MASKED) !== 0;
  }

  setControl(enabled: boolean, functionMasked: boolean): void {
    Atomics.store(this.#words, CONTROL, (enabled ? CONTROL_ENABLED : 0) | (functionMasked ? CONTROL_FUNCTION_MASKED : 0));
  }

  isDeliverable(vector: number): boolean {
    return (Atomics.load(this.#words, this.#deliverableWord(vector)) & bit(vector)) !== 0;
  }

  setDeliverable(vector: number, deliverable: boolean): void {
    const w = this.#deliverableWord(vector);
    if (deliverable) Atomics.or(this.#words, w, bit(vector));
    else Atomics.and(this.#words, w, ~bit(vector));
  }

  isPending(vector: number): boolean {
    return (Atomics.load(this.#words, this.#pendingWord(vector)) & bit(vector)) !== 0;
  }

  setPending(vector: number): void {
    Atomics.or(this.#words, this.#pendingWord(vector), bit(vector));
  }

  /** Clears the pending bit; true if it was set (the caller must deliver). */
  takePending(vector: number): boolean {
    return (Atomics.and(this.#words, this.#pendingWord(vector), ~bit(vector)) & bit(vector)) !== 0;
  }

  /** PBA qword/dword `index` (32 vectors per dword), as the guest reads it. */
  pendingDword(index: number): number {
    return index < this.#bitmapWords ? Atomics.load(this.#words, HEADER_WORDS + this.#bitmapWords + index) >>> 0 : 0;
  }

  /**
   * Raises `vector` from any thread: writes its irqfd if deliverable, else
   * records it in the PBA for delivery at unmask. 'disabled' means MSI-X is
   * off (the caller uses INTx); 'no-vector' that the vector does not exist.
   */
  signal(vector: number, eventFds: readonly number[], write: EventFdWriter): MsixSignalOutcome {
    if (!this.enabled) return 'disabled';
    if (!Number.isInteger(vector) || vector < 0 || vector >= this.vectors) return 'no-vector';
    if (this.isDeliverable(vector)) {
      write(eventFds[vector]!);
      return 'sent';
    }
    this.setPending(vector);
    // It may have become deliverable meanwhile, with the pending bits already drained.
    if (this.isDeliverable(vector) && this.takePending(vector)) {
      write(eventFds[vector]!);
      return 'sent';
    }
    return 'pending';
  }

  #deliverableWord(vector: number): number {
    this.#check(vector);
    return HEADER_WORDS + (vector >>> 5);
  }

  #pendingWord(vector: number): number {
    this.#check(vector);
    return HEADER_WORDS + this.#bitmapWords + (vector >>> 5);
  }

  #check(vector: number): void {
    if (!Number.isInteger(vector) || vector < 0 || vector >= this.vectors) throw new RangeError(`MSI-X vector ${vector} is not below ${this.vectors}`);
  }
}

const bit = (vector: number): number => 1 << (vector & 31);
