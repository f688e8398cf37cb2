/**
 * The control protocol (docs/control-protocol.md): newline-delimited JSON
 * over a unix stream socket. Every request and response carries `v`, the
 * protocol version. Parsing is strict: a message with an unknown field, a
 * wrong type or a bad value is refused with a stable error code.
 */
import type { ProfileResult, SnapshotResult, VcpuDebugInfo, VmInfo, VmStats } from '../vmm/controller.js';

export const PROTOCOL_VERSION = 1;

/** Largest request line in bytes, newline excluded. */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** Largest response line a client accepts, newline excluded. */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export const COMMAND_NAMES = ['list', 'info', 'stop', 'pause', 'resume', 'debug', 'stat', 'nmi', 'sysrq', 'perf', 'console', 'console-input', 'snapshot'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** Arguments of each command. */
export interface CommandArgs {
  list: Record<string, never>;
  info: Record<string, never>;
  stop: { force?: boolean };
  pause: Record<string, never>;
  resume: Record<string, never>;
  debug: Record<string, never>;
  stat: Record<string, never>;
  nmi: { cpu: number };
  sysrq: { key: string };
  perf: { durationMs: number; frequencyHz: number };
  console: Record<string, never>;
  /** `data`: the bytes to type, base64 (RFC 4648 section 4). */
  'console-input': { data: string };
  snapshot: { dir: string; after: 'resume' | 'stop' };
}

/** Result of each command. */
export interface CommandResults {
  list: VmInfo[];
  info: VmInfo;
  stop: null;
  pause: null;
  resume: null;
  debug: VcpuDebugInfo[];
  stat: VmStats;
  nmi: null;
  sysrq: null;
  perf: ProfileResult;
  /** How many bytes of recent output the first `console-output` event replays. */
  console: { replayBytes: number };
  /** Bytes queued for the guest; the rest were dropped (its input queue was full). */
  'console-input': { accepted: number };
  snapshot: SnapshotResult;
}

/** What a connection attached with `console` receives besides replies (lines with `event` instead of `id`). */
export type ConsoleEvent =
  | { event: 'console-output'; data: Buffer }
  | { event: 'console-dropped'; bytes: number };

/** A validated request; narrowing on `cmd` narrows `args`. */
export type Request = {
  [C in CommandName]: { v: typeof PROTOCOL_VERSION; id: number; cmd: C; args: CommandArgs[C] };
}[CommandName];

export interface ErrorBody {
  code: string;
  message: string;
}

export type Response =
  | { v: typeof PROTOCOL_VERSION; id: number | null; ok: true; result: unknown }
  | { v: typeof PROTOCOL_VERSION; id: number | null; ok: false; error: ErrorBody };

/** Stable error codes the server sends (the controller may add its own ERR_* codes). */
export const ErrorCodes = {
  /** The line is not valid UTF-8 JSON. */
  BAD_JSON: 'ERR_BAD_JSON',
  /** Valid JSON, but not a well-formed request object. */
  BAD_REQUEST: 'ERR_BAD_REQUEST',
  /** `v` is not a version this server speaks. */
  BAD_VERSION: 'ERR_BAD_VERSION',
  UNKNOWN_COMMAND: 'ERR_UNKNOWN_COMMAND',
  /** `args` has an unknown key, a missing key or a value of the wrong type. */
  BAD_ARGS: 'ERR_BAD_ARGS',
  /** The line is longer than MAX_REQUEST_BYTES; the connection is then closed. */
  MESSAGE_TOO_LARGE: 'ERR_MESSAGE_TOO_LARGE',
  /** Too many requests in flight on this connection. */
  BUSY: 'ERR_BUSY',
  /** The VMM did not complete the request in time; it may still complete. */
  TIMEOUT: 'ERR_TIMEOUT',
  /** The VMM failed the request without a more specific code. */
  VM_ERROR: 'ERR_VM_ERROR',
} as const;

/** A request refused before it reached the VMM. */
export class ProtocolError extends Error {
  readonly code: string;
  /** The request id when it could be read, so the reply can carry it. */
  readonly id: number | null;
  constructor(code: string, message: string, id: number | null = null) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.id = id;
  }
}

