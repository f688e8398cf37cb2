import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CMDLINE, guestCmdline, parseRunArgs, runCommand } from './run.js';
import { UsageError } from '../../util/errors.js';

function assertUsageError(argv: string[], expected: RegExp): void {
  assert.throws(
    () => parseRunArgs(argv),
    (error: unknown) => {
      assert.ok(error instanceof UsageError, `${JSON.stringify(argv)}: expected UsageError, got ${String(error)}`);
      assert.equal(error.exitCode, 2);
      assert.equal(error.code, 'ERR_USAGE');
      assert.ok(!/[\r\n]/.test(error.message), `one line: ${JSON.stringify(error.message)}`);
      assert.match(error.message, /^run: /);
      assert.match(error.message, /\(see tkvm help run\)$/);
      assert.match(error.message, expected, JSON.stringify(argv));
      return true;
    },
  );
}

const K = ['--kernel', 'vmlinux'];

describe('parseRunArgs', () => {
  it('applies the defaults', () => {
    assert.deepEqual(parseRunArgs(K), {
      kernelPath: 'vmlinux',
      exec: undefined,
      compat: 'auto',
      disks: [],
      nics: [],
      shares: [],
      rng: false,
      console: 'serial',
      initrdPath: undefined,
      cmdline: DEFAULT_CMDLINE,
      cpus: 1,
      memBytes: 512 * 1024 * 1024,
      name: undefined,
      testDevices: false,
      debugExit: false,
      reportTiming: false,
      logLevel: undefined,
    });
    assert.equal(DEFAULT_CMDLINE, 'console=ttyS0 reboot=k panic=1');
  });

  it('takes every flag, in both --flag value and --flag=value forms', () => {
    const config = parseRunArgs([
      '--kernel=bzImage', '--initrd', 'initrd.img', '--cmdline', 'console=ttyS0 quiet', '--cpus', '2',
      '--mem=1.5G', '--name', 'web-1.test_a', '--test-devices', '--report-timing', '--log-level', 'debug',
      '--exec', 'echo hi', '--compat', 'pvm', '--disk', 'a.img', '--disk', 'b.img,ro,serial=disk-2', '--rng', '--console', 'virtio',
      '--net', 'user,mac=52:54:00:00:00:01', '--port=8080:80', '--share', '/tmp,tag=t,ro',
    ]);
    assert.deepEqual(config, {
      kernelPath: 'bzImage',
      exec: 'echo hi',
      compat: 'pvm',
      disks: [{ path: 'a.img', readOnly: false }, { path: 'b.img', readOnly: true, serial: 'disk-2' }],
      nics: [{ backend: 'user', mac: '52:54:00:00:00:01', ports: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 8080, guestPort: 80 }], dns: true }],
      shares: [{ hostPath: '/tmp', tag: 't', readOnly: true }],
      rng: true,
      console: 'virtio',
      initrdPath: 'initrd.img',
      cmdline: 'console=ttyS0 quiet',
      cpus: 2,
      memBytes: 1536 * 1024 * 1024,
      name: 'web-1.test_a',
      testDevices: true,
      debugExit: true,
      reportTiming: true,
      logLevel: 'debug',
    });
  });

  it('--debug-exit alone, and implied by --test-devices', () => {
    assert.equal(parseRunArgs(K).debugExit, false);
    assert.equal(parseRunArgs([...K, '--debug-exit']).debugExit, true);
    assert.equal(parseRunArgs([...K, '--test-devices']).debugExit, true);
  });

  it('accepts an empty command line and option-like values written with =', () => {
    assert.equal(parseRunArgs([...K, '--cmdline=']).cmdline, '');
    assert.equal(parseRunArgs([...K, '--cmdline=-x']).cmdline, '-x');
    assert.equal(parseRunArgs(['--kernel', '-']).kernelPath, '-');
  });

  it('accepts the limits of --cpus and --mem', () => {
    assert.equal(parseRunArgs([...K, '--cpus', '255']).cpus, 255);
    assert.equal(parseRunArgs([...K, '--cpus', '001']).cpus, 1);
    assert.equal(parseRunArgs([...K, '--mem', '16M']).memBytes, 16 * 1024 * 1024);
    assert.equal(parseRunArgs([...K, '--mem', '1T']).memBytes, 1024 ** 4);
    assert.equal(parseRunArgs([...K, '--mem', String(16 * 1024 * 1024 + 4096)]).memBytes, 16 * 1024 * 1024 + 4096);
  });

  it('boots the default guest kit without --kernel, and refuses empty values', () => {
    assert.equal(parseRunArgs([]).kernelPath, undefined);
    assert.equal(parseRunArgs(['--cpus', '2']).kernelPath, undefined);
    assertUsageError(['--kernel='], /--kernel needs a file name/);
    assertUsageError(['--exec='], /--exec needs a command/);
    assertUsageError(['--compat', 'kvm'], /--compat must be one of auto, none, pvm/);
    assertUsageError(['--disk', ',ro'], /--disk needs a path/);
    assertUsageError(['--disk', 'a.img,rx'], /--disk option 'rx' is not one of/);
    assertUsageError(['--disk', 'a.img,serial=' + 'x'.repeat(21)], /--disk serial must be 1 to 20/);
    assertUsageError(['--console', 'vga'], /--console must be serial or virtio/);
    assertUsageError([...K, '--initrd='], /--initrd needs a file name/);
  });

  it('rejects unknown flags, short flags and positionals', () => {
    assertUsageError([...K, '--bogus'], /unknown option '--bogus'/);
    assertUsageError([...K, '--bogus=1'], /unknown option '--bogus'/);
    assertUsageError([...K, '-k', 'x'], /unknown option '-k'/);
    assertUsageError([...K, '--Kernel', 'x'], /unknown option '--Kernel'/);
    assertUsageError([...K, '--__proto__'], /unknown option '--__proto__'/);
    assertUsageError([...K, 'extra'], /unexpected argument 'extra'/);
    assertUsageError([...K, '--', '--cpus'], /unexpected argument '--cpus'/);
  });

  it('rejects missing values, values for switches and repeated flags', () => {
    assertUsageError(['--kernel'], /option '--kernel' needs a value/);
    assertUsageError([...K, '--mem'], /option '--mem' needs a value/);
    assertUsageError(['--kernel', '--cpus', '2'], /option '--kernel' needs a value .*'--cpus'/);
    assertUsageError([...K, '--test-devices=yes'], /option '--test-devices' does not take a value/);
    assertUsageError([...K, '--report-timing=1'], /option '--report-timing' does not take a value/);
    assertUsageError([...K, '--cpus', '1', '--cpus=2'], /option '--cpus' given more than once/);
    assertUsageError([...K, '--kernel', 'other'], /option '--kernel' given more than once/);
  });

  it('rejects --cpus outside 1..255 or not a whole number', () => {
    for (const cpus of ['0', '256', '1000', '-1', '1.0', '1.5', '2x', '', ' 2', '0x2', '1e1', 'NaN', 'Infinity', '٢']) {
      assertUsageError([...K, `--cpus=${cpus}`], /--cpus must be a whole number from 1 to 255/);
    }
  });

  it('rejects bad, too small, too large and unaligned --mem', () => {
    for (const mem of ['', 'lots', '-512M', '512X', '1.3K', '0x100000']) {
      assertUsageError([...K, `--mem=${mem}`], /invalid --mem/);
    }
    for (const mem of ['0', '1M', '16777215', '15.5M']) {
      assertUsageError([...K, `--mem=${mem}`], /too small: the minimum is 16 MiB/);
    }
    for (const mem of ['1025G', '2T', '9007199254740991']) {
      assertUsageError([...K, `--mem=${mem}`], /too large: the maximum is 1 TiB/);
    }
    assertUsageError([...K, '--mem=99999999999999999999T'], /invalid --mem .*too large/);
    for (const mem of ['16777217', '16385K', '1048577K']) {
      assertUsageError([...K, `--mem=${mem}`], /not a multiple of the 4 KiB page size/);
    }
  });

  it('rejects VM names that are not path-safe', () => {
    for (const name of ['', '../x', 'a/b', '.hidden', '-x', 'has space', 'x'.repeat(65), 'tab\there', 'é']) {
      assertUsageError([...K, `--name=${name}`], /is not a valid VM name/);
    }
    assert.equal(parseRunArgs([...K, '--name', 'x'.repeat(64)]).name, 'x'.repeat(64));
  });

  it('rejects unknown log levels', () => {
    for (const level of ['', 'trace', 'WARN', 'verbose']) {
      assertUsageError([...K, `--log-level=${level}`], /--log-level must be one of error, warn, info, debug/);
    }
  });

  it('keeps messages on one line even when a value has control characters', () => {
    assertUsageError([...K, '--cpus', '1\n2'], /'1\\x0a2'/);
    assertUsageError([...K, '--mem', '\u001b[31m'], /'\\x1b\[31m'/);
  });
});

