/**
 * The kernel command line: UTF-8 bytes plus a terminating NUL, checked
 * against the kernel's limit (boot.rst, "cmdline_size": the longest command
 * line without its NUL).
 */
import { UsageError } from '../../util/errors.js';
import { CMDLINE_MAX_BYTES } from './layout.js';

/** The command line as written to guest memory, NUL included. */
export function encodeCmdline(cmdline: string, limit: number, kernelPath: string): Uint8Array {
  const text = new TextEncoder().encode(cmdline);
  if (text.includes(0)) throw new UsageError('the kernel command line must not contain a NUL character');
  const max = Math.min(limit, CMDLINE_MAX_BYTES - 1);
  if (text.length > max) {
    throw new UsageError(`the kernel command line is ${text.length} bytes, but ${kernelPath} accepts at most ${max}`);
  }
  const out = new Uint8Array(text.length + 1);
  out.set(text);
  return out;
}