const ERROR_CODE_PATTERN = /^ERR_[A-Z0-9_]{1,60}$/;

export function isErrorCode(value: unknown): value is string {
  return typeof value === 'string' && ERROR_CODE_PATTERN.test(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isRequestId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isCommandName(value: unknown): value is CommandName {
  return typeof value === 'string' && (COMMAND_NAMES as readonly string[]).includes(value);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes one line (without its newline) as UTF-8 JSON. */
export function parseJsonLine(line: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    throw new ProtocolError(ErrorCodes.BAD_JSON, 'message is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ProtocolError(ErrorCodes.BAD_JSON, 'message is not valid JSON');
  }
}

const REQUEST_KEYS = new Set(['v', 'id', 'cmd', 'args']);

/** Validates a decoded request; throws ProtocolError naming the first problem. */
export function validateRequest(message: unknown): Request {
  if (!isPlainObject(message)) throw new ProtocolError(ErrorCodes.BAD_REQUEST, 'request must be a JSON object');
  const id = isRequestId(message.id) ? message.id : null;
  if (!('v' in message)) throw new ProtocolError(ErrorCodes.BAD_REQUEST, 'request has no "v" field', id);
  if (message.v !== PROTOCOL_VERSION) {
    throw new ProtocolError(ErrorCodes.BAD_VERSION, `unsupported protocol version (this server speaks v${PROTOCOL_VERSION})`, id);
  }
  if (id === null) {
    throw new ProtocolError(ErrorCodes.BAD_REQUEST, '"id" must be an integer between 0 and 2^53-1');
  }
  for (const key of Object.keys(message)) {
    if (!REQUEST_KEYS.has(key)) throw new ProtocolError(ErrorCodes.BAD_REQUEST, `unknown request field "${key}"`, id);
  }
  if (typeof message.cmd !== 'string') throw new ProtocolError(ErrorCodes.BAD_REQUEST, '"cmd" must be a string', id);
  if (!isCommandName(message.cmd)) {
    throw new ProtocolError(ErrorCodes.UNKNOWN_COMMAND, `unknown command ${JSON.stringify(message.cmd.slice(0, 32))}`, id);
  }
  const rawArgs = 'args' in message ? message.args : {};
  if (!isPlainObject(rawArgs)) throw new ProtocolError(ErrorCodes.BAD_ARGS, '"args" must be an object', id);
  const args = validateArgs(message.cmd, rawArgs, id);
  return { v: PROTOCOL_VERSION, id, cmd: message.cmd, args } as Request;
}

function checkKeys(args: Record<string, unknown>, allowed: readonly string[], id: number): void {
  for (const key of Object.keys(args)) {
    if (!allowed.includes(key)) {
      throw new ProtocolError(ErrorCodes.BAD_ARGS, `unknown argument "${key.slice(0, 32)}"`, id);
    }
  }
}

/** Linux magic SysRq keys are single lowercase letters or digits (Documentation/admin-guide/sysrq.rst). */
export const SYSRQ_KEY_PATTERN = /^[0-9a-z]$/;

/** Longest one `perf` call samples (below the server's idle timeout); `tkvm perf` chains calls for longer runs. */
export const MAX_PERF_CALL_MS = 30_000;
/** Highest sampling rate `perf` accepts. */
export const MAX_PERF_HZ = 1000;

/** Most bytes one `console-input` request may carry (decoded); its base64 fits a request line. */
export const MAX_CONSOLE_INPUT_BYTES = 32 * 1024;

/** Canonical padded base64 (RFC 4648 section 4), as Buffer.toString('base64') writes it. */
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Longest snapshot directory `snapshot` accepts (PATH_MAX). */
export const MAX_SNAPSHOT_DIR_LENGTH = 4096;

/** Highest vCPU index accepted in `nmi` (KVM_MAX_VCPUS is at most 4096). */
export const MAX_VCPU_INDEX = 4095;

function validateArgs(cmd: CommandName, args: Record<string, unknown>, id: number): CommandArgs[CommandName] {
  switch (cmd) {
    case 'stop':
      checkKeys(args, ['force'], id);
      if (args.force !== undefined && typeof args.force !== 'boolean') {
        throw new ProtocolError(ErrorCodes.BAD_ARGS, '"force" must be a boolean', id);
      }
      return args.force === undefined ? {} : { force: args.force };
    case 'nmi': {
      checkKeys(args, ['cpu'], id);
      const cpu = args.cpu;
      if (typeof cpu !== 'number' || !Number.isInteger(cpu) || cpu < 0 || cpu > MAX_VCPU_INDEX) {
        throw new ProtocolError(ErrorCodes.BAD_ARGS, `"cpu" must be an integer between 0 and ${MAX_VCPU_INDEX}`, id);
      }
      return { cpu };
    }
    case 'sysrq':
      checkKeys(args, ['key'], id);
      if (typeof args.key !== 'string' || !SYSRQ_KEY_PATTERN.test(args.key)) {
        throw new ProtocolError(ErrorCodes.BAD_ARGS, '"key" must be one lowercase letter or digit', id);
      }
      return { key: args.key };
    case 'perf': {
      checkKeys(args, ['durationMs', 'frequencyHz'], id);
      const { durationMs, frequencyHz } = args;
      if (typeof durationMs !== 'number' || !Number.isInteger(durationMs) || durationMs < 1 || durationMs > MAX_PERF_CALL_MS) {
        throw new ProtocolError(ErrorCodes.BAD_ARGS, `"durationMs" must be an integer between 1 and ${MAX_PERF_CALL_MS}`, id);
      }
      if (typeof frequencyHz !== 'number' || !Number.isInteger(frequencyHz) || frequencyHz < 1 || frequencyHz > MAX_PERF_HZ) {
        throw new ProtocolError(ErrorCodes.BAD_ARGS, `"frequencyHz" must be an integer between 1 and ${MAX_PERF_HZ}`, id);
      }
      return { durationMs, frequencyHz };
    }
    case 'console-input': {
      checkKeys(args, ['data'], id);
      const data = args.data;
      if (typeof data !== 'string' || !BASE64_PATTERN.test(data)) {
        throw new ProtocolError(ErrorCodes.BAD_ARGS, '"data" must be a base64 string', id);
      }
      if (base64DecodedLength(data) > MAX_CONSOLE_INPUT_BYTES) {
        throw new ProtocolError(ErrorCodes.BAD_ARGS, `"data" may carry at most ${MAX_CONSOLE_INPUT_BYTES} bytes`, id);
      }
      return { data };
    }
    case 'snapshot': {
      checkKeys(args, ['dir', 'after'], id);
      const { dir, after } = args;
      if (typeof dir !== 'string' || !dir.startsWith('/') || dir.length > MAX_SNAPSHOT_DIR_LENGTH || dir.includes('\0')) {
        throw new ProtocolError(ErrorCodes.BAD_ARGS, `"dir" must be an absolute path of at most ${MAX_SNAPSHOT_DIR_LENGTH} characters`, id);
      }
      if (after !== 'resume' && after !== 'stop') throw new ProtocolError(ErrorCodes.BAD_ARGS, '"after" must be "resume" or "stop"', id);
      return { dir, after };
    }
    default:
      checkKeys(args, [], id);
      return {};
  }
}

function base64DecodedLength(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

/** Parses and validates one request line. */
export function parseRequest(line: Uint8Array): Request {
  return validateRequest(parseJsonLine(line));
}

export function encodeRequest<C extends CommandName>(id: number, cmd: C, args: CommandArgs[C]): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, id, cmd, args }) + '\n';
}

export function encodeResult(id: number, result: unknown): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, id, ok: true, result: result ?? null }) + '\n';
}

