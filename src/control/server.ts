/**
 * The per-VM control server: listens on `DIR/NAME.sock` and answers
 * control-protocol requests (docs/control-protocol.md) by calling the VMM's
 * VmController. It runs on the VMM's main event loop, so it never does long
 * synchronous work and bounds every controller call with a timeout.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { TkvmError } from '../util/errors.js';
import type { VmController } from '../vmm/controller.js';
import { ControlConnection } from './client.js';
import { ConsoleStream } from './console-stream.js';
import { LineReader } from './line-reader.js';
import { controlDir, ensureControlDir, errCode, socketPath, validateVmName } from './paths.js';
import {
  ErrorCodes,
  MAX_REQUEST_BYTES,
  ProtocolError,
  encodeError,
  encodeResult,
  isErrorCode,
  parseRequest,
  type Request,
} from './protocol.js';

export interface ControlServerOptions {
  name: string;
  controller: VmController;
  /** Control directory; defaults to controlDir(). */
  dir?: string;
  /** Longest a controller call may take before the reply is ERR_TIMEOUT (default 100 ms). */
  callTimeoutMs?: number;
  /**
   * Returns the uid of the process on the other end of a connected socket
   * fd (SO_PEERCRED). When given, connections from other uids are closed
   * at once; the 0700 directory and 0600 socket already keep them out.
   */
  peerUid?: (fd: number) => number;
}

export const DEFAULT_CALL_TIMEOUT_MS = 100;

/** What a `snapshot` call may take: writing guest memory (below the idle timeout, so the connection stays). */
export const SNAPSHOT_TIMEOUT_MS = 55_000;

/** What a `perf` call may take beyond its sampling time (the last samples, the reply). */
const PERF_ALLOWANCE_MS = 2000;
/** Requests one connection may have in flight; more are answered ERR_BUSY. */
export const MAX_IN_FLIGHT_PER_CONNECTION = 32;
/** Simultaneous connections; the kernel's accept queue holds the rest briefly. */
export const MAX_CONNECTIONS = 256;
/** A connection that sends nothing for this long is closed. */
export const IDLE_TIMEOUT_MS = 60_000;
/** Replies queued for a peer that does not read them, before it is dropped. */
const MAX_UNSENT_REPLY_BYTES = 4 * 1024 * 1024;
/** How long start() waits on an existing socket before declaring it alive. */
const PROBE_TIMEOUT_MS = 1000;

class CallTimeout extends Error {}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new CallTimeout()), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** Lines of only spaces, tabs and CRs are ignored, so `\r\n` endings and empty lines are harmless. */
function isBlank(line: Buffer): boolean {
  return line.every((byte) => byte === 0x20 || byte === 0x09 || byte === 0x0d);
}

/** The first line of an error message, bounded: replies stay one line. */
function oneLine(message: string): string {
  const first = message.split('\n', 1)[0] ?? '';
  return first.length > 500 ? first.slice(0, 497) + '...' : first;
}

export class ControlServer {
  readonly name: string;
  readonly path: string;
  private readonly server: Server;
  private readonly controller: VmController;
  private readonly callTimeoutMs: number;
  private readonly sockets = new Set<Socket>();
  private readonly socketInode: number;
  private closed = false;

  private constructor(name: string, path: string, server: Server, options: ControlServerOptions) {
    this.name = name;
    this.path = path;
    this.server = server;
    this.controller = options.controller;
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.socketInode = lstatSync(path).ino;
  }

  /**
   * Binds `DIR/NAME.sock` (mode 0600 in a 0700 directory). A leftover socket
   * nobody listens on is removed; a live one means the name is taken.
   */
  static async start(options: ControlServerOptions): Promise<ControlServer> {
    const name = validateVmName(options.name);
    const dir = ensureControlDir(options.dir ?? controlDir());
    const path = socketPath(name, dir);
    for (let attempt = 1; ; attempt++) {
      await removeStaleSocket(name, path);
      const server = createServer({ allowHalfOpen: true });
      try {
        await listen(server, path);
      } catch (err) {
        // Another VM bound the name between our check and our bind: check again.
        if (errCode(err) === 'EADDRINUSE' && attempt < 3) continue;
        throw new TkvmError('ERR_CONTROL_SOCKET', `cannot listen on ${path}: ${errCode(err)}`);
      }
      chmodSync(path, 0o600);
      const control = new ControlServer(name, path, server, options);
      server.maxConnections = MAX_CONNECTIONS;
      server.on('connection', (socket) => control.accept(socket, options.peerUid));
      server.on('error', () => {}); // accept() failures (EMFILE...) must not take the VMM down
      return control;
    }
  }

