/**
 * A failed system call: carries the syscall name and errno so callers can
 * branch on `code` (a stable string such as "ENOENT") instead of messages.
 */
import { constants } from 'node:os';

const errnoNames: Map<number, string> = new Map(
  Object.entries(constants.errno).map(([name, value]) => [value, name]),
);

/** Returns the symbolic name of an errno value, e.g. 13 -> "EACCES". */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

export class SysError extends Error {
  readonly syscall: string;
  readonly errno: number;
  readonly code: string;

  constructor(syscall: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    super(`${syscall}${detail ? ` (${detail})` : ''} failed: ${code}`);
    this.name = 'SysError';
    this.syscall = syscall;
    this.errno = errno;
    this.code = code;
  }
}
