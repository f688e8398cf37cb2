import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../memory/guest-memory.js';
import { FileFormatError, TkvmError } from '../../util/errors.js';
import { HDR, parseBzImage, loadBzImage, bzImageReservedEnd, isBzImage, XLF_KERNEL_64 } from './bzimage.js';
import { buildBzImage, payloadByte } from './synthetic-images.js';
import { MiB } from './layout.js';

const PATH = '/images/bzImage';

function assertFormatError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FileFormatError, `expected FileFormatError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_FILE_FORMAT');
    assert.ok(err.message.startsWith(`${PATH}: `), err.message);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'));
    return true;
  });
}

test('parses the setup header fields', () => {
  const image = parseBzImage(PATH, buildBzImage({
    setupSects: 3, kernelSize: 4096, initSize: 0x10000, prefAddress: 0x1000000n, cmdlineSize: 4095,
    initrdAddrMax: 0x37ffffff, kernelAlignment: 0x200000, relocatable: false,
  }));
  assert.equal(image.setupSects, 3);
  assert.equal(image.version, 0x020f);
  assert.equal(image.xloadflags & XLF_KERNEL_64, 1);
  assert.equal(image.initSize, 0x10000);
  assert.equal(image.prefAddress, 0x1000000n);
  assert.equal(image.cmdlineSize, 4095);
  assert.equal(image.initrdAddrMax, 0x37ffffff);
  assert.equal(image.kernelAlignment, 0x200000);
  assert.equal(image.relocatable, false);
  assert.equal(image.kernel.length, 4096);
  assert.equal(image.kernel[0], payloadByte(0));
  assert.equal(image.setupHeader.length, 0x26c - 0x1f1);
  assert.equal(image.setupHeader[0], 3, 'setup header starts with setup_sects');
});

test('setup_sects 0 means 4', () => {
  const image = parseBzImage(PATH, buildBzImage({ setupSects: 0, kernelSize: 1024 }));
  assert.equal(image.setupSects, 4);
  assert.equal(image.kernel.length, 1024);
  assert.equal(image.kernel[5], payloadByte(5));
});

test('loads the protected-mode kernel at 1 MiB with the 64-bit entry at +0x200', () => {
  const mem = GuestMemory.fromBuffers([{ guestBase: 0, size: 16 * MiB }]);
  const image = parseBzImage(PATH, buildBzImage({ kernelSize: 3000 }));
  const loaded = loadBzImage(mem, PATH, image, 16 * MiB);
  assert.equal(loaded.loadAddr, 0x100000);
  assert.equal(loaded.entry64, 0x100200);
  assert.deepEqual(mem.read(0x100000, 3000), image.kernel);
});

test('reserved end: the kernel may move up to pref_address and needs init_size from there', () => {
  const image = parseBzImage(PATH, buildBzImage({ kernelSize: 4096, initSize: 8 * MiB, prefAddress: 0x1000000n }));
  assert.equal(bzImageReservedEnd(image), 16 * MiB + 8 * MiB);
  const low = parseBzImage(PATH, buildBzImage({ kernelSize: 4096, initSize: 1 * MiB, prefAddress: 0x100000n }));
  assert.equal(bzImageReservedEnd(low), 0x200000 + 1 * MiB, 'load address rounded up to kernel_alignment');
  const mem = GuestMemory.fromBuffers([{ guestBase: 0, size: 16 * MiB }]);
  assert.throws(() => loadBzImage(mem, PATH, image, 16 * MiB), (err: unknown) =>
    err instanceof TkvmError && err.code === 'ERR_MEM_TOO_SMALL' && err.message.includes(PATH) && /24 MiB/.test(err.message));
});

test('isBzImage looks for HdrS at 0x202', () => {
  assert.equal(isBzImage(buildBzImage()), true);
  assert.equal(isBzImage(new Uint8Array(0x300)), false);
  assert.equal(isBzImage(new Uint8Array(4)), false);
});

test('malformed images give one-line FileFormatErrors naming the file', () => {
  const good = buildBzImage({ kernelSize: 4096 });
  const patch = (offset: number, bytes: number[]): Uint8Array => {
    const copy = good.slice();
    copy.set(bytes, offset);
    return copy;
  };
  assertFormatError(() => parseBzImage(PATH, good.subarray(0, 0x240)), /truncated.*setup header/);
  assertFormatError(() => parseBzImage(PATH, patch(HDR.HEADER, [0x48, 0x64, 0x72, 0x00])), /HdrS/);
  assertFormatError(() => parseBzImage(PATH, patch(HDR.BOOT_FLAG, [0, 0])), /boot_flag/);
  assertFormatError(() => parseBzImage(PATH, patch(HDR.VERSION, [0x0b, 0x02])), /protocol 2\.11 is too old/);
  assertFormatError(() => parseBzImage(PATH, patch(HDR.XLOADFLAGS, [0, 0])), /XLF_KERNEL_64/);
  assertFormatError(() => parseBzImage(PATH, patch(HDR.LOADFLAGS, [0])), /zImage/);
  assertFormatError(() => parseBzImage(PATH, patch(HDR.SETUP_SECTS, [200])), /truncated.*setup sectors/);
  assertFormatError(() => parseBzImage(PATH, good.subarray(0, good.length - 100)), /truncated.*header says the kernel is 4096/);
  assertFormatError(() => parseBzImage(PATH, patch(HDR.INIT_SIZE, [0, 0, 0, 0])), /init_size/);
  assertFormatError(() => parseBzImage(PATH, patch(HDR.JUMP + 1, [0x20])), /setup header ends/);
});