  /** Number of open client connections. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Stops listening, drops all connections and removes the socket file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await done;
    try {
      // Remove the file only if it is still ours, not a successor's.
      if (lstatSync(this.path).ino === this.socketInode) unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }

  private accept(socket: Socket, peerUid: ((fd: number) => number) | undefined): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    socket.on('error', () => {}); // ECONNRESET, EPIPE: the peer went away
    if (peerUid && !this.peerIsOwner(socket, peerUid)) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    const reader = new LineReader(MAX_REQUEST_BYTES);
    let inFlight = 0;
    // A peer that half-closes (`echo ... | socat - UNIX-CONNECT:...`) still
    // gets the replies to what it sent; then we close our side too.
    let peerEnded = false;
    // After an oversized line nothing more is read; the replies still owed are sent, then the connection closes.
    let cutOff = false;
    let consoleStream: ConsoleStream | null = null;
    const endIfDone = (): void => {
      if (socket.destroyed || inFlight !== 0) return;
      if (cutOff) socket.end(() => socket.destroy());
      else if (peerEnded) socket.end();
    };
    socket.on('end', () => {
      peerEnded = true;
      endIfDone();
    });
    socket.on('data', (chunk: Buffer) => {
      if (cutOff) return;
      for (const event of reader.push(chunk)) {
        if (event.kind === 'oversized') {
          this.reply(socket, encodeError(null, ErrorCodes.MESSAGE_TOO_LARGE, `request longer than ${MAX_REQUEST_BYTES} bytes`));
          cutOff = true;
          socket.pause();
          endIfDone();
          return;
        }
        if (isBlank(event.line)) continue;
        let request: Request;
        try {
          request = parseRequest(event.line);
        } catch (err) {
          const e = err instanceof ProtocolError ? err : new ProtocolError(ErrorCodes.BAD_REQUEST, 'malformed request');
          this.reply(socket, encodeError(e.id, e.code, e.message));
          continue;
        }
        if (request.cmd === 'console') {
          // Synchronous, outside the in-flight accounting: the reply and the replay must precede live output.
          if (consoleStream) {
            this.reply(socket, encodeError(request.id, 'ERR_CONSOLE_ATTACHED', 'this connection is already attached to the console'));
            continue;
          }
          try {
            consoleStream = new ConsoleStream(socket, this.controller, request.id);
          } catch (err) {
            this.reply(socket, encodeError(request.id, ErrorCodes.VM_ERROR, oneLine(err instanceof Error ? err.message : 'console attach failed')));
          }
          continue;
        }
        if (inFlight >= MAX_IN_FLIGHT_PER_CONNECTION) {
          this.reply(socket, encodeError(request.id, ErrorCodes.BUSY, 'too many requests in flight on this connection'));
          continue;
        }
        inFlight++;
        void this.execute(request).then((reply) => {
          inFlight--;
          this.reply(socket, reply);
          endIfDone();
        });
      }
    });
  }

  private peerIsOwner(socket: Socket, peerUid: (fd: number) => number): boolean {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return false;
    try {
      return peerUid(fd) === process.getuid?.();
    } catch {
      return false;
    }
  }

  private reply(socket: Socket, text: string): void {
    if (socket.destroyed || !socket.writable) return;
    socket.write(text);
    if (socket.writableLength > MAX_UNSENT_REPLY_BYTES) socket.destroy();
  }

  /** Runs one request; always resolves with the encoded reply line. */
  private async execute(request: Request): Promise<string> {
    try {
      const result = await withTimeout(
        Promise.resolve().then(() => this.dispatch(request)),
        this.#timeoutFor(request),
      );
      return encodeResult(request.id, result);
    } catch (err) {
      if (err instanceof CallTimeout) {
        const message = `the VM did not complete "${request.cmd}" within ${this.#timeoutFor(request)} ms; it may still complete`;
        return encodeError(request.id, ErrorCodes.TIMEOUT, message);
      }
      // The VMM's own stable codes (TkvmError, SysError-like ERR_*) pass through.
      const ownCode = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
      const code = isErrorCode(ownCode) ? ownCode : ErrorCodes.VM_ERROR;
      const message = err instanceof Error ? err.message : `"${request.cmd}" failed`;
      return encodeError(request.id, code, oneLine(String(message)));
    }
  }

