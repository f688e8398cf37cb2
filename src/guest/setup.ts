/**
 * `tkvm setup`: makes sure the Debian packages are there, then builds the
 * default guest kernel and initramfs into the cache unless a build from
 * the same inputs is already there, and tkvm's own passt
 * (scripts/build-passt.sh, cached too).
 */

import { availableParallelism } from 'node:os';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { TkvmError } from '../util/errors.js';
import { findPackage } from '../util/package-root.js';
import { BuildLog } from './build-log.js';
import { cacheRoot, guestCacheLayout, type GuestCacheLayout } from './cache.js';
import { BUSYBOX_PATH, installedVersions, installPackages, LINUX_SOURCE_TARBALL, REQUIRED_PACKAGES } from './debian.js';
import { applyPatches, buildKernelImage, configureKernel, unpackKernelSource } from './kernel-build.js';
import { buildInitramfsFromHost } from './initramfs.js';
import { guestKeys, readKitSources, type GuestKitSources } from './kit.js';
import { StepProgress, type ProgressOutput } from './progress.js';

export interface GuestPaths {
  kernel: string;
  initrd: string;
}

export interface SetupOptions {
  /** Parallel make jobs; default: the number of CPUs. */
  jobs?: number;
  /** Rebuild even if the cache has a build from the same inputs. */
  force?: boolean;
  /** Progress lines (and the log tail on failure); default: stderr. */
  progress?: ProgressOutput;
  env?: NodeJS.ProcessEnv;
  /** The repository's guest/ folder; default: the one next to this code. */
  kitDir?: string;
}

export interface SetupResult extends GuestPaths {
  /** Kconfig symbols checked in the kernel's .config (empty if the kernel was cached). */
  verifiedSymbols: string[];
  kernelCached: boolean;
  initramfsCached: boolean;
  /** tkvm's own passt, or null when it could not be built (a warning said why; $PATH's passt is used). */
  passt?: string | null;
}

const stderrOutput: ProgressOutput = {
  write: (text) => void process.stderr.write(text),
  get isTty() {
    return process.stderr.isTTY === true;
  },
};

