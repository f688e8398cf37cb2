/**
 * Synchronous device-access RPC from a vCPU thread to the device thread
 * (the main event loop), over a SharedArrayBuffer per vCPU.
 *
 * The vCPU thread writes a request and blocks in Atomics.wait; the main
 * thread is woken through Atomics.waitAsync, runs the device on its bus and
 * publishes the reply. Devices therefore live in one thread and need no
 * locks, whatever the number of vCPUs. Accesses that need no device state
 * (port 0x80, unclaimed ports) never come here: the vCPU thread answers them.
 * The waits and wake-ups go through util/sync.ts.
 */

import { publish, waitFor, waitForAsync, wake } from '../util/sync.js';

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
/** Non-zero once the server has closed: requests fail at once. */
const CLOSED = 5;
const DATA_OFFSET = 32;
export const MAILBOX_BYTES = 64;

/*
 * The handshake, on the STATE word. Only the client moves IDLE→REQUEST and
 * REPLY→IDLE; only the server moves BUSY→REPLY. Both race for REQUEST, by
 * compare-and-exchange: the server to BUSY (it will serve it), the client
 * back to IDLE (it abandons it). Whoever wins, the other backs off, so an
 * abandoned request never reaches a device and a served one is always
 * answered.
 */
const IDLE = 0;
const REQUEST = 1;
const BUSY = 2;
const REPLY = 3;

const POLL_MS = 100;
const WAIT_SITE = 'vCPU waits for the device thread (mailbox)';

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
   * if the access did not reach a device: the server has closed, or
   * `abandon()` (asked every 100 ms of waiting) said to give up because the
   * VM is stopping. The data then reads as all ones.
   */
  call(kind: AccessKind, addr: number, data: Uint8Array, abandon: () => boolean): boolean {
    const w = this.#words;
    if (Atomics.load(w, CLOSED) !== 0) return fail(data);
    w[KIND] = kind;
    w[SIZE] = data.length;
    w[ADDR_LO] = addr >>> 0;
    w[ADDR_HI] = Math.floor(addr / 0x1_0000_0000);
    if (kind === AccessKind.PioWrite || kind === AccessKind.MmioWrite) this.#data.set(data);
    publish(w, STATE, REQUEST);
    for (;;) {
      const state = Atomics.load(w, STATE);
      if (state === REPLY) break;
      if (state === REQUEST && (Atomics.load(w, CLOSED) !== 0 || abandon())) {
        // Take the request back unless the server has just taken it.
        if (Atomics.compareExchange(w, STATE, REQUEST, IDLE) === REQUEST) return fail(data);
        continue;
      }
      waitFor(w, STATE, state, POLL_MS, WAIT_SITE);
    }
    const served = w[SIZE]! >= 0; // close() answers with -1
    if (kind === AccessKind.PioRead || kind === AccessKind.MmioRead) data.set(this.#data.subarray(0, data.length));
    Atomics.store(w, STATE, IDLE);
    return served;
  }
}

function fail(data: Uint8Array): false {
  data.fill(0xff);
  return false;
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

  /**
   * Stops serving: a request still pending is answered with all ones (the
   * client's call returns false), and later requests fail at once.
   * Idempotent.
   */
  close(): void {
    this.#closed = true;
    for (const box of this.#boxes) {
      const w = box.words;
      Atomics.store(w, CLOSED, 1); // before the look at STATE: the client checks them the other way round
      if (Atomics.compareExchange(w, STATE, REQUEST, BUSY) === REQUEST) {
        box.data.fill(0xff);
        w[SIZE] = -1; // not served
        publish(w, STATE, REPLY);
      } else {
        wake(w, STATE);
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
        if (Atomics.compareExchange(w, STATE, REQUEST, BUSY) === REQUEST) this.#handle(box);
        continue;
      }
      const wait = waitForAsync(w, STATE, state);
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
    publish(w, STATE, REPLY);
  }
}

export function createMailbox(): SharedArrayBuffer {
  return new SharedArrayBuffer(MAILBOX_BYTES);
}
