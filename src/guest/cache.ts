/**
 * Where the built guest kit lives, and the keys that name it. Each
 * artifact sits in a directory named after a hash of everything it is
 * built from, so changing any input (config fragment, a patch, the init
 * script, a Debian package version, the builder) builds anew, and
 * unchanged inputs find the earlier result: a second `tkvm setup` is
 * instant.
 *
 *   $XDG_CACHE_HOME/tkvm/guest/   (default ~/.cache/tkvm/guest/)
 *     kernel-KEY/vmlinux          the kernel tkvm boots (the uncompressed
 *                                 ELF: no decompressor to run), its
 *                                 bzImage, its .config (config) and the
 *                                 log of its build (build.log)
 *     initramfs-KEY/initramfs.cpio (uncompressed)
 *     logs/setup.log              output of the last setup's commands
 *     work/                       build trees (removed after a build)
 */

import { createHash } from 'node:crypto';
import { join } from 'node:path';

/**
 * Version of the build recipe in src/guest: bump it whenever a change
 * there alters what is built (make flags, initramfs layout...), so caches
 * built by the old recipe are not reused.
 */
export const GUEST_BUILDER_VERSION = 2;

/** Length of the hex key in directory names (80 bits). */
const KEY_HEX_DIGITS = 20;

export { cacheRoot } from '../util/cache-root.js';

export interface NamedContent {
  name: string;
  content: Uint8Array | string;
}

export interface KernelInputs {
  builderVersion: number;
  configFragment: string;
  /** In application order. */
  patches: readonly NamedContent[];
  linuxSourceVersion: string;
}

export interface InitramfsInputs {
  builderVersion: number;
  initScript: string;
  busyboxVersion: string;
}

function sha256(content: Uint8Array | string): string {
  return createHash('sha256').update(content).digest('hex');
}

/** A key over a JSON value whose shape is fixed by the caller (no ambiguity between fields). */
function keyOf(kind: string, fields: unknown): string {
  return sha256(JSON.stringify([kind, fields])).slice(0, KEY_HEX_DIGITS);
}

export function kernelKey(inputs: KernelInputs): string {
  return keyOf('kernel', {
    builderVersion: inputs.builderVersion,
    configFragment: sha256(inputs.configFragment),
    patches: inputs.patches.map((patch) => [patch.name, sha256(patch.content)]),
    linuxSourceVersion: inputs.linuxSourceVersion,
  });
}

export function initramfsKey(inputs: InitramfsInputs): string {
  return keyOf('initramfs', {
    builderVersion: inputs.builderVersion,
    initScript: sha256(inputs.initScript),
    busyboxVersion: inputs.busyboxVersion,
  });
}

/** Paths of the cached kit for given keys. */
export interface GuestCacheLayout {
  root: string;
  kernelDir: string;
  /** The ELF vmlinux tkvm boots. */
  kernel: string;
  /** The same kernel as a bzImage, for other VMMs and boot loaders. */
  bzImage: string;
  kernelConfig: string;
  initramfsDir: string;
  initrd: string;
  log: string;
  workDir: string;
  lock: string;
}

export function guestCacheLayout(root: string, keys: { kernel: string; initramfs: string }): GuestCacheLayout {
  const guestDir = join(root, 'guest');
  const kernelDir = join(guestDir, `kernel-${keys.kernel}`);
  const initramfsDir = join(guestDir, `initramfs-${keys.initramfs}`);
  return {
    root: guestDir,
    kernelDir,
    kernel: join(kernelDir, 'vmlinux'),
    bzImage: join(kernelDir, 'bzImage'),
    kernelConfig: join(kernelDir, 'config'),
    initramfsDir,
    initrd: join(initramfsDir, 'initramfs.cpio'),
    log: join(guestDir, 'logs', 'setup.log'),
    workDir: join(guestDir, 'work'),
    lock: join(guestDir, 'setup.lock'),
  };
}
