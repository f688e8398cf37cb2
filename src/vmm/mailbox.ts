/**
 * Synchronous device-access RPC from a vCPU thread to the device thread
 * (the main event loop), over a SharedArrayBuffer per vCPU.
 *
 * The vCPU thread writes a request and blocks in Atomics.wait; the main
 * thread is woken through Atomics.waitAsync, runs the device on its bus and
 * publishes the reply. Devices therefore live in one thread and need no
 * locks, whatever the number of vCPUs. Accesses that need no device state
 * (port 0x80, unclaimed ports) never come here: the vCPU thread answers them.
 */

export const enum AccessKind {
  PioRead = 0,
  PioWrite = 1,
  MmioRead = 2,
  MmioWrite = 3,
}

const STATE = 0;
const KIND = 1;
const SIZE = 2;
const ADDR_LO = 3;
const ADDR_HI = 4;
const DATA_OFFSET = 32;
export const MAILBOX_BYTES = 64;

const IDLE = 0;
const REQUEST = 1;
const REPLY = 2;

/** vCPU side: one outstanding request at a time. */
export class MailboxClient {
  readonly #words: Int32Array;
  readonly #data: Uint8Array;

  constructor(sab: SharedArrayBuffer) {
    this.#words = new Int32Array(sab, 0, 8);
    this.#data = new Uint8Array(sab, DATA_OFFSET, 8);
  }

  /**
   * Performs one access; for reads `data` receives the result. Returns false
   * if `abandon()` said to give up while waiting (the VM is stopping); the
   * data then reads as all ones.
   */
  call(kind: AccessKind, addr: number, data: Uint8Array, abandon: () => boolean): boolean {
    const w = this.#words;
    w[KIND] = kind;
    w[SIZE] = data.length;
    w[ADDR_LO] = addr >>> 0;
    w[ADDR_HI] = Math.floor(addr / 0x1_0000_0000);
    if (kind === AccessKind.PioWrite || kind === AccessKind.MmioWrite) this.#data.set(data);
    Atomics.store(w, STATE, REQUEST);
    Atomics.notify(w, STATE);
    while (Atomics.load(w, STATE) === REQUEST) {
      Atomics.wait(w, STATE, REQUEST, 100);
      if (Atomics.load(w, STATE) === REQUEST && abandon()) {
        data.fill(0xff);
        return false;
      }
    }
    if (kind === AccessKind.PioRead || kind === AccessKind.MmioRead) data.set(this.#data.subarray(0, data.length));
    Atomics.store(w, STATE, IDLE);
    return true;
  }
}

export type AccessHandler = (kind: AccessKind, addr: number, data: Uint8Array) => void;

/** Main-thread side: serves every vCPU's mailbox from the event loop. */
export class MailboxServer {
  readonly #boxes: Array<{ words: Int32Array; data: Uint8Array }>;
  readonly #handler: AccessHandler;
  readonly #onError: (err: unknown) => void;
  #closed = false;

  constructor(sabs: readonly SharedArrayBuffer[], handler: AccessHandler, onError: (err: unknown) => void) {
    this.#boxes = sabs.map((sab) => ({ words: new Int32Array(sab, 0, 8), data: new Uint8Array(sab, DATA_OFFSET, 8) }));
    this.#handler = handler;
    this.#onError = onError;
  }

  start(): void {
    this.#boxes.forEach((_, i) => this.#serve(i));
  }

  /** Stops serving; requests still pending are answered with all ones. */
  close(): void {
    this.#closed = true;
    for (const box of this.#boxes) {
      if (Atomics.load(box.words, STATE) === REQUEST) {
        box.data.fill(0xff);
        Atomics.store(box.words, STATE, REPLY);
        Atomics.notify(box.words, STATE);
      }
    }
  }

  #serve(i: number): void {
    const box = this.#boxes[i]!;
    const w = box.words;
    for (;;) {
      if (this.#closed) return;
      const state = Atomics.load(w, STATE);
      if (state === REQUEST) {
        this.#handle(box);
        continue;
      }
      const wait = Atomics.waitAsync(w, STATE, state);
      if (wait.async) {
        void wait.value.then(() => this.#serve(i));
        return;
      }
    }
  }

  #handle(box: { words: Int32Array; data: Uint8Array }): void {
    const w = box.words;
    const kind = w[KIND] as AccessKind;
    const size = w[SIZE]!;
    const addr = (w[ADDR_HI]! >>> 0) * 0x1_0000_0000 + (w[ADDR_LO]! >>> 0);
    const data = box.data.subarray(0, Math.min(Math.max(size, 0), 8));
    try {
      if (kind === AccessKind.PioRead || kind === AccessKind.MmioRead) data.fill(0xff);
      this.#handler(kind, addr, data);
    } catch (err) {
      data.fill(0xff);
      this.#onError(err);
    }
    Atomics.store(w, STATE, REPLY);
    Atomics.notify(w, STATE);
  }
}

export function createMailbox(): SharedArrayBuffer {
  return new SharedArrayBuffer(MAILBOX_BYTES);
}
