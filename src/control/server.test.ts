import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ControlConnection, ControlError, callVm, listVms, scanVms } from './client.js';
import { FakeController } from './fake-controller.js';
import { ensureControlDir } from './paths.js';
import { ControlServer } from './server.js';
import { exchange, tempControlDir } from './fixtures.js';

test('every command round-trips between client and server', async () => {
  const tmp = tempControlDir();
  const fake = new FakeController();
  const server = await ControlServer.start({ name: 'vm1', controller: fake, dir: tmp.dir });
  try {
    const opts = { dir: tmp.dir };
    const info = await callVm('vm1', 'info', {}, opts);
    assert.deepEqual(info, { name: 'testvm', pid: 4242, cpus: 2, memBytes: 512 << 20, uptimeMs: 3_720_000, state: 'running' });
    assert.deepEqual(await callVm('vm1', 'list', {}, opts), [info]);
    assert.equal(await callVm('vm1', 'pause', {}, opts), null);
    assert.equal((await callVm('vm1', 'info', {}, opts)).state, 'paused');
    assert.equal(await callVm('vm1', 'resume', {}, opts), null);
    assert.equal((await callVm('vm1', 'info', {}, opts)).state, 'running');
    const debug = await callVm('vm1', 'debug', {}, opts);
    assert.equal(debug.length, 2);
    assert.equal(debug[0]?.regs.rip, '0xffffffff81000000');
    const stats = await callVm('vm1', 'stat', {}, opts);
    assert.equal(stats.vcpus[0]?.exits.io, 1200);
    assert.equal(stats.rssBytes, 96 << 20);
    await callVm('vm1', 'nmi', { cpu: 1 }, opts);
    await callVm('vm1', 'sysrq', { key: 't' }, opts);
    // A profile may take longer than the usual call timeout: as long as it samples.
    fake.delays.profile = 300;
    const profile = await callVm('vm1', 'perf', { durationMs: 250, frequencyHz: 50 }, { ...opts, timeoutMs: 5000 });
    assert.deepEqual([profile.durationMs, profile.frequencyHz, profile.samples.length], [250, 50, 3]);
    assert.deepEqual(fake.profiles, [[250, 50]]);
    const snap = await callVm('vm1', 'snapshot', { dir: '/tmp/vm1-snap', after: 'resume' }, opts);
    assert.deepEqual([snap.dir, snap.dataPages, snap.memoryBytes], ['/tmp/vm1-snap', 1024, 512 << 20]);
    assert.deepEqual(fake.snapshots, [['/tmp/vm1-snap', 'resume']]);
    await callVm('vm1', 'stop', {}, opts);
    await callVm('vm1', 'stop', { force: true }, opts);
    assert.deepEqual(fake.nmis, [1]);
    assert.deepEqual(fake.sysrqKeys, ['t']);
    assert.deepEqual(fake.stopRequests, [false, true]);
    assert.deepEqual(fake.calls, { info: 4, stop: 2, pause: 1, resume: 1, debug: 1, stats: 1, injectNmi: 1, sendSysrq: 1, profile: 1, attachConsole: 0, writeConsole: 0, snapshot: 1 });
  } finally {
    await server.close();
    tmp.cleanup();
  }
});

test('controller errors come back as one-line error replies with the VMM code', async () => {
  const tmp = tempControlDir();
  const fake = new FakeController();
  fake.failures.pause = Object.assign(new Error('vCPU 1 did not park\nstack...'), { code: 'ERR_PAUSE_FAILED' });
  fake.failures.resume = new Error('plain failure');
  fake.failures.info = new TypeError('boom');
  const server = await ControlServer.start({ name: 'vm1', controller: fake, dir: tmp.dir });
  try {
    await assert.rejects(callVm('vm1', 'pause', {}, { dir: tmp.dir }), { code: 'ERR_PAUSE_FAILED', message: 'vCPU 1 did not park' });
    await assert.rejects(callVm('vm1', 'resume', {}, { dir: tmp.dir }), { code: 'ERR_VM_ERROR', message: 'plain failure' });
    await assert.rejects(callVm('vm1', 'info', {}, { dir: tmp.dir }), { code: 'ERR_VM_ERROR', message: 'boom' });
  } finally {
    await server.close();
    tmp.cleanup();
  }
});

