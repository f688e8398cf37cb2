/**
 * The default guest's initramfs: busybox (with a symlink per applet), the
 * init script, and the few directories and device nodes init needs before
 * devtmpfs is mounted. An uncompressed newc cpio archive, which the
 * kernel unpacks into its rootfs (buffer-format.rst); the same inputs
 * give the same bytes. Not gzip'd: on hosts that emulate guest ring 0
 * (PVM) the kernel took ~32 s to gunzip the 1 MB archive, and copying the
 * ~2.5 MB it holds costs the host nothing.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { TkvmError } from '../util/errors.js';
import { writeCpioNewc, type CpioEntry } from './cpio.js';

export interface InitramfsContents {
  busybox: Uint8Array;
  /** Applet names from `busybox --list`. */
  applets: readonly string[];
  initScript: string;
}

/** Applet names that are safe as file names in /bin (`[`, `[[` included). */
const APPLET_NAME = /^[A-Za-z0-9_.+[\]-]+$/;

/** The applets `busybox --list` prints, checked and sorted. */
export function parseAppletList(output: string): string[] {
  const names = output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  for (const name of names) {
    if (!APPLET_NAME.test(name) || name === '.' || name === '..') {
      throw new TkvmError('ERR_GUEST_BUILD', `busybox --list printed an unexpected applet name ${JSON.stringify(name)}`);
    }
  }
  return [...new Set(names)].sort();
}

export function listBusyboxApplets(busyboxPath: string): string[] {
  let output: string;
  try {
    output = execFileSync(busyboxPath, ['--list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    throw new TkvmError('ERR_GUEST_BUILD', `could not list the applets of ${busyboxPath}: ${(error as Error).message}`);
  }
  return parseAppletList(output);
}

/**
 * The archive's entries: a merged-/usr layout where everything is in
 * /bin (/sbin, /usr/bin and /usr/sbin link to it), /dev/console for the
 * kernel to open as init's stdin/stdout/stderr, and /init.
 */
export function initramfsEntries(contents: InitramfsContents): CpioEntry[] {
  const entries: CpioEntry[] = [
    { type: 'directory', path: 'bin' },
    { type: 'directory', path: 'dev' },
    { type: 'device', path: 'dev/console', kind: 'char', major: 5, minor: 1, mode: 0o600 },
    { type: 'device', path: 'dev/null', kind: 'char', major: 1, minor: 3, mode: 0o666 },
    { type: 'directory', path: 'etc' },
    { type: 'file', path: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
    { type: 'file', path: 'etc/group', data: Buffer.from('root:x:0:\n') },
    { type: 'directory', path: 'mnt' },
    { type: 'directory', path: 'proc', mode: 0o555 },
    { type: 'directory', path: 'root', mode: 0o700 },
    { type: 'directory', path: 'run' },
    { type: 'symlink', path: 'sbin', target: 'bin' },
    { type: 'directory', path: 'sys', mode: 0o555 },
    { type: 'directory', path: 'tmp', mode: 0o1777 },
    { type: 'directory', path: 'usr' },
    { type: 'symlink', path: 'usr/bin', target: '../bin' },
    { type: 'symlink', path: 'usr/sbin', target: '../bin' },
    { type: 'file', path: 'bin/busybox', data: contents.busybox, mode: 0o755 },
  ];
  for (const applet of contents.applets) {
    if (applet === 'busybox') continue;
    entries.push({ type: 'symlink', path: `bin/${applet}`, target: 'busybox' });
  }
  entries.push({ type: 'file', path: 'init', data: Buffer.from(contents.initScript, 'utf8'), mode: 0o755 });
  return entries;
}

/** The cpio archive of initramfsEntries(contents). */
export function buildInitramfs(contents: InitramfsContents): Buffer {
  return writeCpioNewc(initramfsEntries(contents));
}

/** Reads busybox from the host and builds the initramfs around `initScript`. */
export function buildInitramfsFromHost(busyboxPath: string, initScript: string): Buffer {
  return buildInitramfs({ busybox: readFileSync(busyboxPath), applets: listBusyboxApplets(busyboxPath), initScript });
}