/** Holds `path` (O_EXCL) while the build runs; a lock left by a dead process is taken over. */
function acquireLock(path: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && processExists(pid)) {
        throw new TkvmError('ERR_GUEST_BUSY', `another tkvm setup (pid ${pid}) is building the guest; wait for it (lock: ${path})`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new TkvmError('ERR_GUEST_BUSY', `could not take the setup lock ${path}`);
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes half-written cache entries of interrupted or failed runs (the lock is held). */
function removeLeftovers(guestDir: string): void {
  for (const name of readdirSync(guestDir)) {
    if (name.endsWith('.partial')) rmSync(join(guestDir, name), { recursive: true, force: true });
  }
}

/** Writes into `dir` through a temporary sibling renamed into place, so a cache entry is complete or absent. */
async function publishDirectory(dir: string, fill: (tempDir: string) => Promise<void>): Promise<void> {
  const temp = `${dir}.partial`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp, { recursive: true });
  await fill(temp);
  rmSync(dir, { recursive: true, force: true });
  renameSync(temp, dir);
}

async function buildKernel(
  sources: GuestKitSources,
  layout: GuestCacheLayout,
  jobs: number,
  progress: StepProgress,
  log: BuildLog,
): Promise<string[]> {
  const workDir = join(layout.workDir, 'kernel');
  rmSync(workDir, { recursive: true, force: true });
  let verified: string[] = [];
  await publishDirectory(layout.kernelDir, async (temp) => {
    const sourceDir = await progress.run(`unpacking ${LINUX_SOURCE_TARBALL}`, () => unpackKernelSource(LINUX_SOURCE_TARBALL, workDir, log));
    const patchNote = sources.patches.length > 0 ? `, ${sources.patches.length} patches` : '';
    await progress.run(`configuring the kernel (tinyconfig + ${basename(sources.configFragmentPath)}${patchNote})`, async () => {
      await applyPatches(
        sourceDir,
        sources.patches.map((patch) => patch.path),
        log,
      );
      verified = (await configureKernel(sourceDir, sources.configFragmentPath, log)).map((item) => item.symbol);
    });
    const images = await progress.run(`building the kernel (make -j${jobs} bzImage)`, () => buildKernelImage(sourceDir, jobs, log));
    copyFileSync(images.bzImage, join(temp, 'bzImage'));
    copyFileSync(images.vmlinux, join(temp, 'vmlinux'));
    copyFileSync(join(sourceDir, '.config'), join(temp, 'config'));
    copyFileSync(log.path, join(temp, 'build.log'));
  });
  rmSync(workDir, { recursive: true, force: true });
  return verified;
}

/** scripts/build-passt.sh, shipped with the package (package.json "files"). */
export function passtBuildScript(): string {
  return join(findPackage(import.meta.url).root, 'scripts', 'build-passt.sh');
}

/**
 * Builds tkvm's passt (a second run finds it built at once). A failure is
 * one warning, not a failed setup: the guest kit does not need it, and
 * --net user then runs the passt on $PATH.
 */
async function buildPasst(progress: StepProgress, log: BuildLog, output: ProgressOutput, env: NodeJS.ProcessEnv | undefined): Promise<string | null> {
  const script = passtBuildScript();
  try {
    await progress.run('building passt (scripts/build-passt.sh)', () => log.run('building passt', 'bash', [script], { env: env ?? process.env }));
  } catch (error) {
    output.write(`tkvm setup: warning: ${(error as Error).message}; --net user uses the passt on $PATH (see docs/networking.md)\n`);
    return null;
  }
  return join(cacheRoot(env), 'passt', 'current', 'passt');
}

/** Runs setup; throws TkvmError (after printing the build log's tail) on failure. */
export async function runSetup(options: SetupOptions = {}): Promise<SetupResult> {
  const output = options.progress ?? stderrOutput;
  const jobs = options.jobs ?? availableParallelism();
  const sources = readKitSources(options.kitDir);
  const root = cacheRoot(options.env);
  mkdirSync(join(root, 'guest'), { recursive: true });
  const provisionalLayout = guestCacheLayout(root, { kernel: 'none', initramfs: 'none' });
  const releaseLock = acquireLock(provisionalLayout.lock);
  removeLeftovers(provisionalLayout.root);
  const log = new BuildLog(provisionalLayout.log);
  let logStarted = false;
  try {
    let versions = installedVersions(REQUIRED_PACKAGES);
    const missing = REQUIRED_PACKAGES.filter((name) => !versions.has(name));
    const cachedBefore = (() => {
      const keys = guestKeys(sources, versions);
      if (keys === null || options.force) return { kernel: false, initramfs: false };
      const layout = guestCacheLayout(root, keys);
      return { kernel: existsSync(layout.kernel), initramfs: existsSync(layout.initrd) };
    })();
    const total = (missing.length > 0 ? 1 : 0) + (cachedBefore.kernel ? 1 : 3) + 1 + 1;
    const progress = new StepProgress(output, total);
    // A fully cached run keeps the log of the build that made the cache.
    if (missing.length > 0 || !cachedBefore.kernel || !cachedBefore.initramfs) {
      log.reset();
      logStarted = true;
    }

    if (missing.length > 0) {
      await progress.run(`installing Debian packages (${missing.join(' ')})`, () => installPackages(missing, log));
      versions = installedVersions(REQUIRED_PACKAGES);
    }
    const keys = guestKeys(sources, versions);
    if (keys === null) throw new TkvmError('ERR_GUEST_PACKAGES', 'the kernel source or busybox package is still not installed');
    const layout = guestCacheLayout(root, keys);
    if (missing.length > 0 && !options.force && existsSync(layout.kernel)) progress.setTotal(total - 2);

    let verifiedSymbols: string[] = [];
    const kernelCached = !options.force && existsSync(layout.kernel);
    if (kernelCached) progress.skip('kernel', `cached (${layout.kernel})`);
    else verifiedSymbols = await buildKernel(sources, layout, jobs, progress, log);

    const initramfsCached = !options.force && existsSync(layout.initrd);
    if (initramfsCached) progress.skip('initramfs', `cached (${layout.initrd})`);
    else {
      await progress.run(`building the initramfs (${BUSYBOX_PATH} + guest/init)`, () =>
        publishDirectory(layout.initramfsDir, async (temp) => {
          writeFileSync(join(temp, 'initramfs.cpio'), buildInitramfsFromHost(BUSYBOX_PATH, sources.initScript));
        }),
      );
    }
    const passt = await buildPasst(progress, log, output, options.env);
    return { kernel: layout.kernel, initrd: layout.initrd, verifiedSymbols, kernelCached, initramfsCached, passt };
  } catch (error) {
    const tail = logStarted ? log.tail() : '';
    if (tail !== '') output.write(`--- last lines of ${log.path} ---\n${tail}\n---\n`);
    throw error;
  } finally {
    releaseLock();
  }
}
