/**
 * Connects a UART to the host terminal: guest output goes to a writable
 * stream in batches, host input goes to the UART without overrunning its
 * FIFO, and a QEMU-style escape prefix (Ctrl-A) gives the user control:
 *
 *   Ctrl-A x       quit (calls onQuit)
 *   Ctrl-A b       send a break (Ctrl-A b, then a key: Linux magic SysRq)
 *   Ctrl-A Ctrl-A  send a literal Ctrl-A
 *   Ctrl-A h / ?   print help on the diagnostics stream
 *   (Ctrl-A followed by anything else is dropped.)
 *
 * When the input is a TTY it is put in raw mode; restore() (idempotent) puts
 * it back, and a process 'exit' hook calls restore() too. Signals do not run
 * 'exit' hooks: the VMM must call restore() on every shutdown path.
 */

/** Where console input goes: a Serial16550 fits. */
export interface ConsoleInputSink {
  /** Queues bytes; returns how many were accepted. */
  enqueueInput(bytes: Uint8Array): number;
  /** How many bytes enqueueInput would accept now. */
  inputSpace(): number;
  /** Delivers a break condition; returns false if it could not be queued. */
  sendBreak(): boolean;
  /** Registers a callback for when the sink has room again (Serial16550 has it). */
  setInputSpaceListener?(listener: () => void): void;
}

/** The readable side: process.stdin, or a PassThrough (plus isTTY/setRawMode) in tests. */
export type ConsoleInput = NodeJS.ReadableStream & {
  isTTY?: boolean;
  setRawMode?: (raw: boolean) => unknown;
};

/** Something with process-style 'exit' events. */
export interface ExitHookTarget {
  once(event: 'exit', listener: () => void): unknown;
  removeListener(event: 'exit', listener: () => void): unknown;
}

export interface SerialConsoleOptions {
  /** Called once when the user types Ctrl-A x. */
  onQuit: () => void;
  /** Default process.stdin. */
  input?: ConsoleInput;
  /** Guest output; default process.stdout. */
  output?: NodeJS.WritableStream;
  /** Help text; default process.stderr. */
  diagnostics?: NodeJS.WritableStream;
  /** Interpret the Ctrl-A escape prefix; default true. */
  escapes?: boolean;
  /** Where to hook 'exit'; default process; null for none. */
  exitHookTarget?: ExitHookTarget | null;
  /**
   * Most host input held for the guest; beyond it input is dropped. A non-TTY
   * input is paused at half of it and resumed at a quarter. Default 1 MiB.
   */
  maxPendingInput?: number;
  /**
   * Sees every chunk of guest output as it is written to `output` (the
   * control socket's console clients are fed from here). It must not keep or
   * modify the chunk, and must never wait: the terminal's flow control alone
   * paces the guest.
   */
  onOutputChunk?: (chunk: Uint8Array) => void;
}

export interface ConsoleStats {
  /** Host input bytes dropped because the guest was not reading. */
  inputDropped: number;
  /** Host input bytes waiting for room in the UART FIFO. */
  inputPending: number;
  /** write() calls made on the output stream. */
  outputWrites: number;
}

const CTRL_A = 0x01;
const OUTPUT_CHUNK = 4096;
/**
 * Guest output the console holds unwritten (its chunk plus the stream's
 * buffer) before it reports itself blocked: flow-controlled devices then
 * stop taking output, so a slow or stopped reader bounds memory.
 */
export const CONSOLE_OUTPUT_LIMIT = 64 * 1024;
const DEFAULT_MAX_PENDING_INPUT = 1 << 20;
/** Marks a break in the pending-input queue so it keeps its place among bytes. */
const BREAK = Symbol('break');

const HELP =
  '\r\n' +
  'tkvm console escapes:\r\n' +
  '  C-a x    quit\r\n' +
  '  C-a b    send break (then a key for magic SysRq)\r\n' +
  '  C-a C-a  send C-a\r\n' +
  '  C-a h    this help\r\n';

export class SerialConsole {
  readonly #onQuit: () => void;
  readonly #input: ConsoleInput;
  readonly #output: NodeJS.WritableStream;
  readonly #diagnostics: NodeJS.WritableStream;
  readonly #escapes: boolean;
  readonly #exitHookTarget: ExitHookTarget | null;
  readonly #maxPendingInput: number;
  readonly #onOutputChunk: ((chunk: Uint8Array) => void) | undefined;

