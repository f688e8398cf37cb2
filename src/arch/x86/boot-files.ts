/**
 * Reading the kernel and initrd from the host, with one-line errors that name
 * the file (ERR_FILE_NOT_FOUND, ERR_FILE_ACCESS) instead of raw fs errors.
 */
import { readFileSync, statSync, type Stats } from 'node:fs';
import { TkvmError } from '../../util/errors.js';

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
  EIO: 'I/O error',
};

function fsError(what: string, path: string, err: unknown): TkvmError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
  if (code === 'ENOENT' || code === 'ENOTDIR') return new TkvmError('ERR_FILE_NOT_FOUND', `${what} file not found: ${path}`);
  return new TkvmError('ERR_FILE_ACCESS', `cannot read ${what} file ${path}: ${REASONS[code] ?? code}`);
}

/** A host file whose size is known before its bytes are read. */
export interface BootFile {
  path: string;
  size: number;
  read(): Uint8Array;
}

/**
 * Opens `path` for reading (stat only); `read()` loads it and fails if it
 * grew past the size `stat` reported. `what` names the file in messages.
 */
export function openBootFile(what: string, path: string): BootFile {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    throw fsError(what, path, err);
  }
  if (!st.isFile()) throw new TkvmError('ERR_FILE_ACCESS', `cannot read ${what} file ${path}: not a regular file`);
  const size = st.size;
  return {
    path,
    size,
    read(): Uint8Array {
      let bytes: Buffer;
      try {
        bytes = readFileSync(path);
      } catch (err) {
        throw fsError(what, path, err);
      }
      if (bytes.length !== size) throw new TkvmError('ERR_FILE_ACCESS', `${what} file ${path} changed size while it was being read`);
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
  };
}

/** A BootFile over bytes already in memory (tests, embedded images). */
export function bootFileFromBytes(path: string, bytes: Uint8Array): BootFile {
  return { path, size: bytes.length, read: () => bytes };
}
