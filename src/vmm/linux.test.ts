/**
 * End-to-end Linux boots of the default guest kit (few: on a PVM host each
 * boot takes minutes). One boot checks SMP, the command line, system calls
 * from user space (test/guests-linux/syscall-test), a virtio-blk disk
 * formatted and written by the guest, and --exec status propagation with
 * the console on virtio-console (hvc0); a
 * second checks that a kernel panic ends tkvm with a non-zero status.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireKvm, runTkvm, REPO_ROOT } from '../testing/kvm.js';
import { initramfsWith, withLibraries } from '../testing/initramfs.js';
import { ensureDefaultGuest } from '../testing/default-guest.js';

const BOOT_TIMEOUT_MS = 12 * 60_000;
const SYSCALL_TEST = path.join(REPO_ROOT, 'test/guests-linux/build/syscall-test');

function buildSyscallTest(): void {
  execFileSync('make', ['-s', '-C', path.join(REPO_ROOT, 'test/guests-linux')], { stdio: 'inherit' });
}

test('Linux: SMP, cmdline, system calls, ext4 on virtio-blk, and --exec status over virtio-console', { timeout: BOOT_TIMEOUT_MS + 20 * 60_000 }, async (t) => {
  if (!requireKvm(t)) return;
  const guest = await ensureDefaultGuest();
  buildSyscallTest();
  const work = mkdtempSync(path.join(tmpdir(), 'tkvm-linux-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const initrd = path.join(work, 'initramfs.cpio');
  writeFileSync(initrd, initramfsWith(guest.initrd, [
    { guestPath: '/opt/tkvm/syscall-test', hostPath: SYSCALL_TEST },
    ...withLibraries('/opt/tkvm/mke2fs', '/sbin/mke2fs'),
  ]));
  const disk = path.join(work, 'disk.img');
  writeFileSync(disk, Buffer.alloc(32 << 20));

  const script = [
    'echo "nproc=$(nproc)"',
    'echo "cmdline=$(cat /proc/cmdline)"',
    '/opt/tkvm/syscall-test',
    'mkdir -p /mnt',
    '/opt/tkvm/mke2fs -q -t ext4 -F /dev/vda && mount -t ext4 /dev/vda /mnt && echo tkvm-e2e-data > /mnt/hello.txt && sync && umount /mnt && echo "ext4=done"',
    'exit 5',
  ].join('; ');
  // On virtio-console (hvc0): the exit status travels through the kit's protocol on that console too.
  const r = await runTkvm(['run', '--net', 'none', '--cpus', '2', '--mem', '256M', '--console', 'virtio', '--initrd', initrd, '--disk', `${disk},serial=e2e`, '--exec', script], { timeoutMs: BOOT_TIMEOUT_MS });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.match(r.stdout, /^nproc=2$/m, out);
  assert.match(r.stdout, /^cmdline=.*console=hvc0.*tkvm\.exec=/m, out);
  assert.match(r.stdout, /syscall-test: all ok/, out);
  assert.match(r.stdout, /^ext4=done$/m, out);
  assert.equal(r.status, 5, out);
  // The host reads the file back from the image the guest formatted.
  if (existsSync('/sbin/debugfs')) {
    const content = execFileSync('/sbin/debugfs', ['-R', 'cat /hello.txt', disk], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(content.trim(), 'tkvm-e2e-data');
  } else assert.fail('debugfs (e2fsprogs) is needed to read the guest-written image');
});

test('Linux: a guest kernel panic ends tkvm with a non-zero status and the panic text visible', { timeout: BOOT_TIMEOUT_MS + 20 * 60_000 }, async (t) => {
  if (!requireKvm(t)) return;
  await ensureDefaultGuest();
  const r = await runTkvm(['run', '--net', 'none', '--exec', 'echo c > /proc/sysrq-trigger'], { timeoutMs: BOOT_TIMEOUT_MS });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 10, out);
  assert.match(out, /Kernel panic|sysrq: Trigger a crash/, out);
});