test('raw protocol: pipelined requests, bad lines, blank lines and half-close', async () => {
  const tmp = tempControlDir();
  const server = await ControlServer.start({ name: 'raw', controller: new FakeController(), dir: tmp.dir });
  try {
    const replies = (await exchange(server.path,
      '{"v":1,"id":1,"cmd":"info"}\r\n\n   \n{"v":1,"id":2,"cmd":"bogus"}\nnot json\n{"v":1,"id":3,"cmd":"pause"}\n'))
      .map((l) => JSON.parse(l));
    assert.equal(replies.length, 4);
    const byId = new Map(replies.map((r) => [r.id, r]));
    assert.equal(byId.get(1).result.pid, 4242);
    assert.equal(byId.get(2).error.code, 'ERR_UNKNOWN_COMMAND');
    assert.equal(byId.get(null).error.code, 'ERR_BAD_JSON');
    assert.equal(byId.get(3).ok, true);
    for (const r of replies) assert.equal(r.v, 1);

    const big = await exchange(server.path, 'x'.repeat(70 * 1024) + '\n{"v":1,"id":9,"cmd":"info"}\n');
    assert.deepEqual(big.map((l) => JSON.parse(l).error?.code), ['ERR_MESSAGE_TOO_LARGE'], 'oversized line: one error, then closed');
  } finally {
    await server.close();
    tmp.cleanup();
  }
});

test('close() removes the socket file and refuses new connections', async () => {
  const tmp = tempControlDir();
  const server = await ControlServer.start({ name: 'gone', controller: new FakeController(), dir: tmp.dir });
  assert.ok(lstatSync(server.path).isSocket());
  await server.close();
  assert.ok(!existsSync(server.path));
  await assert.rejects(callVm('gone', 'info', {}, { dir: tmp.dir }), {
    code: 'ERR_NO_SUCH_VM', message: 'no VM named gone (see tkvm list)',
  });
  tmp.cleanup();
});

test('a second server with the same name is refused; the first keeps working', async () => {
  const tmp = tempControlDir();
  const first = await ControlServer.start({ name: 'dup', controller: new FakeController(), dir: tmp.dir });
  try {
    await assert.rejects(ControlServer.start({ name: 'dup', controller: new FakeController(), dir: tmp.dir }), {
      code: 'ERR_VM_NAME_IN_USE',
      message: /a VM named dup is already running \(pid 4242\)/,
    });
    assert.equal((await callVm('dup', 'info', {}, { dir: tmp.dir })).pid, 4242);
    writeFileSync(join(tmp.dir, 'file.sock'), 'not a socket');
    await assert.rejects(ControlServer.start({ name: 'file', controller: new FakeController(), dir: tmp.dir }), {
      code: 'ERR_CONTROL_SOCKET',
    });
  } finally {
    await first.close();
    tmp.cleanup();
  }
});

