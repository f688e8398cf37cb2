/**
 * Building the default guest kernel from Debian's linux-source tarball:
 * unpack, apply the patch series, configure (tinyconfig + the fragment,
 * verified), and `make bzImage`, which also links vmlinux. Always ARCH=x86_64: with ARCH=x86,
 * tinyconfig would pick a 32-bit kernel.
 */

import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TkvmError } from '../util/errors.js';
import type { BuildLog } from './build-log.js';
import { verifyKernelConfig, type KconfigRequirement } from './kconfig.js';

const MAKE_ARCH = 'ARCH=x86_64';

/** Reproducible version strings in the kernel image (Documentation/kbuild/reproducible-builds.rst). */
function buildEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KBUILD_BUILD_USER: 'tkvm',
    KBUILD_BUILD_HOST: 'tkvm',
    KBUILD_BUILD_TIMESTAMP: 'tkvm setup',
  };
}

/** Unpacks `tarball` into the empty directory `workDir`; returns the source tree. */
export async function unpackKernelSource(tarball: string, workDir: string, log: BuildLog): Promise<string> {
  mkdirSync(workDir, { recursive: true });
  await log.run('unpacking the kernel source', 'tar', ['-xf', tarball, '-C', workDir]);
  const top = readdirSync(workDir);
  if (top.length !== 1) {
    throw new TkvmError('ERR_GUEST_BUILD', `${tarball} unpacked to ${top.length} top-level entries, expected one directory`);
  }
  return join(workDir, top[0] as string);
}

/** Applies patch files in order with `patch -p1` (the series format of guest/kernel/patches/README). */
export async function applyPatches(sourceDir: string, patchPaths: readonly string[], log: BuildLog): Promise<void> {
  for (const path of patchPaths) {
    await log.run(`applying ${path}`, 'patch', ['-p1', '--forward', '--batch', '-i', path], { cwd: sourceDir });
  }
}

/**
 * tinyconfig, then the fragment merged on top, then olddefconfig; fails
 * naming any fragment symbol the final .config does not honour.
 */
export async function configureKernel(sourceDir: string, fragmentPath: string, log: BuildLog): Promise<KconfigRequirement[]> {
  const env = buildEnv();
  await log.run('make tinyconfig', 'make', [MAKE_ARCH, 'tinyconfig'], { cwd: sourceDir, env });
  await log.run('merging the config fragment', join(sourceDir, 'scripts/kconfig/merge_config.sh'), ['-m', '.config', fragmentPath], {
    cwd: sourceDir,
    env,
  });
  await log.run('make olddefconfig', 'make', [MAKE_ARCH, 'olddefconfig'], { cwd: sourceDir, env });
  const verified = verifyKernelConfig(readFileSync(fragmentPath, 'utf8'), readFileSync(join(sourceDir, '.config'), 'utf8'), fragmentPath);
  log.note(`verified ${verified.length} symbols of ${fragmentPath} in .config`);
  return verified;
}

export interface KernelImages {
  /** The compressed, self-decompressing image (x86 boot protocol). */
  bzImage: string;
  /** The kernel ELF (PVH note, 64-bit entry), which boots without a decompressor. */
  vmlinux: string;
}

/** `make -jN bzImage`; returns the paths of the bzImage and of the vmlinux it was made from. */
export async function buildKernelImage(sourceDir: string, jobs: number, log: BuildLog): Promise<KernelImages> {
  await log.run('building the kernel', 'make', [MAKE_ARCH, `-j${jobs}`, 'bzImage'], { cwd: sourceDir, env: buildEnv() });
  return { bzImage: join(sourceDir, 'arch/x86/boot/bzImage'), vmlinux: join(sourceDir, 'vmlinux') };
}
