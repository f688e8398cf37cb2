/**
 * guest/init's command-line handling, run with the host's shells: the
 * script is sourced with TKVM_INIT_LIBRARY_ONLY=1 (functions only), in a
 * scratch directory, with fake mount/poweroff/setsid first in PATH that
 * record any call, so nothing on the host is touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultKitDir } from './kit.js';

const INIT = join(defaultKitDir(), 'init');

/** Shells to run the script with: the host's sh, and busybox (the guest's shell) when installed. */
const SHELLS: { name: string; argv: string[] }[] = [{ name: '/bin/sh', argv: ['/bin/sh'] }];
if (existsSync('/bin/busybox')) SHELLS.push({ name: 'busybox sh', argv: ['/bin/busybox', 'sh'] });

interface Sandbox {
  dir: string;
  console: string;
  calls: string;
  run(shell: string[], functionCall: string[], env?: Record<string, string>): { status: number | null; stdout: string; stderr: string };
  cleanup(): void;
}

function sandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'tkvm-init-'));
  const fakeBin = join(dir, 'fake-bin');
  mkdirSync(fakeBin);
  const calls = join(dir, 'calls');
  for (const name of ['mount', 'poweroff', 'setsid', 'cttyhack', 'sync']) {
    writeFileSync(join(fakeBin, name), `#!/bin/sh\necho "${name} $*" >> '${calls}'\n`);
    chmodSync(join(fakeBin, name), 0o755);
  }
  return {
    dir,
    console: join(dir, 'console'),
    calls,
    run(shell, functionCall, env = {}) {
      const result = spawnSync(shell[0]!, [...shell.slice(1), '-c', '. "$1"; shift; "$@"', 'sh', INIT, ...functionCall], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 10_000,
        env: { PATH: `${fakeBin}:/usr/bin:/bin`, HOME: dir, TKVM_INIT_LIBRARY_ONLY: '1', LC_ALL: 'C', ...env },
      });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

const STATIC_CMDLINE = 'console=ttyS0 * tkvm.ip=eth0,10.0.0.2/24,10.0.0.1 tkvm.ip=eth1,10.1.0.2/16 tkvm.ip=bogus quiet';

for (const shell of SHELLS) {
  test(`${shell.name}: sourcing init only defines functions and prints the start marker first`, () => {
    const box = sandbox();
    try {
      const result = box.run(shell.argv, ['true']);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, 'TKVM_INIT_START\n');
      assert.equal(existsSync(box.calls), false, 'init mounted or powered off while sourced');
    } finally {
      box.cleanup();
    }
  });

  test(`${shell.name}: tkvm_exec_arg finds tkvm.exec= among other parameters, without globbing`, () => {
    const box = sandbox();
    try {
      writeFileSync(join(box.dir, 'decoy'), '');
      const found = box.run(shell.argv, ['tkvm_exec_arg', `console=ttyS0 * panic=1 tkvm.exec=${base64('ls')} quiet`]);
      assert.equal(found.status, 0);
      assert.equal(found.stdout, `TKVM_INIT_START\n${base64('ls')}`);
      const absent = box.run(shell.argv, ['tkvm_exec_arg', 'console=ttyS0 tkvm.execute=x notkvm.exec=y']);
      assert.equal(absent.status, 1);
      assert.equal(absent.stdout, 'TKVM_INIT_START\n');
    } finally {
      box.cleanup();
    }
  });

  test(`${shell.name}: tkvm_static_ips reads the tkvm.ip= words of a command line`, () => {
    const box = sandbox();
    try {
      const parsed = box.run(shell.argv, ['tkvm_static_ips', STATIC_CMDLINE]);
      assert.equal(parsed.status, 0, parsed.stderr);
      assert.equal(parsed.stdout, 'TKVM_INIT_START\neth0 10.0.0.2/24 10.0.0.1\neth1 10.1.0.2/16 \n');
    } finally {
      box.cleanup();
    }
  });

  test(`${shell.name}: tkvm_run_exec runs the decoded command and reports its exit status on the console`, () => {
    const box = sandbox();
    try {
      const command = `printf '%s|' "two words" 'it''s'; echo; echo "to stderr" >&2; exit 3`;
      const result = box.run(shell.argv, ['tkvm_run_exec', base64(command), box.console]);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, "TKVM_INIT_START\ntwo words|its|\n");
      assert.equal(result.stderr, 'to stderr\n');
      assert.equal(readFileSync(box.console, 'utf8'), 'TKVM_EXIT_STATUS=3\n');

      const multiLine = box.run(shell.argv, ['tkvm_run_exec', base64('x=41\necho $((x + 1))\n'), box.console]);
      assert.equal(multiLine.stdout, 'TKVM_INIT_START\n42\n');
      assert.equal(readFileSync(box.console, 'utf8'), 'TKVM_EXIT_STATUS=0\n');
    } finally {
      box.cleanup();
    }
  });

  test(`${shell.name}: an undecodable or empty tkvm.exec= reports status 126`, () => {
    const box = sandbox();
    try {
      for (const encoded of ['%%%not-base64%%%', '']) {
        rmSync(box.console, { force: true });
        const result = box.run(shell.argv, ['tkvm_run_exec', encoded, box.console]);
        assert.equal(result.status, 0);
        assert.match(result.stderr, /not a valid base64 command/);
        assert.equal(readFileSync(box.console, 'utf8'), 'TKVM_EXIT_STATUS=126\n');
      }
    } finally {
      box.cleanup();
    }
  });

  test(`${shell.name}: tkvm_run_exec puts the command on the tkvm.std* ports, found by name, byte for byte`, () => {
    const box = sandbox();
    try {
      // A fake /sys/class/virtio-ports and /dev: a plain console port without a name, and the three named ones.
      const cls = join(box.dir, 'class');
      const dev = join(box.dir, 'dev');
      mkdirSync(dev);
      mkdirSync(join(cls, 'vport0p0'), { recursive: true });
      for (const [port, name] of [['vport3p0', 'tkvm.stdin'], ['vport3p1', 'tkvm.stdout'], ['vport3p2', 'tkvm.stderr']] as const) {
        mkdirSync(join(cls, port), { recursive: true });
        writeFileSync(join(cls, port, 'name'), `${name}\n`);
      }
      const input = Buffer.from([0x68, 0x69, 0x0a, 0x00, 0xfe]);
      writeFileSync(join(dev, 'vport3p0'), input);
      const command = `cat; printf 'a\\nb\\r\\n\\0\\377'; echo err >&2; exit 4`;
      const result = box.run(shell.argv, ['tkvm_run_exec', base64(command), box.console], { TKVM_PORTS_CLASS: cls, TKVM_PORTS_DEV: dev });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, 'TKVM_INIT_START\n', 'nothing on init\'s own stdout');
      assert.deepEqual(readFileSync(join(dev, 'vport3p1')), Buffer.concat([input, Buffer.from([0x61, 0x0a, 0x62, 0x0d, 0x0a, 0x00, 0xff])]));
      assert.equal(readFileSync(join(dev, 'vport3p2'), 'utf8'), 'err\n');
      assert.equal(readFileSync(box.console, 'utf8'), 'TKVM_EXIT_STATUS=4\n');
    } finally {
      box.cleanup();
    }
  });

  test(`${shell.name}: tkvm_exec_arg reads other tkvm. parameters by name`, () => {
    const box = sandbox();
    try {
      const found = box.run(shell.argv, ['tkvm_exec_arg', 'tkvm.exec=abc tkvm.root=root tkvm.user=1000:1000:4,27', 'tkvm.user']);
      assert.equal(found.stdout, 'TKVM_INIT_START\n1000:1000:4,27');
      assert.equal(box.run(shell.argv, ['tkvm_exec_arg', 'tkvm.rooted=x', 'tkvm.root']).status, 1);
    } finally {
      box.cleanup();
    }
  });
}

// Only with /bin/sh: busybox sh runs its own ip and ifconfig applets before
// PATH, so the fakes would not be reached. And in a network namespace of
// its own (unshare -rn), so that nothing it runs can touch the host's.
test('/bin/sh: tkvm_network_start sets tkvm.ip= addresses with ip and runs no DHCP on a static eth0', () => {
  const box = sandbox();
  try {
    const fakeBin = join(box.dir, 'fake-bin');
    for (const name of ['ip', 'ifconfig', 'udhcpc']) {
      writeFileSync(join(fakeBin, name), `#!/bin/sh\necho "${name} $*" >> '${box.calls}'\n`);
      chmodSync(join(fakeBin, name), 0o755);
    }
    const result = box.run(['unshare', '-rn', '/bin/sh'], ['tkvm_network_start', STATIC_CMDLINE]);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(readFileSync(box.calls, 'utf8').trim().split('\n'), [
      'ifconfig lo 127.0.0.1 up',
      'ip link set eth0 up', 'ip addr add 10.0.0.2/24 dev eth0', 'ip route add default via 10.0.0.1 dev eth0',
      'ip link set eth1 up', 'ip addr add 10.1.0.2/16 dev eth1',
    ]);
  } finally {
    box.cleanup();
  }
});
