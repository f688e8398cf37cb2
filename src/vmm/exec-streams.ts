/**
 * The standard streams of a guest command (`tkvm run --exec`, `tkvm
 * sandbox`): a multiport virtio-console (devices/virtio/console/ports.ts)
 * with three generic ports, which the default guest's init opens as the
 * command's fds 0, 1 and 2 (guest/init):
 *
 *   port 0  tkvm.stdin   tkvm's stdin → the command; when it ends, the
 *                        guest reads end of file after the last byte
 *   port 1  tkvm.stdout  the command → tkvm's stdout, byte for byte
 *   port 2  tkvm.stderr  the command → tkvm's stderr, byte for byte
 *
 * No terminal sits on the way (Linux's vport devices have no line
 * discipline), so nothing turns \n into \r\n. Both directions are flow
 * controlled: stdin is paused while the guest has not taken enough of what
 * was sent, and the device stops taking guest output while stdout or
 * stderr has not written enough of it. At exit `finish` drains what the
 * guest queued before it powered off and waits until it is written, so
 * the command's output is complete before tkvm exits with its status.
 */

export const EXEC_PORT_NAMES = ['tkvm.stdin', 'tkvm.stdout', 'tkvm.stderr'];
export const STDIN_PORT = 0;
export const STDOUT_PORT = 1;
export const STDERR_PORT = 2;

/** What ExecStreams needs of the device's host side (ThreadedVirtioBackend has it). */
export interface PortsBackend {
  sendPortInput(port: number, bytes: Uint8Array, end?: boolean): void;
  readonly inputBlocked: boolean;
  drain(timeoutMs: number): Promise<boolean>;
}

export interface ExecStreamsOptions {
  input: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** stdout's reader went away (EPIPE): the caller ends the VM, as SIGPIPE would end the command. */
  onBrokenPipe?: () => void;
}

export class ExecStreams {
  readonly #options: ExecStreamsOptions;
  #backend: PortsBackend | null = null;
  #inputPaused = false;
  #inputDone = false;
  #unwritten = 0;
  #written: Array<() => void> = [];
  readonly #broken = new Set<number>();

  constructor(options: ExecStreamsOptions) {
    this.#options = options;
  }

  /** Starts forwarding input to the device's stdin port. */
  attach(backend: PortsBackend): void {
    this.#backend = backend;
    const input = this.#options.input;
    input.on('data', this.#onData);
    input.on('end', this.#onEnd);
    input.on('error', this.#onEnd);
    input.resume();
  }

  /** Pass as the device's onOutput: writes port 1 to stdout and port 2 to stderr; anything else is dropped. */
  readonly output = (bytes: Uint8Array, sent: () => void, port: number): void => {
    const stream = port === STDOUT_PORT ? this.#options.stdout : port === STDERR_PORT ? this.#options.stderr : null;
    if (!stream || this.#broken.has(port) || bytes.length === 0) {
      sent();
      return;
    }
    this.#unwritten++;
    let done = false;
    const finished = (error?: Error | null): void => {
      if (done) return;
      done = true;
      if (error) this.#brokenPipe(port);
      sent();
      if (--this.#unwritten === 0) for (const waiter of this.#written.splice(0)) waiter();
    };
    try {
      stream.write(bytes, finished);
    } catch (error) {
      finished(error as Error);
    }
  };

  /** Pass as the device's onInputRoom: the guest took input, read on. */
  readonly inputRoom = (): void => {
    if (!this.#inputPaused || this.#inputDone) return;
    this.#inputPaused = false;
    this.#options.input.resume();
  };

  /**
   * Stops reading input, takes what the guest left in the transmit queues
   * and resolves once stdout and stderr have taken every byte. Returns
   * false if the device could not be drained within `timeoutMs`.
   */
  async finish(timeoutMs: number): Promise<boolean> {
    this.#stopInput();
    const deadline = performance.now() + timeoutMs;
    const drained = this.#backend ? await this.#backend.drain(timeoutMs) : true;
    if (this.#unwritten === 0) return drained;
    let timer: NodeJS.Timeout | undefined;
    const written = await Promise.race([
      new Promise<boolean>((resolve) => this.#written.push(() => resolve(true))),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), Math.max(0, deadline - performance.now())); }),
    ]);
    clearTimeout(timer);
    return drained && written;
  }

  readonly #onData = (chunk: Buffer | string): void => {
    const backend = this.#backend;
    if (!backend || this.#inputDone) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    backend.sendPortInput(STDIN_PORT, bytes);
    if (backend.inputBlocked && !this.#inputPaused) {
      this.#inputPaused = true;
      this.#options.input.pause();
    }
  };

  readonly #onEnd = (): void => {
    if (this.#inputDone) return;
    this.#backend?.sendPortInput(STDIN_PORT, new Uint8Array(0), true);
    this.#stopInput();
  };

  /** Stops reading input (idempotent); finish() does it too. */
  close(): void {
    this.#stopInput();
  }

  #stopInput(): void {
    if (this.#inputDone) return;
    this.#inputDone = true;
    const input = this.#options.input;
    input.removeListener('data', this.#onData);
    input.removeListener('end', this.#onEnd);
    input.removeListener('error', this.#onEnd);
    input.pause();
  }

  #brokenPipe(port: number): void {
    if (this.#broken.has(port)) return;
    this.#broken.add(port);
    if (port === STDOUT_PORT) this.#options.onBrokenPipe?.();
  }
}