/** Leaves a socket file nobody listens on: a child binds it and is SIGKILLed. */
async function makeStaleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(process.argv[1], () => console.log('ready'))`, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  assert.ok(lstatSync(path).isSocket(), 'the killed child left its socket file behind');
}

test('list shows running VMs and removes stale sockets; a stale name can be reused', async () => {
  const tmp = tempControlDir();
  ensureControlDir(tmp.dir);
  const live = await ControlServer.start({ name: 'alive', controller: new FakeController(), dir: tmp.dir });
  try {
    await makeStaleSocket(join(tmp.dir, 'dead.sock'));
    await makeStaleSocket(join(tmp.dir, 'reuse.sock'));
    writeFileSync(join(tmp.dir, 'notes.txt'), 'ignored');
    const vms = await listVms(tmp.dir);
    assert.deepEqual(vms.map((vm) => vm.pid), [4242]);
    assert.ok(!existsSync(join(tmp.dir, 'dead.sock')), 'stale socket removed by list');
    assert.ok(existsSync(join(tmp.dir, 'notes.txt')), 'other files are left alone');
    assert.deepEqual((await scanVms({ dir: tmp.dir })).map((l) => [l.name, l.status]), [['alive', 'running']]);

    await makeStaleSocket(join(tmp.dir, 'reuse.sock'));
    const reused = await ControlServer.start({ name: 'reuse', controller: new FakeController(), dir: tmp.dir });
    assert.equal((await callVm('reuse', 'info', {}, { dir: tmp.dir })).pid, 4242);
    await reused.close();
  } finally {
    await live.close();
    tmp.cleanup();
  }
  assert.deepEqual(await listVms(join(tmp.base, 'missing')), [], 'a missing control directory means no VMs');
});

test('a slow controller call is answered ERR_TIMEOUT in ~100 ms while other requests are served', async () => {
  const tmp = tempControlDir();
  const fake = new FakeController();
  fake.delays.debug = 5000;
  fake.delays.pause = 60; // slow but within the limit
  const server = await ControlServer.start({ name: 'slow', controller: fake, dir: tmp.dir });
  try {
    const connection = await ControlConnection.open(server.path);
    const other = await ControlConnection.open(server.path);
    const started = performance.now();
    const slow = connection.call('debug', {}).then(
      () => assert.fail('debug should time out'),
      (err: ControlError) => ({ err, elapsed: performance.now() - started }),
    );
    // While debug hangs: the same connection and another one get prompt replies.
    const infoStart = performance.now();
    await connection.call('info', {});
    await other.call('info', {});
    assert.ok(performance.now() - infoStart < 50, 'info answered while debug is pending');
    await other.call('pause', {});
    const { err, elapsed } = await slow;
    assert.equal(err.code, 'ERR_TIMEOUT');
    assert.ok(elapsed >= 95 && elapsed < 150, `timed out after ${elapsed.toFixed(1)} ms`);
    assert.equal(fake.state, 'paused');
    connection.close();
    other.close();
  } finally {
    await server.close();
    tmp.cleanup();
  }
});

test('clients that disconnect mid-request do not disturb the server', async () => {
  const tmp = tempControlDir();
  const fake = new FakeController();
  fake.delays.stats = 30;
  const server = await ControlServer.start({ name: 'drop', controller: fake, dir: tmp.dir });
  try {
    await Promise.all(Array.from({ length: 50 }, (_, i) => new Promise<void>((resolve) => {
      const socket = connect({ path: server.path });
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      socket.write(i % 2 ? '{"v":1,"id":1,"cmd":"stat"}\n' : '{"v":1,"id":1,"cm');
      setTimeout(() => socket.destroy(), i % 3 ? 0 : 10);
    })));
    await new Promise((resolve) => setTimeout(resolve, 60)); // let the stats calls finish
    assert.equal((await callVm('drop', 'info', {}, { dir: tmp.dir })).pid, 4242);
    // Every connection, including the one callVm just closed, is released.
    for (let waited = 0; server.connectionCount > 0 && waited < 1000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(server.connectionCount, 0);
  } finally {
    await server.close();
    tmp.cleanup();
  }
});

test('the control directory is 0700 and the socket 0600; another user cannot connect', async (t) => {
  const tmp = tempControlDir();
  const server = await ControlServer.start({ name: 'private', controller: new FakeController(), dir: tmp.dir });
  try {
    assert.equal(statSync(tmp.dir).mode & 0o777, 0o700);
    assert.equal(lstatSync(server.path).mode & 0o777, 0o600);
    if (process.getuid?.() !== 0) {
      t.diagnostic('not root: cannot run a process as another user, so only the modes are checked');
      return;
    }
    const connectAs = (uid: number): Promise<string> => new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', `
        const s = require('net').connect(process.argv[1]);
        s.on('connect', () => { console.log('CONNECTED'); process.exit(0); });
        s.on('error', (e) => { console.log(e.code); process.exit(0); });`, server.path], { uid, gid: uid, cwd: '/', stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('exit', () => resolve(out.trim()));
    });
    const nobody = 65534;
    assert.equal(await connectAs(nobody), 'EACCES', 'the 0700 directory keeps other users out');
    // Open the directories: the 0600 socket alone still refuses them.
    const { chmodSync } = await import('node:fs');
    chmodSync(tmp.base, 0o755);
    chmodSync(tmp.dir, 0o755);
    assert.equal(await connectAs(nobody), 'EACCES', 'the 0600 socket keeps other users out');
    // Control experiment: with a world-writable socket the same child does connect.
    chmodSync(server.path, 0o666);
    assert.equal(await connectAs(nobody), 'CONNECTED');
  } finally {
    await server.close();
    tmp.cleanup();
  }
});
