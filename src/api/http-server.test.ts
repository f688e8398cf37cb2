/**
 * Black-box tests of the Firecracker-compatible API over its UNIX socket,
 * before boot (no KVM): every endpoint's success and validation answers,
 * the status-code rules, the payload limit and GET / before InstanceStart.
 * The post-boot half boots test guests: src/cli/commands/firecracker.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiServer } from './http-server.js';
import { Instance } from './instance.js';
import { api, faultOf } from '../testing/api-client.js';

let dir: string;
let sock: string;
let server: ApiServer;
let instance: Instance;
let kernel: string;
let disk: string;
let emptyDisk: string;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tkvm-api-'));
  sock = path.join(dir, 'api.sock');
  kernel = path.join(dir, 'vmlinux');
  writeFileSync(kernel, 'not really a kernel: PUT only checks that it opens');
  disk = path.join(dir, 'disk.img');
  writeFileSync(disk, Buffer.alloc(1 << 20));
  emptyDisk = path.join(dir, 'empty.img');
  writeFileSync(emptyDisk, '');
  instance = new Instance({ id: 'api-test' });
  server = await ApiServer.start({ socketPath: sock, instance, maxPayloadBytes: 1000 });
});

after(async () => {
  await server.close();
  instance.close();
  rmSync(dir, { recursive: true, force: true });
});

test('GET / answers 200 with the instance and state Not started; GET /version the API version', async () => {
  const res = await api(sock, 'GET', '/');
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { id: 'api-test', state: 'Not started', vmm_version: '1.16.0', app_name: 'tkvm' });
  assert.match(String(res.headers['content-type']), /application\/json/);
  assert.deepEqual((await api(sock, 'GET', '/version')).json, { firecracker_version: '1.16.0' });
});

test('machine-config: Firecracker defaults, PUT resets optional fields, PATCH changes only what it names', async () => {
  assert.deepEqual((await api(sock, 'GET', '/machine-config')).json, { vcpu_count: 1, mem_size_mib: 128, smt: false, track_dirty_pages: false, cpu_template: 'None', huge_pages: 'None' });
  const put = await api(sock, 'PUT', '/machine-config', { vcpu_count: 2, mem_size_mib: 256, smt: false });
  assert.equal(put.status, 204);
  assert.equal(put.text, '', '204 has no body');
  const patch = await api(sock, 'PATCH', '/machine-config', { mem_size_mib: 64 });
  assert.equal(patch.status, 204);
  assert.deepEqual((await api(sock, 'GET', '/machine-config')).json, { vcpu_count: 2, mem_size_mib: 64, smt: false, track_dirty_pages: false, cpu_template: 'None', huge_pages: 'None' });
});

test('machine-config: validation errors are 400 with a fault_message, and change nothing', async () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['PUT', { vcpu_count: 33, mem_size_mib: 128 }, /vcpu_count: Too big/],
    ['PUT', { vcpu_count: 0, mem_size_mib: 128 }, /vcpu_count: Too small/],
    ['PUT', { vcpu_count: 1.5, mem_size_mib: 128 }, /vcpu_count/],
    ['PUT', { vcpu_count: 1, mem_size_mib: 8 }, /mem_size_mib: Too small/],
    ['PUT', { mem_size_mib: 128 }, /vcpu_count/],
    ['PUT', { vcpu_count: 1, mem_size_mib: 128, cpus: 2 }, /unknown field "cpus"/],
    ['PUT', { vcpu_count: 2, mem_size_mib: 128, smt: true }, /does not support SMT/],
    ['PUT', { vcpu_count: 1, mem_size_mib: 128, huge_pages: '2M' }, /does not support huge pages/],
    ['PUT', { vcpu_count: 1, mem_size_mib: 128, cpu_template: 'T2' }, /does not support CPU templates/],
    ['PUT', { vcpu_count: 1, mem_size_mib: 128, track_dirty_pages: true }, /dirty page tracking/],
    ['PATCH', { vcpu_count: '2' }, /vcpu_count/],
    ['PATCH', { bogus: true }, /unknown field "bogus"/],
  ];
  const before = (await api(sock, 'GET', '/machine-config')).json;
  for (const [method, body, expected] of cases) {
    const res = await api(sock, method, '/machine-config', body);
    assert.match(faultOf(res), expected, `${method} ${JSON.stringify(body)}`);
  }
  assert.deepEqual((await api(sock, 'GET', '/machine-config')).json, before);
});

test('boot-source: the kernel must open; unknown fields are refused', async () => {
  assert.equal((await api(sock, 'PUT', '/boot-source', { kernel_image_path: kernel, boot_args: 'console=ttyS0 pci=off' })).status, 204);
  assert.match(faultOf(await api(sock, 'PUT', '/boot-source', { kernel_image_path: path.join(dir, 'missing') })), /cannot be opened: ENOENT/);
  assert.match(faultOf(await api(sock, 'PUT', '/boot-source', { kernel_image_path: dir })), /not a regular file/);
  assert.match(faultOf(await api(sock, 'PUT', '/boot-source', { kernel_image_path: kernel, initrd_path: path.join(dir, 'nope') })), /initrd_path .* ENOENT/);
  assert.match(faultOf(await api(sock, 'PUT', '/boot-source', { kernel: kernel })), /kernel_image_path.*unknown field "kernel"|unknown field "kernel"/);
});

test('drives: PUT creates and replaces; zero-length files are allowed; one root device; ids must match', async () => {
  assert.equal((await api(sock, 'PUT', '/drives/rootfs', { drive_id: 'rootfs', path_on_host: disk, is_root_device: true, is_read_only: false })).status, 204);
  for (let i = 0; i < 8; i++) {
    const id = `placeholder${i}`;
    const res = await api(sock, 'PUT', `/drives/${id}`, { drive_id: id, path_on_host: emptyDisk, is_root_device: false, is_read_only: false, cache_type: 'Unsafe', io_engine: 'Sync', rate_limiter: null });
    assert.equal(res.status, 204, res.text);
  }
  assert.match(faultOf(await api(sock, 'PUT', '/drives/second', { drive_id: 'second', path_on_host: disk, is_root_device: true })), /A root block device already exists/);
  assert.match(faultOf(await api(sock, 'PUT', '/drives/a', { drive_id: 'b', path_on_host: disk, is_root_device: false })), /does not match the id from the body/);
  assert.match(faultOf(await api(sock, 'PUT', '/drives/x', { drive_id: 'x', path_on_host: path.join(dir, 'none.img'), is_root_device: false })), /Unable to create the block device.*ENOENT/);
  assert.match(faultOf(await api(sock, 'PUT', '/drives/x', { drive_id: 'x', socket: '/tmp/vhost.sock', is_root_device: false })), /vhost-user-block/);
  assert.match(faultOf(await api(sock, 'PUT', '/drives/x', { drive_id: 'x', path_on_host: disk, is_root_device: false, rate_limiter: { bandwidth: { size: 100, refill_time: 10 } } })), /does not support rate limiters/);
  assert.match(faultOf(await api(sock, 'PUT', '/drives/bad-id', { drive_id: 'bad-id', path_on_host: disk, is_root_device: false })), /drive_id: must be 1 to 64/);
  assert.match(faultOf(await api(sock, 'PUT', '/drives/x', { drive_id: 'x', path_on_host: disk })), /is_root_device/);
  // Read-only drives only need read permission.
  const readOnly = path.join(dir, 'ro.img');
  writeFileSync(readOnly, Buffer.alloc(4096));
  chmodSync(readOnly, 0o444);
  assert.equal((await api(sock, 'PUT', '/drives/ro', { drive_id: 'ro', path_on_host: readOnly, is_root_device: false, is_read_only: true })).status, 204);
  const config = (await api(sock, 'GET', '/vm/config')).json as { drives: Array<{ drive_id: string }> };
  assert.deepEqual(config.drives.map((d) => d.drive_id), ['rootfs', ...Array.from({ length: 8 }, (_, i) => `placeholder${i}`), 'ro']);
});

test('PATCH /drives before boot changes the drive\'s file (checked as PUT checks it); unknown drives are refused', async () => {
  const other = path.join(dir, 'other.img');
  writeFileSync(other, Buffer.alloc(4096));
  assert.equal((await api(sock, 'PATCH', '/drives/placeholder3', { drive_id: 'placeholder3', path_on_host: other })).status, 204);
  const drives = ((await api(sock, 'GET', '/vm/config')).json as { drives: Array<{ drive_id: string; path_on_host: string; is_root_device: boolean }> }).drives;
  assert.deepEqual(drives.find((d) => d.drive_id === 'placeholder3'), { drive_id: 'placeholder3', path_on_host: other, is_root_device: false, is_read_only: false, cache_type: 'Unsafe', io_engine: 'Sync', rate_limiter: null });
  assert.equal(drives[4]!.drive_id, 'placeholder3', 'the drive keeps its place');
  assert.match(faultOf(await api(sock, 'PATCH', '/drives/nosuch', { drive_id: 'nosuch', path_on_host: other })), /Invalid block device ID: nosuch/);
  assert.match(faultOf(await api(sock, 'PATCH', '/drives/rootfs', { drive_id: 'placeholder3', path_on_host: other })), /does not match the id from the body/);
  assert.match(faultOf(await api(sock, 'PATCH', '/drives/rootfs', { drive_id: 'rootfs', path_on_host: path.join(dir, 'gone.img') })), /Unable to create the block device.*ENOENT/);
  assert.match(faultOf(await api(sock, 'PATCH', '/drives/rootfs', { drive_id: 'rootfs', is_read_only: true })), /unknown field "is_read_only"/);
  assert.equal(((await api(sock, 'GET', '/vm/config')).json as { drives: Array<{ path_on_host: string }> }).drives[0]!.path_on_host, disk, 'refused PATCHes change nothing');
});

test('PATCH /network-interfaces and /vm are post-boot only', async () => {
  const before = 'The requested operation is not supported before starting the microVM.';
  assert.equal(faultOf(await api(sock, 'PATCH', '/network-interfaces/eth0', { iface_id: 'eth0' })), before);
  assert.equal(faultOf(await api(sock, 'PATCH', '/vm', { state: 'Paused' })), before);
  assert.equal(faultOf(await api(sock, 'PUT', '/actions', { action_type: 'SendCtrlAltDel' })), before);
  assert.match(faultOf(await api(sock, 'PATCH', '/vm', { state: 'Stopped' })), /state: Invalid option/);
});

test('network-interfaces: TAP name and MAC are checked, each used once; MTU and rate limiters refused', async () => {
  assert.equal((await api(sock, 'PUT', '/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'tap0', guest_mac: 'AA:FC:00:00:00:01' })).status, 204);
  assert.match(faultOf(await api(sock, 'PUT', '/network-interfaces/eth1', { iface_id: 'eth1', host_dev_name: 'tap0' })), /host device name tap0 is already in use/);
  assert.match(faultOf(await api(sock, 'PUT', '/network-interfaces/eth1', { iface_id: 'eth1', host_dev_name: 'tap1', guest_mac: 'aa:fc:00:00:00:01' })), /MAC address .* already in use/);
  assert.match(faultOf(await api(sock, 'PUT', '/network-interfaces/eth1', { iface_id: 'eth1', host_dev_name: 'tap1', guest_mac: 'zz' })), /guest_mac: must be a MAC/);
  assert.match(faultOf(await api(sock, 'PUT', '/network-interfaces/eth1', { iface_id: 'eth1', host_dev_name: 'a-name-far-too-long' })), /host_dev_name/);
  assert.match(faultOf(await api(sock, 'PUT', '/network-interfaces/eth1', { iface_id: 'eth1', host_dev_name: 'tap1', mtu: 9000 })), /MTU/);
  assert.match(faultOf(await api(sock, 'PUT', '/network-interfaces/eth1', { iface_id: 'eth1', host_dev_name: 'tap1', rx_rate_limiter: { ops: { size: 1, refill_time: 1 } } })), /rate limiters/);
  // Replacing eth0 with the same TAP is fine.
  assert.equal((await api(sock, 'PUT', '/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'tap0' })).status, 204);
});

test('entropy, logger and metrics', async () => {
  assert.equal((await api(sock, 'PUT', '/entropy', {})).status, 204);
  assert.match(faultOf(await api(sock, 'PUT', '/entropy', { rate_limiter: { bandwidth: { size: 1, refill_time: 1 } } })), /rate limiters/);
  assert.match(faultOf(await api(sock, 'PUT', '/entropy', { seed: 1 })), /unknown field "seed"/);

  const logFile = path.join(dir, 'log');
  writeFileSync(logFile, '');
  assert.match(faultOf(await api(sock, 'PUT', '/logger', { level: 'Loud' })), /level: must be one of/);
  assert.match(faultOf(await api(sock, 'PUT', '/logger', { log_path: path.join(dir, 'no-such-log') })), /log_path .* ENOENT/);
  assert.equal((await api(sock, 'PUT', '/logger', { level: 'warning', log_path: logFile, show_level: true })).status, 204);

  const metricsFile = path.join(dir, 'metrics');
  writeFileSync(metricsFile, '');
  assert.match(faultOf(await api(sock, 'PUT', '/actions', { action_type: 'FlushMetrics' })), /metrics system is not initialized/);
  assert.equal((await api(sock, 'PUT', '/metrics', { metrics_path: metricsFile })).status, 204);
  assert.match(faultOf(await api(sock, 'PUT', '/metrics', { metrics_path: metricsFile })), /Reinitialization of metrics not allowed/);
  assert.equal((await api(sock, 'PUT', '/actions', { action_type: 'FlushMetrics' })).status, 204);
  const { readFileSync } = await import('node:fs');
  const line = JSON.parse(readFileSync(metricsFile, 'utf8').trim()) as { state: string; utc_timestamp_ms: number };
  assert.equal(line.state, 'Not started');
  assert.ok(line.utc_timestamp_ms > 0);

  const config = (await api(sock, 'GET', '/vm/config')).json as Record<string, unknown>;
  assert.deepEqual(config['entropy'], {});
  assert.deepEqual(config['metrics'], { metrics_path: metricsFile });
  assert.equal((config['logger'] as { level: string }).level, 'warning');
});

test('features tkvm lacks answer 400 saying so, after validating the body', async () => {
  const lacking: Array<[string, string, unknown, RegExp]> = [
    ['PUT', '/vsock', { guest_cid: 3, uds_path: '/tmp/v.sock' }, /does not support vsock/],
    ['PUT', '/balloon', { amount_mib: 0, deflate_on_oom: true }, /does not support balloon/],
    ['PATCH', '/balloon', { amount_mib: 1 }, /does not support balloon/],
    ['GET', '/balloon', undefined, /does not support balloon/],
    ['GET', '/balloon/statistics', undefined, /does not support balloon/],
    ['PUT', '/snapshot/create', { snapshot_path: '/tmp/s', mem_file_path: '/tmp/m' }, /does not support snapshots yet \(issue 13\)/],
    ['PUT', '/snapshot/load', { snapshot_path: '/tmp/s' }, /does not support snapshots/],
    ['PUT', '/mmds', {}, /MMDS/],
    ['PUT', '/cpu-config', {}, /CPU configuration/],
    ['PUT', '/pmem/p0', { id: 'p0', path_on_host: '/tmp/p' }, /pmem/],
  ];
  for (const [method, url, body, expected] of lacking) assert.match(faultOf(await api(sock, method, url, body)), expected, `${method} ${url}`);
  // Validation still comes first: a malformed vsock is an input error.
  assert.match(faultOf(await api(sock, 'PUT', '/vsock', { guest_cid: 2, uds_path: '/tmp/v.sock' })), /guest_cid: Too small/);
});

test('malformed requests: unknown paths and methods, bad JSON, empty bodies', async () => {
  assert.match(faultOf(await api(sock, 'GET', '/nope')), /Invalid request method and\/or path: GET \/nope/);
  assert.match(faultOf(await api(sock, 'DELETE', '/machine-config')), /Invalid request method and\/or path/);
  assert.match(faultOf(await api(sock, 'PUT', '/drives/')), /Invalid request method and\/or path/);
  assert.match(faultOf(await api(sock, 'PUT', '/machine-config', '{"vcpu_count": ')), /not valid JSON/);
  assert.match(faultOf(await api(sock, 'PUT', '/machine-config', '')), /body is empty/);
  assert.match(faultOf(await api(sock, 'PUT', '/machine-config', '[1,2]')), /Invalid machine-config/);
  assert.match(faultOf(await api(sock, 'PUT', '/actions', { action_type: 'Reboot' })), /action_type: Invalid option/);
});

test('bodies over the payload limit are refused, and the server goes on answering', async () => {
  const big = { kernel_image_path: kernel, boot_args: 'x'.repeat(1200) };
  const res = await api(sock, 'PUT', '/boot-source', big);
  assert.match(faultOf(res), /Request payload with size \d+ is larger than the limit of 1000 allowed by server/);
  assert.equal((await api(sock, 'GET', '/')).status, 200);
  // Just under the limit is fine.
  const fits = { kernel_image_path: kernel, boot_args: 'y'.repeat(1000 - JSON.stringify({ kernel_image_path: kernel, boot_args: '' }).length) };
  assert.equal(JSON.stringify(fits).length, 1000);
  assert.equal((await api(sock, 'PUT', '/boot-source', fits)).status, 204);
});

test('InstanceStart without a kernel fails; the instance stays Not started', async () => {
  const fresh = new Instance({ id: 'no-kernel' });
  const freshSock = path.join(dir, 'fresh.sock');
  const freshServer = await ApiServer.start({ socketPath: freshSock, instance: fresh });
  try {
    assert.equal(faultOf(await api(freshSock, 'PUT', '/actions', { action_type: 'InstanceStart' })), 'Cannot start microvm without kernel configuration.');
    assert.equal((await api(freshSock, 'GET', '/')).json && ((await api(freshSock, 'GET', '/')).json as { state: string }).state, 'Not started');
  } finally {
    await freshServer.close();
  }
});

test('a second server on the same socket path fails with one line', async () => {
  await assert.rejects(ApiServer.start({ socketPath: sock, instance }), /cannot listen on the API socket .* already exists/);
});
