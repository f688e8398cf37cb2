/**
 * The server side of the control command `console` for one connection
 * (docs/control-protocol.md, "Console"): the reply, then the recent output
 * as one `console-output` event, then live output as it comes. A client
 * that reads slowly never holds the VM back: while more than
 * CONSOLE_BACKLOG_BYTES wait in its socket, output is dropped and counted,
 * and a `console-dropped` event tells it how much once it catches up.
 */
import type { Socket } from 'node:net';
import type { ConsoleAttachment, VmController } from '../vmm/controller.js';
import { encodeConsoleDropped, encodeConsoleOutput, encodeResult } from './protocol.js';

/** Unsent output one console client may have queued before its output is dropped. */
export const CONSOLE_BACKLOG_BYTES = 256 * 1024;

export class ConsoleStream {
  readonly #socket: Socket;
  readonly #attachment: ConsoleAttachment;
  /** Dropped since the last `console-dropped` event. */
  #dropped = 0;
  #droppedTotal = 0;
  #closed = false;

  /** Attaches and writes the reply and the replay at once, so that no live output can come between them. */
  constructor(socket: Socket, controller: VmController, requestId: number) {
    this.#socket = socket;
    this.#attachment = controller.attachConsole(this.#onOutput);
    const recent = this.#attachment.recent;
    socket.write(encodeResult(requestId, { replayBytes: recent.length }));
    if (recent.length > 0) socket.write(encodeConsoleOutput(recent));
    // A watcher may sit silent for hours: the idle timeout is for request/response peers.
    socket.setTimeout(0);
    socket.on('drain', this.#reportDropped);
    socket.once('close', () => this.close());
  }

  /** Output bytes this client missed because it was too slow. */
  get droppedBytes(): number {
    return this.#droppedTotal;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#attachment.detach();
    this.#socket.off('drain', this.#reportDropped);
  }

  readonly #onOutput = (chunk: Uint8Array): void => {
    const socket = this.#socket;
    if (this.#closed || socket.destroyed || !socket.writable) return;
    if (socket.writableLength >= CONSOLE_BACKLOG_BYTES) {
      this.#dropped += chunk.length;
      this.#droppedTotal += chunk.length;
      return;
    }
    this.#reportDropped();
    socket.write(encodeConsoleOutput(chunk));
  };

  readonly #reportDropped = (): void => {
    if (this.#dropped === 0 || this.#closed || this.#socket.destroyed) return;
    this.#socket.write(encodeConsoleDropped(this.#dropped));
    this.#dropped = 0;
  };
}
