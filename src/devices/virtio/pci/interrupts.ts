/**
 * Used-buffer and configuration-change notifications of a virtio-pci
 * device (virtio 1.2 §4.1.5.3, §4.1.5.4), raisable from any thread.
 *
 * With MSI-X enabled each event goes to the vector the driver mapped it to
 * (config_msix_vector, queue_msix_vector; NO_VECTOR suppresses it) through
 * the vector's irqfd, or into the PBA while masked. With MSI-X disabled the
 * device sets the ISR bit and asks for INTx, which the main thread raises.
 * The ISR and the vector mapping live in a SharedArrayBuffer; the main
 * thread's transport writes the mapping, device workers read it.
 */
import { type EventFdWriter, MsixSharedState } from '../../pci/msix-state.js';
import { ISR_CONFIG, ISR_QUEUE, VIRTIO_MSI_NO_VECTOR } from './layout.js';

const ISR_WORD = 0;
const CONFIG_VECTOR_WORD = 1;
const QUEUE_VECTOR_BASE = 2;

/** Everything a thread needs to raise a device's interrupts (structured-clonable). */
export interface VirtioInterruptInit {
  virtioState: SharedArrayBuffer;
  msixState: SharedArrayBuffer;
  vectors: number;
  queues: number;
  /** One irqfd per MSI-X vector. */
  eventFds: number[];
}

/** The ISR and vector mapping (main thread writes, any thread reads). */
export class VirtioInterruptState {
  readonly buffer: SharedArrayBuffer;
  readonly queues: number;
  readonly #words: Int32Array;

  constructor(queues: number, buffer?: SharedArrayBuffer) {
    this.queues = queues;
    this.buffer = buffer ?? new SharedArrayBuffer(4 * (QUEUE_VECTOR_BASE + queues));
    this.#words = new Int32Array(this.buffer, 0, QUEUE_VECTOR_BASE + queues);
    if (!buffer) this.resetVectors();
  }

  resetVectors(): void {
    Atomics.store(this.#words, CONFIG_VECTOR_WORD, VIRTIO_MSI_NO_VECTOR);
    for (let q = 0; q < this.queues; q++) Atomics.store(this.#words, QUEUE_VECTOR_BASE + q, VIRTIO_MSI_NO_VECTOR);
  }

  get configVector(): number {
    return Atomics.load(this.#words, CONFIG_VECTOR_WORD);
  }

  set configVector(vector: number) {
    Atomics.store(this.#words, CONFIG_VECTOR_WORD, vector);
  }

  queueVector(queue: number): number {
    return queue >= 0 && queue < this.queues ? Atomics.load(this.#words, QUEUE_VECTOR_BASE + queue) : VIRTIO_MSI_NO_VECTOR;
  }

  setQueueVector(queue: number, vector: number): void {
    Atomics.store(this.#words, QUEUE_VECTOR_BASE + queue, vector);
  }

  get isr(): number {
    return Atomics.load(this.#words, ISR_WORD);
  }

  setIsr(bits: number): void {
    Atomics.or(this.#words, ISR_WORD, bits);
  }

  /** Reads and clears the ISR (§4.1.4.5: reading it resets it to 0). */
  takeIsr(): number {
    return Atomics.exchange(this.#words, ISR_WORD, 0);
  }
}

/** Raises a device's interrupts from the thread it is constructed in. */
export class VirtioInterruptSignaller {
  readonly state: VirtioInterruptState;
  readonly msix: MsixSharedState;
  readonly #eventFds: readonly number[];
  readonly #write: EventFdWriter;
  readonly #requestIntx: () => void;
  /** Counts for stats: MSI-X writes, PBA records, INTx requests, suppressed (NO_VECTOR). */
  readonly counts = { msix: 0, pending: 0, intx: 0, suppressed: 0 };

  constructor(init: VirtioInterruptInit, write: EventFdWriter, requestIntx: () => void) {
    this.state = new VirtioInterruptState(init.queues, init.virtioState);
    this.msix = new MsixSharedState(init.vectors, init.msixState);
    this.#eventFds = init.eventFds;
    this.#write = write;
    this.#requestIntx = requestIntx;
  }

  /** A used-buffer notification for `queue`. */
  signalQueue(queue: number): void {
    this.#signal(this.state.queueVector(queue), ISR_QUEUE);
  }

  /** A configuration change notification. */
  signalConfig(): void {
    this.#signal(this.state.configVector, ISR_CONFIG);
  }

  #signal(vector: number, isrBit: number): void {
    const outcome = this.msix.signal(vector, this.#eventFds, this.#write);
    switch (outcome) {
      case 'sent': this.counts.msix++; break;
      case 'pending': this.counts.pending++; break;
      case 'no-vector': this.counts.suppressed++; break;
      case 'disabled':
        this.state.setIsr(isrBit);
        this.counts.intx++;
        this.#requestIntx();
        break;
    }
  }
}
