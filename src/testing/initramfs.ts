/**
 * Test-time additions to the default guest's initramfs. Linux unpacks
 * concatenated cpio archives in order (Documentation/driver-api/
 * early-userspace/buffer-format.rst), so a test appends a second archive
 * with its own programs to the kit's initramfs instead of rebuilding it.
 * Uncompressed, as the kit's own: a guest kernel whose ring 0 is emulated
 * (PVM hosts) takes tens of seconds to gunzip a megabyte.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { writeCpioNewc, type CpioEntry } from '../guest/cpio.js';

export interface ExtraFile {
  /** Absolute path inside the guest, e.g. /bin/syscall-test. */
  guestPath: string;
  hostPath: string;
  mode?: number;
}

/** The shared libraries (and the dynamic loader) a host binary needs, from ldd. */
export function sharedLibraries(hostBinary: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [hostBinary], { encoding: 'utf8' });
  } catch {
    return []; // "not a dynamic executable"
  }
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.add(m[1]!);
  }
  return [...libs];
}

/** A host program plus its libraries, at the same paths in the guest. */
export function withLibraries(guestPath: string, hostPath: string): ExtraFile[] {
  return [{ guestPath, hostPath, mode: 0o755 }, ...sharedLibraries(hostPath).map((lib) => ({ guestPath: lib, hostPath: lib, mode: 0o755 }))];
}

/** An uncompressed newc archive with `files` and every parent directory they need. */
export function extraArchive(files: readonly ExtraFile[]): Buffer {
  const dirs = new Set<string>();
  for (const f of files) {
    for (let d = path.posix.dirname(f.guestPath); d !== '/' && d !== '.'; d = path.posix.dirname(d)) dirs.add(d);
  }
  const entries: CpioEntry[] = [
    ...[...dirs].sort().map((d): CpioEntry => ({ type: 'directory', path: d })),
    ...files.map((f): CpioEntry => ({ type: 'file', path: f.guestPath, data: readFileSync(realpathSync(f.hostPath)), mode: f.mode ?? 0o755 })),
  ];
  return writeCpioNewc(entries);
}

/** The base initramfs followed by an archive of `files`. */
export function initramfsWith(baseInitramfs: string, files: readonly ExtraFile[]): Buffer {
  return Buffer.concat([readFileSync(baseInitramfs), extraArchive(files)]);
}
