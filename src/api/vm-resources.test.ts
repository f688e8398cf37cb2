/** The resource model onto VmConfig: the config file's shape, the root drive, boot args (no KVM). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VmResources } from './vm-resources.js';
import { ApiError } from './errors.js';

function scratch(): { dir: string; kernel: string; root: string; data: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'tkvm-res-'));
  const kernel = path.join(dir, 'vmlinux.bin');
  const root = path.join(dir, 'rootfs.ext4');
  const data = path.join(dir, 'data.img');
  writeFileSync(kernel, 'k');
  writeFileSync(root, Buffer.alloc(4096));
  writeFileSync(data, '');
  return { dir, kernel, root, data };
}

test("Firecracker's getting-started config file (nulls included) maps onto VmConfig", () => {
  const { dir, kernel, root, data } = scratch();
  try {
    const resources = new VmResources();
    resources.applyFullConfig({
      'boot-source': { kernel_image_path: kernel, boot_args: 'console=ttyS0 reboot=k panic=1 pci=off', initrd_path: null },
      drives: [
        { drive_id: 'data', partuuid: null, is_root_device: false, cache_type: 'Writeback', is_read_only: true, path_on_host: data, io_engine: 'Async', rate_limiter: null, socket: null },
        { drive_id: 'rootfs', partuuid: null, is_root_device: true, cache_type: 'Unsafe', is_read_only: false, path_on_host: root, io_engine: 'Sync', rate_limiter: null, socket: null },
      ],
      'machine-config': { vcpu_count: 2, mem_size_mib: 1024, smt: false, track_dirty_pages: false, huge_pages: 'None' },
      'cpu-config': null, balloon: null, 'network-interfaces': [], vsock: null, logger: null, metrics: null, 'mmds-config': null, entropy: null, pmem: [], 'memory-hotplug': null,
    });
    const config = resources.toVmConfig({ name: 'vm1' });
    assert.equal(config.kernelPath, kernel);
    assert.equal(config.initrdPath, undefined);
    assert.equal(config.cpus, 2);
    assert.equal(config.memBytes, 1024 * 1024 * 1024);
    // pci=off would hide tkvm's virtio-pci devices; the root drive comes first and names itself.
    assert.equal(config.cmdline, 'console=ttyS0 reboot=k panic=1 root=/dev/vda rw');
    assert.deepEqual(config.disks?.map((d) => [d.path, d.readOnly]), [[root, false], [data, true]]);
    assert.ok((config.disks?.[0]?.serial ?? '').length > 0 && (config.disks?.[0]?.serial ?? '').length <= 20);
    assert.deepEqual(config.nics, []);
    assert.equal(config.rng, false);
    assert.equal(config.debugExit, false);
    assert.equal(config.name, 'vm1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('root drive with a partuuid, read-only; default boot args; NICs and entropy', () => {
  const { dir, kernel, root } = scratch();
  try {
    const resources = new VmResources();
    resources.putBootSource({ kernel_image_path: kernel });
    resources.putDrive('rootfs', { drive_id: 'rootfs', path_on_host: root, is_root_device: true, is_read_only: true, partuuid: '0eaa91a0-01' });
    resources.putNetworkInterface('eth0', { iface_id: 'eth0', host_dev_name: 'tap7', guest_mac: '06:00:ac:10:00:02' });
    resources.putEntropy({});
    const config = resources.toVmConfig({ testDevices: true });
    assert.match(config.cmdline, /^reboot=k panic=1 nomodule 8250.nr_uarts=0 .* root=PARTUUID=0eaa91a0-01 ro$/);
    assert.deepEqual(config.nics, [{ backend: 'tap', ifname: 'tap7', mac: '06:00:ac:10:00:02', ports: [], dns: false }]);
    assert.equal(config.rng, true);
    assert.equal(config.debugExit, true, 'test devices imply debug-exit');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a config file with resources tkvm lacks is refused, naming them', () => {
  const { dir, kernel } = scratch();
  try {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ vsock: { guest_cid: 3, uds_path: '/tmp/v' } }, /vsock/],
      [{ balloon: { amount_mib: 1, deflate_on_oom: false } }, /balloon/],
      [{ 'mmds-config': { network_interfaces: [] } }, /mmds-config/],
      [{ pmem: [{ id: 'p' }] }, /pmem/],
      [{ 'boot-source': { kernel_image_path: kernel }, extra: 1 }, /unknown field "extra"/],
    ];
    for (const [body, expected] of cases) {
      assert.throws(() => new VmResources().applyFullConfig(body), (err: unknown) => err instanceof ApiError && expected.test(err.message), JSON.stringify(body));
    }
    assert.throws(() => new VmResources().toVmConfig(), /Cannot start microvm without kernel configuration/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
