/**
 * The default guest's console protocol (guest/init): whole lines that
 * init prints for tkvm rather than for the user.
 *   TKVM_INIT_START        first thing init does (boot-time benchmark)
 *   TKVM_EXIT_STATUS=<n>   the status of `tkvm run --exec CMD`
 * The tap passes every other byte straight through, without waiting for
 * the end of the line (a shell prompt has none); only a line that is still
 * a prefix of a marker is held back, and a whole marker line is swallowed.
 */

const MARKERS = ['TKVM_INIT_START', 'TKVM_EXIT_STATUS='] as const;
const MAX_LINE = 64;
/** A held partial line is let out after this long without the rest of it (a user typing "T..."). */
const HOLD_LIMIT_MS = 1000;

export interface GuestProtocolEvents {
  onInitStart?: () => void;
  onExitStatus?: (status: number) => void;
}

export class GuestProtocolTap {
  readonly #out: (byte: number) => void;
  readonly #events: GuestProtocolEvents;
  #line = '';
  #held: number[] = [];
  #atLineStart = true;
  #timer: NodeJS.Timeout | undefined;

  constructor(out: (byte: number) => void, events: GuestProtocolEvents) {
    this.#out = out;
    this.#events = events;
  }

  push(byte: number): void {
    if (this.#held.length === 0 && !this.#atLineStart) {
      this.#pass(byte);
      return;
    }
    // At the start of a line, or inside a possible marker line.
    if (byte === 0x0a || byte === 0x0d) {
      if (this.#held.length > 0 && this.#complete()) {
        this.#line = '';
        this.#held = [];
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#atLineStart = true;
        return; // the marker's line end is swallowed with it
      }
      this.#release();
      this.#pass(byte);
      return;
    }
    this.#line += String.fromCharCode(byte);
    this.#held.push(byte);
    if (!this.#couldBeMarker()) this.#release();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => this.flush(), HOLD_LIMIT_MS);
      this.#timer.unref();
    }
  }

  /** Lets out anything held back (at exit, or when a line stalls). */
  flush(): void {
    this.#release();
  }

  #pass(byte: number): void {
    this.#atLineStart = byte === 0x0a || byte === 0x0d;
    this.#out(byte);
  }

  #release(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const held = this.#held;
    this.#held = [];
    this.#line = '';
    for (const b of held) this.#pass(b);
  }

  #couldBeMarker(): boolean {
    const line = this.#line;
    if (line.length > MAX_LINE) return false;
    return MARKERS.some((m) => (line.length <= m.length ? m.startsWith(line) : line.startsWith(m) && (m !== 'TKVM_EXIT_STATUS=' || /^\d*$/.test(line.slice(m.length)))));
  }

  /** Acts on a held line that is a whole marker; false if it is not one. */
  #complete(): boolean {
    const line = this.#line;
    if (line === 'TKVM_INIT_START') {
      this.#events.onInitStart?.();
      return true;
    }
    const m = /^TKVM_EXIT_STATUS=(\d{1,3})$/.exec(line);
    if (m && Number(m[1]) <= 255) {
      this.#events.onExitStatus?.(Number(m[1]));
      return true;
    }
    return false;
  }
}
