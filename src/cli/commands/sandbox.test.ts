import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UsageError } from '../../util/errors.js';
import { guestCmdline } from './run.js';
import { CWD_TAG, parseSandboxArgs, ROOT_TAG, sandboxCommand, type SandboxCaller } from './sandbox.js';

const caller: SandboxCaller = { cwd: '/home/me/src', uid: 1000, gid: 1000, groups: [1000, 27, 100], env: { PATH: '/usr/bin:/bin', HOME: '/home/me', LANG: 'C.UTF-8', SECRET: 'x' } };

test('sandbox: the host root read-only and the cwd read-write as shares, the command after --', () => {
  const { run, argv } = parseSandboxArgs(['--cpus', '2', '--mem', '1G', '--net', 'none', '--', 'make', '-j2'], caller);
  assert.deepEqual(argv, ['make', '-j2']);
  assert.deepEqual(run.shares, [{ hostPath: '/', tag: ROOT_TAG, readOnly: true }, { hostPath: '/home/me/src', tag: CWD_TAG, readOnly: false }]);
  assert.equal(run.cpus, 2);
  assert.equal(run.memBytes, 1 << 30);
  assert.deepEqual(run.nics, []);
  assert.equal(run.kernelPath, undefined, 'always the default guest kit');
  const cmdline = guestCmdline(run);
  assert.match(cmdline, /^console=ttyS0 reboot=k panic=1 quiet tkvm\.exec=\S+ tkvm\.root=root tkvm\.workdir=cwd,(\S+) tkvm\.user=1000:1000:27,100$/);
  assert.equal(Buffer.from(/tkvm\.workdir=cwd,(\S+)/.exec(cmdline)![1]!, 'base64').toString(), '/home/me/src');
});

test('sandbox: as root no tkvm.user; from / nothing is shared read-write', () => {
  const { run } = parseSandboxArgs(['--', 'true'], { ...caller, uid: 0, gid: 0, groups: [0], cwd: '/' });
  assert.deepEqual(run.shares, [{ hostPath: '/', tag: ROOT_TAG, readOnly: true }]);
  const cmdline = guestCmdline(run);
  assert.doesNotMatch(cmdline, /tkvm\.user=|tkvm\.workdir=/);
});

test('sandbox --share: another 9p share, mounted at its host path inside the root (tkvm.bind)', (t) => {
  const top = realpathSync(mkdtempSync(path.join(tmpdir(), 'tkvm-sandbox-share-')));
  t.after(() => rmSync(top, { recursive: true, force: true }));
  for (const dir of ['src', 'data', 'scratch']) mkdirSync(path.join(top, dir));
  const { run } = parseSandboxArgs(['--share', '../data,tag=data,ro', '--share', `${top}/scratch`, '--', 'ls'], { ...caller, cwd: `${top}/src` });
  assert.deepEqual(run.shares?.slice(2), [{ hostPath: `${top}/data`, tag: 'data', readOnly: true }, { hostPath: `${top}/scratch`, tag: 'scratch', readOnly: false }]);
  const binds = [...guestCmdline(run).matchAll(/tkvm\.bind=(\w+),(\S+)/g)].map((m) => [m[1], Buffer.from(m[2]!, 'base64').toString()]);
  assert.deepEqual(binds, [['data', `${top}/data`], ['scratch', `${top}/scratch`]]);
  for (const [args, message] of [[['--share', `${top}/data,tag=root`], /the sandbox's own/], [['--share', `${top}/data,tag=cwd`], /the sandbox's own/], [['--share', '/,tag=all'], /host root writable/]] as const) {
    assert.throws(() => parseSandboxArgs([...args, '--', 'ls'], caller), (e: unknown) => e instanceof UsageError && message.test(e.message));
  }
});

test('sandbox usage errors: no --, nothing after it, run-only flags', () => {
  for (const [args, message] of [
    [[], /needs a command/], [['ls'], /put the command after --/], [['--'], /needs a command after --/],
    [['--kernel', 'x', '--', 'ls'], /unknown option '--kernel'/], [['--cpus', '0', '--', 'ls'], /--cpus must be/],
  ] as const) {
    assert.throws(() => parseSandboxArgs([...args], caller), (e: unknown) => e instanceof UsageError && message.test(e.message) && e.message.startsWith('sandbox: '));
  }
});

test('the sandbox command string, run by a real sh with an empty environment, passes every argument unchanged', () => {
  const dir = realpathSync(mkdtempSync(path.join(tmpdir(), "tkvm sandbox 'q' ")));
  try {
    const args = ['printf', '%s|', "it's", 'a  b', '$HOME', '*', 'line\nbreak', ''];
    const script = sandboxCommand(args, { ...caller, cwd: dir, env: { PATH: '/usr/bin:/bin', HOME: '/h o', TERM: 'dumb' } });
    const r = spawnSync('/bin/sh', ['-c', `${script.replace("exec 'printf'", 'printf "%s;" "$PWD" "$HOME" "$TERM" "${LANG-unset}" "${SECRET-unset}"; exec printf')}`], { encoding: 'utf8', env: {} });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${dir};/h o;dumb;unset;unset;it's|a  b|$HOME|*|line\nbreak||`);
    const missing = spawnSync('/bin/sh', ['-c', sandboxCommand(['true'], { ...caller, cwd: path.join(dir, 'gone') })], { encoding: 'utf8', env: {} });
    assert.equal(missing.status, 126, 'a working directory that does not exist in the guest: status 126');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
