/**
 * Client side of the control protocol: connects to a VM's control socket,
 * sends requests and matches responses by id, each with a timeout.
 */
import { connect, type Socket } from 'node:net';
import { lstat, readdir, unlink } from 'node:fs/promises';
import { TkvmError } from '../util/errors.js';
import type { VcpuDebugInfo, VmInfo, VmStats } from '../vmm/controller.js';
import { LineReader } from './line-reader.js';
import { controlDir, errCode, socketPath, vmNameOfSocketFile } from './paths.js';
import {
  MAX_CONSOLE_INPUT_BYTES,
  MAX_RESPONSE_BYTES,
  encodeRequest,
  isEventMessage,
  parseJsonLine,
  validateEvent,
  validateResponse,
  validateVmInfo,
  type CommandArgs,
  type CommandName,
  type CommandResults,
  type ConsoleEvent,
} from './protocol.js';

export const DEFAULT_CLIENT_TIMEOUT_MS = 3000;

/** An error reply from a VM, or a failure to talk to it. */
export class ControlError extends TkvmError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'ControlError';
  }
}

interface PendingCall {
  resolve(result: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** One open connection to a control socket. */
export class ControlConnection {
  private readonly socket: Socket;
  private readonly reader = new LineReader(MAX_RESPONSE_BYTES);
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 1;
  private closedError: ControlError | null = null;
  /** Receives the events of a `console` attachment. */
  onEvent: ((event: ConsoleEvent) => void) | null = null;
  /** Called once when the connection closes, with why. */
  onClose: ((err: ControlError) => void) | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.failAll(new ControlError('ERR_CONNECTION_CLOSED', 'the VM closed the control connection'));
      this.onClose?.(this.closedError!);
    });
  }

  /** Connects to a socket path. Rejects with the errno error (its `code`: ENOENT, ECONNREFUSED, EACCES...). */
  static open(path: string, timeoutMs = DEFAULT_CLIENT_TIMEOUT_MS): Promise<ControlConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ path });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(Object.assign(new Error(`connecting to ${path} timed out`), { code: 'ETIMEDOUT' }));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new ControlConnection(socket));
      });
    });
  }

  /** Sends one request and resolves with its `result`, or rejects with a ControlError. */
  call<C extends CommandName>(cmd: C, args: CommandArgs[C], timeoutMs = DEFAULT_CLIENT_TIMEOUT_MS): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ControlError('ERR_TIMEOUT', `no reply to "${cmd}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(encodeRequest(id, cmd, args));
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    for (const event of this.reader.push(chunk)) {
      if (event.kind === 'oversized') {
        this.failAll(new ControlError('ERR_MESSAGE_TOO_LARGE', 'the VM sent a reply larger than the client accepts'));
        this.socket.destroy();
        return;
      }
      if (event.line.length > 0) this.onLine(event.line);
    }
  }

  private onLine(line: Buffer): void {
    let response;
    try {
      const message = parseJsonLine(line);
      if (isEventMessage(message)) {
        const event = validateEvent(message);
        if (event) this.onEvent?.(event);
        return;
      }
      response = validateResponse(message);
    } catch (err) {
      this.failAll(new ControlError('ERR_BAD_RESPONSE', `malformed reply from the VM: ${(err as Error).message}`));
      this.socket.destroy();
      return;
    }
    // A reply without an id answers a request the server could not read.
    const ids = response.id === null ? [...this.pending.keys()] : [response.id];
    for (const id of ids) {
      const call = this.pending.get(id);
      if (!call) continue;
      this.pending.delete(id);
      clearTimeout(call.timer);
      if (response.ok) call.resolve(response.result);
      else call.reject(new ControlError(response.error.code, response.error.message));
    }
  }

  private failAll(err: ControlError): void {
    this.closedError ??= err;
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(err);
    }
    this.pending.clear();
  }
}

export interface ClientOptions {
  /** Control directory; defaults to controlDir(). */
  dir?: string;
  timeoutMs?: number;
}

function noSuchVm(name: string): ControlError {
  return new ControlError('ERR_NO_SUCH_VM', `no VM named ${name} (see tkvm list)`);
}

/** Opens a connection to VM `name`, mapping socket errors to one-line ControlErrors. */
export async function connectToVm(name: string, options: ClientOptions = {}): Promise<ControlConnection> {
  const path = socketPath(name, options.dir ?? controlDir());
  try {
    return await ControlConnection.open(path, options.timeoutMs);
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') throw noSuchVm(name);
    if (code === 'ECONNREFUSED') {
      await unlink(path).catch(() => {});
      throw noSuchVm(name);
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ControlError('ERR_CONTROL_PERMISSION', `permission denied on ${path}: the VM belongs to another user`);
    }
    throw new ControlError('ERR_CONTROL_CONNECT', `cannot connect to VM ${name} at ${path}: ${code}`);
  }
}

function validateResult<C extends CommandName>(cmd: C, result: unknown): CommandResults[C] {
  const malformed = (): never => {
    throw new ControlError('ERR_BAD_RESPONSE', `malformed "${cmd}" result from the VM`);
  };
  switch (cmd) {
    case 'info':
      return validateVmInfo(result) as CommandResults[C];
    case 'list':
      if (!Array.isArray(result)) malformed();
      return (result as unknown[]).map(validateVmInfo) as CommandResults[C];
    case 'debug':
      if (!Array.isArray(result) || !result.every((v) => typeof v === 'object' && v !== null)) malformed();
      return result as VcpuDebugInfo[] as CommandResults[C];
    case 'stat': {
      const stats = result as VmStats | null;
      if (typeof stats !== 'object' || stats === null || !Array.isArray(stats.vcpus) || !Array.isArray(stats.devices)) {
        malformed();
      }
      return result as CommandResults[C];
    }
    case 'perf': {
      const profile = result as Record<string, unknown> | null;
      if (typeof profile !== 'object' || profile === null || !Array.isArray(profile.samples) || typeof profile.kernelPath !== 'string') malformed();
      for (const s of (profile as { samples: unknown[] }).samples) {
        const sample = s as Record<string, unknown> | null;
        if (typeof sample !== 'object' || sample === null || typeof sample.rip !== 'string' || !/^0x[0-9a-f]{16}$/.test(sample.rip) || typeof sample.user !== 'boolean' || !Number.isSafeInteger(sample.count)) malformed();
      }
      return result as CommandResults[C];
    }
    case 'snapshot': {
      const r = result as Record<string, unknown> | null;
      if (typeof r !== 'object' || r === null || typeof r.dir !== 'string') malformed();
      for (const key of ['stateBytes', 'memoryBytes', 'touchedPages', 'dataPages']) if (!Number.isSafeInteger((r as Record<string, unknown>)[key])) malformed();
      if (typeof (r as Record<string, unknown>).elapsedMs !== 'number') malformed();
      return result as CommandResults[C];
    }
    case 'console-input': {
      const accepted = (result as { accepted?: unknown } | null)?.accepted;
      if (!Number.isSafeInteger(accepted)) malformed();
      return result as CommandResults[C];
    }
    default:
      return null as CommandResults[C];
  }
}

/** Connects to VM `name`, sends one request and returns its validated result. */
export async function callVm<C extends CommandName>(
  name: string,
  cmd: C,
  args: CommandArgs[C],
  options: ClientOptions = {},
): Promise<CommandResults[C]> {
  const connection = await connectToVm(name, options);
  try {
    return validateResult(cmd, await connection.call(cmd, args, options.timeoutMs));
  } finally {
    connection.close();
  }
}

/** A live `console` attachment to one VM. */
export interface ConsoleSession {
  /** Bytes of recent output the first output event replays. */
  replayBytes: number;
  /** Types bytes into the guest console (in requests of at most MAX_CONSOLE_INPUT_BYTES); resolves with how many it queued. */
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

export interface ConsoleHandlers {
  onOutput(data: Buffer): void;
  /** Output the VM dropped because this client read too slowly. */
  onDropped?(bytes: number): void;
  /** The connection closed (the VM ended, or close() was called). */
  onClose?(): void;
}

/** Attaches to VM `name`'s console (control command `console`): recent output, then live output, and input. */
export async function attachConsole(name: string, handlers: ConsoleHandlers, options: ClientOptions = {}): Promise<ConsoleSession> {
  const connection = await connectToVm(name, options);
  connection.onEvent = (event) => {
    if (event.event === 'console-output') handlers.onOutput(event.data);
    else handlers.onDropped?.(event.bytes);
  };
  connection.onClose = () => handlers.onClose?.();
  let result: unknown;
  try {
    result = await connection.call('console', {}, options.timeoutMs);
  } catch (err) {
    connection.onClose = null;
    connection.close();
    throw err;
  }
  const replayBytes = (result as { replayBytes?: unknown } | null)?.replayBytes;
  if (!Number.isSafeInteger(replayBytes)) {
    connection.close();
    throw new ControlError('ERR_BAD_RESPONSE', 'malformed "console" result from the VM');
  }
  return {
    replayBytes: replayBytes as number,
    async write(bytes) {
      let accepted = 0;
      for (let offset = 0; offset < bytes.length; offset += MAX_CONSOLE_INPUT_BYTES) {
        const piece = bytes.subarray(offset, offset + MAX_CONSOLE_INPUT_BYTES);
        const data = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength).toString('base64');
        const reply = (await connection.call('console-input', { data }, options.timeoutMs)) as { accepted?: unknown } | null;
        accepted += Number.isSafeInteger(reply?.accepted) ? (reply!.accepted as number) : 0;
      }
      return accepted;
    },
    close: () => connection.close(),
  };
}

/** One control socket found in the control directory. */
export type VmListing =
  | { name: string; status: 'running'; info: VmInfo }
  | { name: string; status: 'unresponsive'; error: string };

/**
 * Scans the control directory and asks each socket for `info`. Sockets that
 * refuse connections are left over from VMs that died: they are removed.
 * Returns the listings sorted by name.
 */
export async function scanVms(options: ClientOptions = {}): Promise<VmListing[]> {
  const dir = options.dir ?? controlDir();
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return [];
    throw new ControlError('ERR_CONTROL_DIR', `cannot read control directory ${dir}: ${errCode(err)}`);
  }
  const names = entries.map(vmNameOfSocketFile).filter((name): name is string => name !== null);
  const listings = await Promise.all(names.map((name) => probeVm(name, dir, options.timeoutMs ?? 1000)));
  return listings.filter((l): l is VmListing => l !== null).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function probeVm(name: string, dir: string, timeoutMs: number): Promise<VmListing | null> {
  const path = socketPath(name, dir);
  try {
    if (!(await lstat(path)).isSocket()) return null;
  } catch {
    return null;
  }
  try {
    const info = await callVm(name, 'info', {}, { dir, timeoutMs });
    return { name, status: 'running', info };
  } catch (err) {
    if (err instanceof ControlError && err.code === 'ERR_NO_SUCH_VM') return null; // stale, now removed
    return { name, status: 'unresponsive', error: err instanceof Error ? err.message : String(err) };
  }
}

/** The running VMs in the control directory (stale sockets are removed). */
export async function listVms(dir?: string): Promise<VmInfo[]> {
  const listings = await scanVms(dir === undefined ? {} : { dir });
  return listings.flatMap((l) => (l.status === 'running' ? [l.info] : []));
}
