/**
 * virtio-9p end to end with the default guest kit (one boot: minutes on a
 * PVM host). Two shares of one temporary directory tree, one read-write
 * and one `ro`: the guest's init mounts them at /mnt/TAG; the guest writes
 * a file, reads a host file, lists a directory, and a write to the ro
 * share fails with EROFS. One guest command line, few forks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { requireKvm, runTkvm } from '../testing/kvm.js';
import { ensureDefaultGuest } from '../testing/default-guest.js';

const BOOT_TIMEOUT_MS = 12 * 60_000;

test('Linux: --share mounts at /mnt/TAG; guest writes, reads and lists; ro gives EROFS', { timeout: BOOT_TIMEOUT_MS + 20 * 60_000 }, async (t) => {
  if (!requireKvm(t)) return;
  await ensureDefaultGuest();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-9p-boot-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rw = path.join(dir, 'rw');
  const ro = path.join(dir, 'ro');
  fs.mkdirSync(path.join(rw, 'sub'), { recursive: true });
  fs.mkdirSync(ro);
  const secret = `host-file-${randomBytes(6).toString('hex')}`;
  fs.writeFileSync(path.join(rw, 'host.txt'), `${secret}\n`);
  for (const n of ['alpha', 'beta']) fs.writeFileSync(path.join(rw, 'sub', n), '');
  fs.writeFileSync(path.join(ro, 'kept'), 'unchanged\n');
  const script = [
    'echo guest-wrote >/mnt/rw/new.txt',
    'cat /mnt/rw/host.txt',
    'echo "list=$(ls /mnt/rw/sub)"',
    'echo x >>/mnt/ro/kept',
    'echo "ro-status=$?"',
  ].join('; ');
  const r = await runTkvm(['run', '--net', 'none', '--share', `${rw},tag=rw`, '--share', `${ro},ro`, '--exec', script], { timeoutMs: BOOT_TIMEOUT_MS });
  const stdout = r.stdout.replace(/\r/g, '');
  const out = `${stdout}\n${r.stderr}`;
  assert.ok(stdout.includes(secret), `the guest read the host file\n${out}`);
  assert.match(stdout, /^list=alpha\s+beta$/m, `the guest listed the directory\n${out}`);
  assert.match(out, /Read-only file system/, `the ro share refused the write\n${out}`);
  assert.match(stdout, /^ro-status=[1-9]/m, out);
  assert.equal(r.status, 0, out);
  assert.equal(fs.readFileSync(path.join(rw, 'new.txt'), 'utf8'), 'guest-wrote\n', out);
  assert.equal(fs.readFileSync(path.join(ro, 'kept'), 'utf8'), 'unchanged\n');
});