  /** A profile takes as long as it was asked to sample, plus the usual allowance. */
  #timeoutFor(request: Request): number {
    if (request.cmd === 'snapshot') return SNAPSHOT_TIMEOUT_MS;
    return request.cmd === 'perf' ? request.args.durationMs + PERF_ALLOWANCE_MS + this.callTimeoutMs : this.callTimeoutMs;
  }

  private async dispatch(request: Request): Promise<unknown> {
    const controller = this.controller;
    switch (request.cmd) {
      case 'list':
        return [controller.info()];
      case 'info':
        return controller.info();
      case 'stop':
        await controller.stop(request.args.force === true);
        return null;
      case 'pause':
        await controller.pause();
        return null;
      case 'resume':
        await controller.resume();
        return null;
      case 'debug':
        return controller.debug();
      case 'stat':
        return controller.stats();
      case 'nmi':
        await controller.injectNmi(request.args.cpu);
        return null;
      case 'sysrq':
        await controller.sendSysrq(request.args.key);
        return null;
      case 'perf':
        return controller.profile(request.args.durationMs, request.args.frequencyHz);
      case 'snapshot':
        return controller.snapshot(request.args.dir, request.args.after);
      case 'console-input':
        return { accepted: controller.writeConsole(Buffer.from(request.args.data, 'base64')) };
      case 'console':
        throw new ProtocolError(ErrorCodes.BAD_REQUEST, '"console" is handled by the connection'); // never reached: accept() takes it
    }
  }
}

/** Listens on a unix socket path with umask 0177, so the socket is never wider than 0600. */
function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    // bind(2) happens synchronously inside listen(), so the umask window is
    // only this call. Worker threads cannot change the umask: there the
    // chmod after listen and the 0700 directory still apply.
    let previousUmask: number | null;
    try {
      previousUmask = process.umask(0o177);
    } catch {
      previousUmask = null;
    }
    try {
      server.listen(path, () => {
        server.removeListener('error', onError);
        resolve();
      });
    } finally {
      if (previousUmask !== null) process.umask(previousUmask);
    }
  });
}

/**
 * If `path` exists: a socket someone answers on means the name is taken
 * (ERR_VM_NAME_IN_USE); one that refuses connections is stale and removed.
 */
async function removeStaleSocket(name: string, path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) {
    throw new TkvmError('ERR_CONTROL_SOCKET', `${path} exists and is not a socket: remove it`);
  }
  let connection: ControlConnection;
  try {
    connection = await ControlConnection.open(path, PROBE_TIMEOUT_MS);
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT') return;
    if (code === 'ECONNREFUSED') {
      try {
        unlinkSync(path);
      } catch (unlinkErr) {
        if (errCode(unlinkErr) !== 'ENOENT') {
          throw new TkvmError('ERR_CONTROL_SOCKET', `cannot remove stale socket ${path}: ${errCode(unlinkErr)}`);
        }
      }
      return;
    }
    if (code === 'ETIMEDOUT') throw nameInUse(name, null);
    throw new TkvmError('ERR_CONTROL_SOCKET', `cannot check existing socket ${path}: ${code}`);
  }
  let pid: number | null = null;
  try {
    const info = (await connection.call('info', {}, PROBE_TIMEOUT_MS)) as { pid?: unknown } | null;
    if (info && Number.isSafeInteger(info.pid)) pid = info.pid as number;
  } catch {
    // It answers but not with info: still in use.
  } finally {
    connection.close();
  }
  throw nameInUse(name, pid);
}

function nameInUse(name: string, pid: number | null): TkvmError {
  return new TkvmError(
    'ERR_VM_NAME_IN_USE',
    `a VM named ${name} is already running (pid ${pid ?? 'unknown'}): choose another VM name`,
  );
}