export function encodeError(id: number | null, code: string, message: string): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, id, ok: false, error: { code, message } }) + '\n';
}

/** One event line (docs/control-protocol.md, "Console"). */
export function encodeConsoleOutput(data: Uint8Array): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, event: 'console-output', data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') }) + '\n';
}

export function encodeConsoleDropped(bytes: number): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, event: 'console-dropped', bytes }) + '\n';
}

/** True for a decoded message that is an event rather than a response (it has `event`). */
export function isEventMessage(message: unknown): boolean {
  return isPlainObject(message) && 'event' in message;
}

/** Validates an event line; throws ProtocolError for a malformed one; null for an event this client does not know (ignored, see Versioning). */
export function validateEvent(message: unknown): ConsoleEvent | null {
  const bad = (what: string): never => {
    throw new ProtocolError(ErrorCodes.BAD_REQUEST, `malformed event: ${what}`);
  };
  if (!isPlainObject(message)) return bad('not an object');
  if (message.v !== PROTOCOL_VERSION) return bad('unsupported version');
  if (message.event === 'console-output') {
    if (typeof message.data !== 'string' || !BASE64_PATTERN.test(message.data)) return bad('data');
    return { event: 'console-output', data: Buffer.from(message.data, 'base64') };
  }
  if (message.event === 'console-dropped') {
    if (!Number.isSafeInteger(message.bytes) || (message.bytes as number) < 0) return bad('bytes');
    return { event: 'console-dropped', bytes: message.bytes as number };
  }
  if (typeof message.event !== 'string') return bad('"event" must be a string');
  return null;
}

