/**
 * Fans the guest console's output out to attached clients (the control
 * command `console`, docs/control-protocol.md) and keeps a bounded ring of
 * the most recent output, which a client gets first when it attaches.
 *
 * The hub never holds the VM back: it receives the chunks the terminal
 * console has already written (SerialConsole's flush), copies them into a
 * preallocated ring and hands each listener the same chunk. A listener that
 * cannot keep up must drop or disconnect on its own side; one that throws
 * is detached.
 */

/** Receives one chunk of guest output; must not keep or modify it beyond the call. */
export type ConsoleListener = (chunk: Uint8Array) => void;

export interface ConsoleAttachment {
  /** The ring's contents at the moment of attaching, oldest first (a copy). */
  recent: Uint8Array;
  /** Stops delivery to this listener; idempotent. */
  detach(): void;
}

/** Recent output a newly attached client is shown (a couple of screens of boot log). */
export const CONSOLE_RING_BYTES = 64 * 1024;

export class ConsoleHub {
  readonly #ring: Uint8Array;
  /** Index of the oldest byte in the ring. */
  #start = 0;
  #length = 0;
  readonly #listeners = new Set<ConsoleListener>();
  #published = 0;

  constructor(capacity = CONSOLE_RING_BYTES) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new RangeError(`console ring capacity must be a positive integer, got ${capacity}`);
    this.#ring = new Uint8Array(capacity);
  }

  /** Bytes published since the hub was made. */
  get publishedBytes(): number {
    return this.#published;
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Records one chunk of guest output and passes it to every listener. */
  publish(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#published += chunk.length;
    this.#record(chunk);
    for (const listener of this.#listeners) {
      try {
        listener(chunk);
      } catch {
        this.#listeners.delete(listener);
      }
    }
  }

  /** A copy of the ring's contents, oldest byte first. */
  recent(): Uint8Array {
    const out = new Uint8Array(this.#length);
    const capacity = this.#ring.length;
    const firstPart = Math.min(this.#length, capacity - this.#start);
    out.set(this.#ring.subarray(this.#start, this.#start + firstPart), 0);
    if (firstPart < this.#length) out.set(this.#ring.subarray(0, this.#length - firstPart), firstPart);
    return out;
  }

  /** Adds a listener; what it is given afterwards follows `recent` without a gap or an overlap. */
  attach(listener: ConsoleListener): ConsoleAttachment {
    const recent = this.recent();
    this.#listeners.add(listener);
    return { recent, detach: () => void this.#listeners.delete(listener) };
  }

  #record(chunk: Uint8Array): void {
    const capacity = this.#ring.length;
    // Only the last `capacity` bytes of a large chunk can survive.
    const bytes = chunk.length > capacity ? chunk.subarray(chunk.length - capacity) : chunk;
    let end = (this.#start + this.#length) % capacity;
    const firstPart = Math.min(bytes.length, capacity - end);
    this.#ring.set(bytes.subarray(0, firstPart), end);
    if (firstPart < bytes.length) this.#ring.set(bytes.subarray(firstPart), 0);
    end = (end + bytes.length) % capacity;
    const length = this.#length + bytes.length;
    if (length >= capacity) {
      this.#length = capacity;
      this.#start = end;
    } else {
      this.#length = length;
    }
  }
}
