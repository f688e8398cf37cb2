import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../util/errors.js';
import { makeSetupCommand, parseSetupArgs } from './setup.js';

test('parseSetupArgs accepts --jobs and --force', () => {
  assert.deepEqual(parseSetupArgs([]), { force: false });
  assert.deepEqual(parseSetupArgs(['--jobs', '2', '--force']), { force: true, jobs: 2 });
  assert.deepEqual(parseSetupArgs(['--jobs=16']), { force: false, jobs: 16 });
});

test('parseSetupArgs rejects bad job counts and unknown arguments with usage errors', () => {
  for (const argv of [['--jobs', '0'], ['--jobs', '1.5'], ['--jobs', '-3'], ['--jobs', '257'], ['--jobs', 'x'], ['--jobs'], ['--fast'], ['extra']]) {
    assert.throws(() => parseSetupArgs(argv), UsageError, argv.join(' '));
  }
});

test('setup prints the kernel and initrd paths with their sizes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tkvm-setup-cmd-'));
  try {
    const kernel = join(dir, 'bzImage');
    const initrd = join(dir, 'initramfs.cpio.gz');
    writeFileSync(kernel, Buffer.alloc(3 * 1024 * 1024));
    writeFileSync(initrd, Buffer.alloc(1024 * 1024 + 512 * 1024));
    let printed = '';
    let received: unknown;
    const command = makeSetupCommand(
      async (options) => {
        received = options;
        return { kernel, initrd, verifiedSymbols: [], kernelCached: true, initramfsCached: true };
      },
      (text) => void (printed += text),
    );
    assert.equal(await command.run(['--jobs', '3']), 0);
    assert.deepEqual(received, { force: false, jobs: 3 });
    assert.equal(printed, `kernel: ${kernel} (3.0 MiB)\ninitrd: ${initrd} (1.5 MiB)\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