  #sink: ConsoleInputSink | null = null;
  #rawModeSet = false;
  #restored = false;
  #quitRequested = false;
  #inputEnded = false;
  #inputPaused = false;
  #sawEscape = false;

  #pending: (Uint8Array | typeof BREAK)[] = [];
  #pendingBytes = 0;
  #inputDropped = 0;

  #outChunk = Buffer.allocUnsafe(OUTPUT_CHUNK);
  #outLength = 0;
  #flushScheduled: NodeJS.Immediate | null = null;
  #outputWrites = 0;

  constructor(options: SerialConsoleOptions) {
    this.#onQuit = options.onQuit;
    this.#input = options.input ?? process.stdin;
    this.#output = options.output ?? process.stdout;
    this.#diagnostics = options.diagnostics ?? process.stderr;
    this.#escapes = options.escapes ?? true;
    this.#exitHookTarget = options.exitHookTarget === undefined ? process : options.exitHookTarget;
    this.#maxPendingInput = options.maxPendingInput ?? DEFAULT_MAX_PENDING_INPUT;
    this.#onOutputChunk = options.onOutputChunk;
  }

  /** Pass as Serial16550's onOutput: buffers one guest byte. */
  readonly output = (byte: number): void => {
    this.#outChunk[this.#outLength++] = byte;
    if (this.#outLength === OUTPUT_CHUNK || this.#restored) this.flush();
    else this.#scheduleFlush();
  };

  /**
   * Moves pending input into the UART as far as its FIFO has room. attach()
   * arranges for the sink to call it when the guest drains the FIFO.
   */
  readonly pumpInput = (): void => {
    const sink = this.#sink;
    if (!sink) return;
    while (this.#pending.length > 0) {
      const head = this.#pending[0]!;
      if (head === BREAK) {
        if (sink.inputSpace() <= 0 || !sink.sendBreak()) break;
        this.#pending.shift();
        continue;
      }
      const space = sink.inputSpace();
      if (space <= 0) break;
      const accepted = sink.enqueueInput(head.subarray(0, space));
      if (accepted <= 0) break;
      this.#pendingBytes -= accepted;
      if (accepted >= head.length) this.#pending.shift();
      else this.#pending[0] = head.subarray(accepted);
    }
    if (this.#inputPaused && this.#pendingBytes <= this.#maxPendingInput / 4 && !this.#restored) {
      this.#inputPaused = false;
      this.#input.resume();
    }
  };

  /** Starts feeding host input to `sink`; puts a TTY input in raw mode. A second call only replaces the sink. */
  attach(sink: ConsoleInputSink): void {
    if (this.#restored) return;
    const alreadyAttached = this.#sink !== null;
    this.#sink = sink;
    sink.setInputSpaceListener?.(this.pumpInput);
    if (alreadyAttached) {
      this.pumpInput();
      return;
    }
    const input = this.#input;
    if (input.isTTY === true && typeof input.setRawMode === 'function') {
      input.setRawMode(true);
      this.#rawModeSet = true;
    }
    input.on('data', this.#onData);
    input.on('end', this.#onEnd);
    input.on('error', this.#onEnd);
    this.#exitHookTarget?.once('exit', this.restore);
    input.resume();
    this.pumpInput();
  }

  /** True while the console holds CONSOLE_OUTPUT_LIMIT bytes or more that the stream has not written. */
  outputBlocked(): boolean {
    const out = this.#output as NodeJS.WritableStream & { writableLength?: number };
    return this.#outLength + (out.writableLength ?? 0) >= CONSOLE_OUTPUT_LIMIT;
  }

  /**
   * Calls `callback` once the output written so far has left the stream's
   * buffer (at once when it holds less than its high-water mark): the
   * signal a flow-controlled device waits for before it takes more guest
   * output.
   */
  whenOutputDrained(callback: () => void): void {
    this.flush();
    const out = this.#output as NodeJS.WritableStream & { writableNeedDrain?: boolean };
    if (out.writableNeedDrain !== true) {
      callback();
      return;
    }
    // One listener for every waiter, however many pieces of output wait.
    this.#drainWaiters.push(callback);
    if (this.#drainWaiters.length === 1) {
      out.once('drain', () => {
        for (const waiter of this.#drainWaiters.splice(0)) waiter();
      });
    }
  }

  readonly #drainWaiters: Array<() => void> = [];

  /** Writes buffered guest output to the output stream now. */
  flush(): void {
    if (this.#flushScheduled) {
      clearImmediate(this.#flushScheduled);
      this.#flushScheduled = null;
    }
    if (this.#outLength === 0) return;
    // An exact-size copy: a stream holding many small writes must not pin a 4 KiB chunk for each.
    const chunk = Buffer.from(this.#outChunk.subarray(0, this.#outLength));
    this.#outLength = 0;
    this.#outputWrites++;
    try {
      this.#output.write(chunk);
    } catch {
      // A closed output (EPIPE) must not take the VMM down; the guest's bytes are lost.
    }
    try {
      this.#onOutputChunk?.(chunk);
    } catch {
      // An observer's failure is its own; the guest's output goes on.
    }
  }

  /**
   * Queues input from another source than the terminal (a control-socket
   * console client): no escape processing, the same bound and drop counter
   * as typed input, and accepted even after the terminal's input has ended.
   * Returns how many bytes were queued (the rest are dropped).
   */
  injectInput(bytes: Uint8Array): number {
    if (this.#restored || bytes.length === 0) return 0;
    const room = Math.max(0, this.#maxPendingInput - this.#pendingBytes);
    const kept = Math.min(room, bytes.length);
    this.#inputDropped += bytes.length - kept;
    if (kept > 0) {
      this.#pending.push(Uint8Array.from(bytes.subarray(0, kept)));
      this.#pendingBytes += kept;
      this.pumpInput();
    }
    return kept;
  }

  /**
   * Flushes output, leaves raw mode, stops reading input and removes the
   * exit hook. Safe to call any number of times, from any shutdown path.
   */
  readonly restore = (): void => {
    if (this.#restored) return;
    this.#restored = true;
    this.flush();
    if (this.#rawModeSet) {
      this.#rawModeSet = false;
      try {
        this.#input.setRawMode?.(false);
      } catch {
        // The terminal may already be gone (hangup); nothing left to restore.
      }
    }
    this.#input.removeListener('data', this.#onData);
    this.#input.removeListener('end', this.#onEnd);
    this.#input.removeListener('error', this.#onEnd);
    this.#input.pause();
    this.#exitHookTarget?.removeListener('exit', this.restore);
  };

  /** Whether the input is (still) in raw mode because of this console. */
  get rawMode(): boolean {
    return this.#rawModeSet;
  }

  stats(): ConsoleStats {
    return { inputDropped: this.#inputDropped, inputPending: this.#pendingBytes, outputWrites: this.#outputWrites };
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = setImmediate(() => {
      this.#flushScheduled = null;
      this.flush();
    });
  }

  readonly #onEnd = (): void => {
    this.#inputEnded = true;
  };

  readonly #onData = (chunk: Buffer | string): void => {
    if (this.#restored || this.#quitRequested || this.#inputEnded) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const guestBytes: number[] = [];
    for (const byte of bytes) {
      if (!this.#escapes) {
        guestBytes.push(byte);
        continue;
      }
      if (this.#sawEscape) {
        this.#sawEscape = false;
        if (byte === CTRL_A) {
          guestBytes.push(CTRL_A);
        } else if (byte === 0x78 /* x */) {
          // What came before the escape still reaches the guest; nothing after it does.
          this.#queue(guestBytes);
          this.pumpInput();
          this.#quitRequested = true;
          this.#onQuit();
          return;
        } else if (byte === 0x62 /* b */) {
          this.#queue(guestBytes);
          guestBytes.length = 0;
          this.#pending.push(BREAK);
        } else if (byte === 0x68 /* h */ || byte === 0x3f /* ? */) {
          this.#diagnostics.write(HELP);
        }
      } else if (byte === CTRL_A) {
        this.#sawEscape = true;
      } else {
        guestBytes.push(byte);
      }
    }
    this.#queue(guestBytes);
    this.pumpInput();
  };

  /** Appends bytes to the pending input, dropping what exceeds the limit. */
  #queue(bytes: number[]): void {
    if (bytes.length === 0) return;
    const room = Math.max(0, this.#maxPendingInput - this.#pendingBytes);
    const kept = Math.min(room, bytes.length);
    this.#inputDropped += bytes.length - kept;
    if (kept > 0) {
      this.#pending.push(Uint8Array.from(bytes.slice(0, kept)));
      this.#pendingBytes += kept;
    }
    // A pipe can wait for the guest (paused at half the limit, so a further
    // chunk still fits); an interactive TTY must stay readable so that
    // Ctrl-A x works even when the guest never reads.
    if (this.#input.isTTY !== true && this.#pendingBytes >= this.#maxPendingInput / 2 && !this.#inputPaused) {
      this.#inputPaused = true;
      this.#input.pause();
    }
  }
}
