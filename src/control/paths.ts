/**
 * Where control sockets live and what a VM may be called.
 *
 * Each running VM listens on `DIR/NAME.sock`. DIR is `$XDG_RUNTIME_DIR/tkvm`
 * (the XDG Base Directory specification's per-user runtime directory) or,
 * when that is unset or unusable, `~/.tkvm`. DIR is mode 0700 and owned by
 * the user: that permission is what keeps other users away from the sockets.
 */
import { lstatSync, mkdirSync, chmodSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { TkvmError, UsageError } from '../util/errors.js';

/** A VM name: starts with a letter or digit, at most 64 characters. */
export const VM_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** File suffix of control sockets in the control directory. */
export const SOCKET_SUFFIX = '.sock';

/** sun_path is 108 bytes including the terminating NUL (unix(7)). */
const MAX_SOCKET_PATH_BYTES = 107;

export function isValidVmName(name: string): boolean {
  return VM_NAME_PATTERN.test(name);
}

/** Returns `name` unchanged, or throws a UsageError explaining the rule. */
export function validateVmName(name: string): string {
  if (!isValidVmName(name)) {
    throw new UsageError(
      `invalid VM name ${JSON.stringify(name)}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

/** The name a VM gets when none is given: `guest-<pid>`. */
export function defaultVmName(pid: number = process.pid): string {
  return `guest-${pid}`;
}

function currentUid(): number {
  return process.getuid?.() ?? 0;
}

/** True when `path` is an absolute, existing directory owned by us and writable. */
function usableRuntimeDir(path: string | undefined): path is string {
  if (!path || !isAbsolute(path)) return false;
  try {
    const st = statSync(path);
    return st.isDirectory() && st.uid === currentUid() && (st.mode & 0o700) === 0o700;
  } catch {
    return false;
  }
}

/**
 * The control directory's path (not created). `$XDG_RUNTIME_DIR/tkvm` when
 * XDG_RUNTIME_DIR names a directory we own, else `~/.tkvm`.
 */
export function controlDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (usableRuntimeDir(runtime)) return join(runtime, 'tkvm');
  return join(env.HOME && isAbsolute(env.HOME) ? env.HOME : homedir(), '.tkvm');
}

/**
 * Creates the control directory with mode 0700, or checks an existing one:
 * it must be a real directory (not a symlink) owned by us; looser
 * permissions are tightened to 0700. Returns the directory path.
 */
export function ensureControlDir(dir: string = controlDir()): string {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new TkvmError('ERR_CONTROL_DIR', `cannot create control directory ${dir}: ${errCode(err)}`);
  }
  const st = lstatSync(dir);
  if (!st.isDirectory()) {
    throw new TkvmError('ERR_CONTROL_DIR', `control directory ${dir} is not a directory`);
  }
  if (st.uid !== currentUid()) {
    throw new TkvmError(
      'ERR_CONTROL_DIR_OWNER',
      `control directory ${dir} belongs to uid ${st.uid}, not to you (uid ${currentUid()}): remove it or set XDG_RUNTIME_DIR`,
    );
  }
  if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  return dir;
}

/** `DIR/NAME.sock`, checked against the unix socket path length limit. */
export function socketPath(name: string, dir: string = controlDir()): string {
  validateVmName(name);
  const path = join(dir, name + SOCKET_SUFFIX);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new TkvmError(
      'ERR_SOCKET_PATH_TOO_LONG',
      `control socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes: use a shorter VM name or XDG_RUNTIME_DIR`,
    );
  }
  return path;
}

/** The VM name of a directory entry `NAME.sock`, or null for other files. */
export function vmNameOfSocketFile(fileName: string): string | null {
  if (!fileName.endsWith(SOCKET_SUFFIX)) return null;
  const name = fileName.slice(0, -SOCKET_SUFFIX.length);
  return isValidVmName(name) ? name : null;
}

export function errCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.message : String(err);
}
