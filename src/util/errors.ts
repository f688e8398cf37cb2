/**
 * Errors that reach the user. Each has a stable `code` (like Node's
 * ERR_* codes) and a one-line message that names the problem and, where
 * possible, the fix. The CLI prints `tkvm: <message>` and exits with
 * `exitCode`; it never prints a stack trace for these.
 */
export class TkvmError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode = 1) {
    super(message);
    this.name = 'TkvmError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** A bad flag or value on the command line: exit status 2. */
export class UsageError extends TkvmError {
  constructor(message: string) {
    super('ERR_USAGE', message, 2);
    this.name = 'UsageError';
  }
}

/** A malformed input file (kernel, initrd, disk image). */
export class FileFormatError extends TkvmError {
  readonly path: string;
  constructor(path: string, problem: string) {
    super('ERR_FILE_FORMAT', `${path}: ${problem}`);
    this.name = 'FileFormatError';
    this.path = path;
  }
}