describe('guestCmdline', () => {
  it('passes --exec to the guest init as base64, quietly', () => {
    const request = parseRunArgs(['--exec', "echo 'a b'; exit 7"]);
    const cmdline = guestCmdline(request);
    const encoded = /tkvm\.exec=(\S+)/.exec(cmdline)?.[1];
    assert.ok(encoded);
    assert.equal(Buffer.from(encoded, 'base64').toString('utf8'), "echo 'a b'; exit 7");
    assert.ok(cmdline.startsWith(`${DEFAULT_CMDLINE} quiet `));
    assert.equal(guestCmdline(parseRunArgs([])), DEFAULT_CMDLINE);
  });

  it('passes a TAP NIC\'s static address to the init as tkvm.ip=ethN (the NIC\'s place in --net order)', () => {
    const request = parseRunArgs(['--net', 'user', '--net', 'tap=t0,ip=10.0.0.2/24,gw=10.0.0.1', '--net', 'tap,ip=10.1.0.2/16', '--exec', 'true']);
    assert.match(guestCmdline(request), new RegExp(`^${DEFAULT_CMDLINE} tkvm\\.ip=eth1,10\\.0\\.0\\.2/24,10\\.0\\.0\\.1 tkvm\\.ip=eth2,10\\.1\\.0\\.2/16 quiet tkvm\\.exec=`));
    assert.throws(() => parseRunArgs(['--kernel', 'k', '--net', 'tap,ip=10.0.0.2/24']), (e: Error) => e instanceof UsageError && /ip= is for the default guest kit/.test(e.message));
  });
});

describe('runCommand', () => {
  it('documents every flag in its usage', () => {
    for (const flag of ['--kernel', '--initrd', '--exec', '--cmdline', '--cpus', '--mem', '--name', '--test-devices', '--report-timing', '--log-level', '--compat', '--disk', '--rng', '--console']) {
      assert.ok(runCommand.usage.includes(flag), flag);
    }
    assert.ok(runCommand.usage.includes(DEFAULT_CMDLINE));
  });

  it('reports usage errors before starting anything', async () => {
    await assert.rejects(runCommand.run(['--cpus', '0']), UsageError);
  });
});
