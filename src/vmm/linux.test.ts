/**
 * End-to-end Linux boots of the default guest kit (few: on a PVM host each
 * boot takes minutes). One boot checks SMP, the command line, system calls
 * from user space (test/guests-linux/syscall-test), a virtio-blk disk
 * formatted and written by the guest, --exec status propagation with
 * the console on virtio-console (hvc0), and --exec's streams: stdout and
 * stderr byte-exact and apart, stdin forwarded up to its end; a
 * second checks that a kernel panic ends tkvm with a non-zero status.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { requireKvm, runTkvm, REPO_ROOT, CLI } from '../testing/kvm.js';
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
    // Byte-exact, separate streams: binary on stdout, text on stderr, stdin read to its end.
    'printf \'a\\nb\\r\\n\\0\\377\'',
    'echo',
    'echo to-stderr >&2',
    'echo "stdin=$(od -An -tx1 | tr -d \' \\n\')" >&2',
    'mkdir -p /mnt',
    '/opt/tkvm/mke2fs -q -t ext4 -F /dev/vda && mount -t ext4 /dev/vda /mnt && echo tkvm-e2e-data > /mnt/hello.txt && sync && umount /mnt && echo "ext4=done"',
    'exit 5',
  ].join('; ');
  // On virtio-console (hvc0): the exit status travels through the kit's protocol on that console too.
  const r = await runTkvmBytes(['run', '--net', 'none', '--cpus', '2', '--mem', '256M', '--console', 'virtio', '--initrd', initrd, '--disk', `${disk},serial=e2e`, '--exec', script], Buffer.from([0x00, 0x0a, 0xff, 0x0d]), BOOT_TIMEOUT_MS);
  const out = `${r.stdout.toString('latin1')}\n${r.stderr}`;
  // The exact bytes, with no CR added: the stream ports have no line discipline.
  assert.ok(r.stdout.includes(Buffer.from([0x6e, 0x70, 0x72, 0x6f, 0x63, 0x3d, 0x32, 0x0a])), out); // "nproc=2\n"
  assert.ok(r.stdout.includes(Buffer.from('syscall-test')), out);
  const exact = Buffer.from([0x61, 0x0a, 0x62, 0x0d, 0x0a, 0x00, 0xff]);
  assert.ok(r.stdout.includes(Buffer.concat([Buffer.from('\n'), exact])), `stdout lacks the exact bytes: ${r.stdout.toString('hex')}`);
  assert.equal(r.stdout.filter((b) => b === 0x0d).length, 1, 'the only CR is the one printf wrote');
  assert.match(r.stderr, /^to-stderr$/m, out);
  assert.equal(r.stdout.includes(Buffer.from('to-stderr')), false, 'stderr stays off stdout');
  assert.match(r.stderr, /^stdin=000aff0d$/m, 'stdin reached the command, up to its end');
  const stdout = r.stdout.toString('latin1');
  assert.match(stdout, /^nproc=2$/m, out);
  assert.match(stdout, /^cmdline=.*console=hvc0.*tkvm\.exec=/m, out);
  assert.match(stdout, /syscall-test: all ok/, out);
  assert.match(stdout, /^ext4=done$/m, out);
  assert.equal(r.status, 5, out);
  // The host reads the file back from the image the guest formatted.
  if (existsSync('/sbin/debugfs')) {
    const content = execFileSync('/sbin/debugfs', ['-R', 'cat /hello.txt', disk], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(content.trim(), 'tkvm-e2e-data');
  } else assert.fail('debugfs (e2fsprogs) is needed to read the guest-written image');
});

/** Runs the CLI with `input` on its stdin (then closed) and keeps stdout as bytes. */
function runTkvmBytes(args: string[], input: Buffer, timeoutMs: number): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(stdout), stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

test('Linux: a guest kernel panic ends tkvm with a non-zero status and the panic text visible', { timeout: BOOT_TIMEOUT_MS + 20 * 60_000 }, async (t) => {
  if (!requireKvm(t)) return;
  await ensureDefaultGuest();
  const r = await runTkvm(['run', '--net', 'none', '--exec', 'echo c > /proc/sysrq-trigger'], { timeoutMs: BOOT_TIMEOUT_MS });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 10, out);
  assert.match(out, /Kernel panic|sysrq: Trigger a crash/, out);
});