/** Validates a decoded response (the client side of the same strictness). */
export function validateResponse(message: unknown): Response {
  if (!isPlainObject(message)) throw new ProtocolError(ErrorCodes.BAD_REQUEST, 'response must be a JSON object');
  if (message.v !== PROTOCOL_VERSION) throw new ProtocolError(ErrorCodes.BAD_VERSION, 'response has an unsupported version');
  const id = message.id;
  if (id !== null && !isRequestId(id)) throw new ProtocolError(ErrorCodes.BAD_REQUEST, 'response "id" is invalid');
  if (message.ok === true) {
    if (!('result' in message)) throw new ProtocolError(ErrorCodes.BAD_REQUEST, 'response has no "result"');
    return { v: PROTOCOL_VERSION, id, ok: true, result: message.result };
  }
  if (message.ok === false) {
    const error = message.error;
    if (!isPlainObject(error) || !isErrorCode(error.code) || typeof error.message !== 'string') {
      throw new ProtocolError(ErrorCodes.BAD_REQUEST, 'response "error" is malformed');
    }
    return { v: PROTOCOL_VERSION, id, ok: false, error: { code: error.code, message: error.message } };
  }
  throw new ProtocolError(ErrorCodes.BAD_REQUEST, 'response "ok" must be a boolean');
}

/** Validates a VmInfo result field by field. */
export function validateVmInfo(value: unknown): VmInfo {
  const bad = (what: string): never => {
    throw new ProtocolError(ErrorCodes.BAD_REQUEST, `malformed VM info: ${what}`);
  };
  if (!isPlainObject(value)) return bad('not an object');
  const { name, pid, state, cpus, memBytes, uptimeMs } = value;
  if (typeof name !== 'string') bad('name');
  if (!Number.isSafeInteger(pid) || (pid as number) <= 0) bad('pid');
  if (state !== 'running' && state !== 'paused' && state !== 'stopping') bad('state');
  if (!Number.isSafeInteger(cpus) || (cpus as number) < 0) bad('cpus');
  if (!Number.isSafeInteger(memBytes) || (memBytes as number) < 0) bad('memBytes');
  if (typeof uptimeMs !== 'number' || !Number.isFinite(uptimeMs) || uptimeMs < 0) bad('uptimeMs');
  return value as unknown as VmInfo;
}
