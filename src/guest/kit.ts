/**
 * The guest kit's sources in the repository (top-level `guest/`): the
 * kernel config fragment, the kernel patch series and the init script,
 * plus the Debian package versions, i.e. everything the cache keys cover.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findPackage } from '../util/package-root.js';
import { TkvmError } from '../util/errors.js';
import { GUEST_BUILDER_VERSION, initramfsKey, kernelKey, type NamedContent } from './cache.js';
import { BUSYBOX_PACKAGE, LINUX_SOURCE_PACKAGE } from './debian.js';

/** The package's `guest/` folder (next to package.json; see util/package-root.ts). */
export function defaultKitDir(): string {
  return join(findPackage(import.meta.url).root, 'guest');
}

export interface GuestKitSources {
  kitDir: string;
  configFragmentPath: string;
  configFragment: string;
  /** Patch files (`*.patch`), sorted by name: the order they are applied in. */
  patches: (NamedContent & { path: string })[];
  initScriptPath: string;
  initScript: string;
}

export function readKitSources(kitDir = defaultKitDir()): GuestKitSources {
  const configFragmentPath = join(kitDir, 'kernel', 'tkvm.config');
  const patchDir = join(kitDir, 'kernel', 'patches');
  const initScriptPath = join(kitDir, 'init');
  try {
    const patchNames = readdirSync(patchDir)
      .filter((name) => name.endsWith('.patch'))
      .sort();
    return {
      kitDir,
      configFragmentPath,
      configFragment: readFileSync(configFragmentPath, 'utf8'),
      patches: patchNames.map((name) => ({ name, path: join(patchDir, name), content: readFileSync(join(patchDir, name)) })),
      initScriptPath,
      initScript: readFileSync(initScriptPath, 'utf8'),
    };
  } catch (error) {
    throw new TkvmError('ERR_GUEST_KIT', `the guest kit in ${kitDir} is incomplete: ${(error as Error).message}`);
  }
}

export interface GuestKeys {
  kernel: string;
  initramfs: string;
}

/** Cache keys of the kit built from `sources` with the given package versions. */
export function guestKeys(sources: GuestKitSources, versions: ReadonlyMap<string, string>): GuestKeys | null {
  const linuxSourceVersion = versions.get(LINUX_SOURCE_PACKAGE);
  const busyboxVersion = versions.get(BUSYBOX_PACKAGE);
  if (linuxSourceVersion === undefined || busyboxVersion === undefined) return null;
  return {
    kernel: kernelKey({
      builderVersion: GUEST_BUILDER_VERSION,
      configFragment: sources.configFragment,
      patches: sources.patches,
      linuxSourceVersion,
    }),
    initramfs: initramfsKey({ builderVersion: GUEST_BUILDER_VERSION, initScript: sources.initScript, busyboxVersion }),
  };
}
