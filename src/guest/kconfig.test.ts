import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TkvmError } from '../util/errors.js';
import { parseConfigFragment, parseDotConfig, unmetRequirements, verifyKernelConfig } from './kconfig.js';
import { defaultKitDir } from './kit.js';

const FRAGMENT = `# a comment
CONFIG_SMP=y
CONFIG_PANIC_TIMEOUT=0
CONFIG_CMDLINE="console=ttyS0"

# CONFIG_MODULES is not set
`;

const GOOD_DOT_CONFIG = `#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_SMP=y
CONFIG_PANIC_TIMEOUT=0
CONFIG_CMDLINE="console=ttyS0"
# CONFIG_MODULES is not set
CONFIG_OTHER=y
`;

test('parseConfigFragment reads assignments and "is not set" lines, skipping comments', () => {
  assert.deepEqual(parseConfigFragment(FRAGMENT), [
    { symbol: 'CONFIG_SMP', value: 'y' },
    { symbol: 'CONFIG_PANIC_TIMEOUT', value: '0' },
    { symbol: 'CONFIG_CMDLINE', value: '"console=ttyS0"' },
    { symbol: 'CONFIG_MODULES', value: null },
  ]);
});

test('parseConfigFragment rejects stray lines and duplicates, naming the line', () => {
  assert.throws(() => parseConfigFragment('CONFIG_A=y\nSMP=y\n', 'frag'), /frag:2: not a Kconfig line: SMP=y/);
  assert.throws(() => parseConfigFragment('CONFIG_A=y\nCONFIG_A=n\n', 'frag'), /frag:2: CONFIG_A is given twice/);
});

test('a .config that honours the fragment verifies and lists every symbol', () => {
  const verified = verifyKernelConfig(FRAGMENT, GOOD_DOT_CONFIG);
  assert.deepEqual(
    verified.map((item) => item.symbol),
    ['CONFIG_SMP', 'CONFIG_PANIC_TIMEOUT', 'CONFIG_CMDLINE', 'CONFIG_MODULES'],
  );
  // An absent symbol counts as "not set".
  assert.doesNotThrow(() => verifyKernelConfig(FRAGMENT, GOOD_DOT_CONFIG.replace('# CONFIG_MODULES is not set\n', '')));
});

test('a symbol dropped by merge_config fails verification with its name', () => {
  const dropped = GOOD_DOT_CONFIG.replace('CONFIG_SMP=y', '# CONFIG_SMP is not set');
  assert.throws(
    () => verifyKernelConfig(FRAGMENT, dropped, 'tkvm.config'),
    (error: unknown) =>
      error instanceof TkvmError &&
      error.code === 'ERR_GUEST_KERNEL_CONFIG' &&
      /CONFIG_SMP is not set \(wanted =y\)/.test(error.message) &&
      !error.message.includes('CONFIG_PANIC_TIMEOUT'),
  );
  const missing = GOOD_DOT_CONFIG.replace('CONFIG_SMP=y\n', '');
  assert.throws(() => verifyKernelConfig(FRAGMENT, missing), /CONFIG_SMP is not set/);
});

test('wrong values and unwanted symbols are reported too', () => {
  const dotConfig = GOOD_DOT_CONFIG.replace('CONFIG_PANIC_TIMEOUT=0', 'CONFIG_PANIC_TIMEOUT=5').replace(
    '# CONFIG_MODULES is not set',
    'CONFIG_MODULES=y',
  );
  const unmet = unmetRequirements(parseConfigFragment(FRAGMENT), parseDotConfig(dotConfig));
  assert.deepEqual(unmet, [
    { symbol: 'CONFIG_PANIC_TIMEOUT', value: '0', actual: '5' },
    { symbol: 'CONFIG_MODULES', value: null, actual: 'y' },
  ]);
  assert.throws(() => verifyKernelConfig(FRAGMENT, dotConfig), /CONFIG_PANIC_TIMEOUT is =5 \(wanted =0\); CONFIG_MODULES is =y \(wanted not set\)/);
});

/** The symbols the default guest must have (the guest kit's requirements). */
const REQUIRED_ON = [
  '64BIT', 'SMP', 'ACPI', 'PVH', 'HYPERVISOR_GUEST', 'PARAVIRT', 'KVM_GUEST', 'SERIAL_8250', 'SERIAL_8250_CONSOLE',
  'VIRTIO_PCI', 'VIRTIO_MMIO', 'VIRTIO_MMIO_CMDLINE_DEVICES', 'VIRTIO_BLK', 'VIRTIO_NET', 'VIRTIO_CONSOLE',
  'HW_RANDOM_VIRTIO', 'VIRTIO_BALLOON', 'VIRTIO_VSOCKETS', 'NET_9P_VIRTIO', '9P_FS', 'FUSE_FS', 'VIRTIO_FS', 'EXT4_FS',
  'DEVTMPFS', 'DEVTMPFS_MOUNT', 'TMPFS', 'PROC_FS', 'SYSFS', 'BLK_DEV_INITRD', 'RD_GZIP', 'KERNEL_LZ4', 'PRINTK', 'TTY',
  'UNIX', 'BINFMT_ELF', 'BINFMT_SCRIPT', 'MAGIC_SYSRQ', 'PCI', 'PCI_MSI', 'HZ_100', 'NO_HZ_IDLE', 'RANDOM_TRUST_CPU',
];

test("the repository's fragment asks for every symbol the default guest needs, and no modules", () => {
  const path = join(defaultKitDir(), 'kernel', 'tkvm.config');
  const requirements = new Map(parseConfigFragment(readFileSync(path, 'utf8'), path).map((item) => [item.symbol, item.value]));
  for (const symbol of REQUIRED_ON) assert.equal(requirements.get(`CONFIG_${symbol}`), 'y', `CONFIG_${symbol}=y`);
  assert.equal(requirements.get('CONFIG_MODULES'), null);
  assert.ok(requirements.has('CONFIG_MODULES'));
  assert.equal(requirements.get('CONFIG_PANIC_TIMEOUT'), '0');
});
