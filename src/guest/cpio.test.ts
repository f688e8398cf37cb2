import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { FileFormatError, TkvmError } from '../util/errors.js';
import {
  NEWC_HEADER_BYTES,
  parseCpioNewc,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  writeCpioNewc,
  type CpioEntry,
} from './cpio.js';

const SAMPLE: CpioEntry[] = [
  { type: 'directory', path: 'bin', mtime: 1_600_000_000 },
  { type: 'file', path: '/bin/hello', data: Buffer.from('hello, world\n'), mode: 0o755, uid: 1000, gid: 100 },
  { type: 'symlink', path: 'bin/hi', target: 'hello' },
  { type: 'directory', path: 'dev' },
  { type: 'device', path: 'dev/console', kind: 'char', major: 5, minor: 1 },
  { type: 'device', path: 'dev/vda', kind: 'block', major: 254, minor: 0, mode: 0o660 },
  { type: 'file', path: 'empty', data: new Uint8Array(0) },
];

function cpioAvailable(): boolean {
  return spawnSync('cpio', ['--version'], { stdio: 'ignore' }).status === 0;
}

test('round trip: names, modes, owners, sizes, symlink targets, device numbers', () => {
  const parsed = parseCpioNewc(writeCpioNewc(SAMPLE));
  assert.deepEqual(
    parsed.map((entry) => entry.name),
    ['bin', 'bin/hello', 'bin/hi', 'dev', 'dev/console', 'dev/vda', 'empty'],
  );
  const byName = new Map(parsed.map((entry) => [entry.name, entry]));
  assert.equal(byName.get('bin')?.mode, S_IFDIR | 0o755);
  assert.equal(byName.get('bin')?.mtime, 1_600_000_000);
  assert.equal(byName.get('bin')?.nlink, 2);
  const hello = byName.get('bin/hello');
  assert.equal(hello?.mode, S_IFREG | 0o755);
  assert.equal(hello?.uid, 1000);
  assert.equal(hello?.gid, 100);
  assert.equal(Buffer.from(hello?.data ?? []).toString(), 'hello, world\n');
  assert.equal(byName.get('bin/hi')?.mode, S_IFLNK | 0o777);
  assert.equal(Buffer.from(byName.get('bin/hi')?.data ?? []).toString(), 'hello');
  const consoleNode = byName.get('dev/console');
  assert.equal(consoleNode?.mode, S_IFCHR | 0o600);
  assert.deepEqual([consoleNode?.rdevMajor, consoleNode?.rdevMinor], [5, 1]);
  const disk = byName.get('dev/vda');
  assert.equal(disk?.mode, S_IFBLK | 0o660);
  assert.deepEqual([disk?.rdevMajor, disk?.rdevMinor], [254, 0]);
  assert.equal(byName.get('empty')?.data.length, 0);
  // Inode numbers are distinct and assigned in order.
  assert.deepEqual(
    parsed.map((entry) => entry.ino),
    [1, 2, 3, 4, 5, 6, 7],
  );
});

test('output is deterministic and ends with the TRAILER!!! entry', () => {
  const first = writeCpioNewc(SAMPLE);
  assert.deepEqual(writeCpioNewc(SAMPLE), first);
  assert.equal(first.length % 4, 0);
  const text = first.toString('latin1');
  const trailerAt = text.lastIndexOf('070701');
  assert.equal(text.slice(trailerAt + NEWC_HEADER_BYTES, trailerAt + NEWC_HEADER_BYTES + 11), 'TRAILER!!!\0');
});

test('GNU cpio lists the archive with the same names, modes, sizes, links and devices', (t) => {
  if (!cpioAvailable()) {
    if (process.env['CI'] === 'true') assert.fail('GNU cpio is not installed (the CI script must install the cpio package)');
    t.skip('GNU cpio is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tkvm-cpio-'));
  try {
    const file = join(dir, 'test.cpio');
    writeFileSync(file, writeCpioNewc(SAMPLE));
    const listing = execFileSync('sh', ['-c', 'cpio -itv --numeric-uid-gid --quiet < "$1"', 'sh', file], {
      encoding: 'utf8',
      env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' },
    });
    const lines = listing.trimEnd().split('\n');
    assert.equal(lines.length, SAMPLE.length, listing);
    const fields = (line: string | undefined): string[] => (line ?? '').trim().split(/\s+/);
    assert.deepEqual(fields(lines[0]).slice(0, 5), ['drwxr-xr-x', '2', '0', '0', '0']);
    assert.deepEqual(fields(lines[0]).slice(-4), ['Sep', '13', '2020', 'bin']);
    assert.deepEqual(fields(lines[1]).slice(0, 5), ['-rwxr-xr-x', '1', '1000', '100', '13']);
    assert.equal(fields(lines[1]).at(-1), 'bin/hello');
    assert.deepEqual(fields(lines[2]).slice(0, 1), ['lrwxrwxrwx']);
    assert.deepEqual(fields(lines[2]).slice(-3), ['bin/hi', '->', 'hello']);
    assert.match(lines[4] ?? '', /^crw------- +1 +0 +0 +5, +1 .* dev\/console$/);
    assert.match(lines[5] ?? '', /^brw-rw---- +1 +0 +0 +254, +0 .* dev\/vda$/);
    assert.match(lines[6] ?? '', /^-rw-r--r-- +1 +0 +0 +0 .* empty$/);
    const content = execFileSync('sh', ['-c', 'cpio -i --to-stdout --quiet bin/hello < "$1"', 'sh', file], { encoding: 'utf8' });
    assert.equal(content, 'hello, world\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('property: every header starts 4-byte aligned and every entry parses back', () => {
  const nameArbitrary = fc
    .array(fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' }).filter((part) => !/[/\0]/.test(part) && part !== '..'), {
      minLength: 1,
      maxLength: 3,
    })
    .map((parts) => parts.join('/'));
  const entryArbitrary = fc.record({
    name: nameArbitrary,
    data: fc.uint8Array({ maxLength: 40 }),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    mtime: fc.integer({ min: 0, max: 0xffff_ffff }),
  });
  fc.assert(
    fc.property(fc.uniqueArray(entryArbitrary, { selector: (entry) => entry.name, maxLength: 8 }), (specs) => {
      const archive = writeCpioNewc(specs.map((spec) => ({ type: 'file', path: spec.name, data: spec.data, mode: spec.mode, mtime: spec.mtime })));
      assert.equal(archive.length % 4, 0);
      const parsed = parseCpioNewc(archive);
      assert.equal(parsed.length, specs.length);
      parsed.forEach((entry, index) => {
        const spec = specs[index]!;
        assert.equal(entry.headerOffset % 4, 0);
        assert.equal(archive.toString('ascii', entry.headerOffset, entry.headerOffset + 6), '070701');
        assert.equal(entry.name, spec.name);
        assert.equal(entry.mode & ~S_IFMT, spec.mode);
        assert.equal(entry.mtime, spec.mtime);
        assert.deepEqual(Buffer.from(entry.data), Buffer.from(spec.data));
      });
    }),
  );
});

test('the writer rejects paths and values the format cannot carry', () => {
  const write = (entry: CpioEntry) => () => writeCpioNewc([entry]);
  assert.throws(write({ type: 'directory', path: '' }), TkvmError);
  assert.throws(write({ type: 'directory', path: '/' }), TkvmError);
  assert.throws(write({ type: 'directory', path: 'a/../b' }), /'\.\.'/);
  assert.throws(write({ type: 'directory', path: 'a\0b' }), TkvmError);
  assert.throws(write({ type: 'directory', path: 'a', mode: 0o10000 }), /mode/);
  assert.throws(write({ type: 'directory', path: 'a', uid: -1 }), /uid/);
  assert.throws(write({ type: 'device', path: 'd', kind: 'char', major: 2 ** 32, minor: 0 }), /major/);
  assert.throws(write({ type: 'symlink', path: 'l', target: '' }), /target/);
  assert.throws(
    () =>
      writeCpioNewc([
        { type: 'directory', path: 'x' },
        { type: 'directory', path: '/x' },
      ]),
    /twice/,
  );
});

test('the parser rejects malformed and truncated archives without reading out of bounds', () => {
  const archive = writeCpioNewc(SAMPLE);
  for (let cut = 0; cut < archive.length - 3; cut += 7) {
    assert.throws(() => parseCpioNewc(archive.subarray(0, cut)), FileFormatError);
  }
  const badMagic = Buffer.from(archive);
  badMagic.write('070707', 0, 'ascii');
  assert.throws(() => parseCpioNewc(badMagic), /bad magic/);
  const badHex = Buffer.from(archive);
  badHex.write('zz', 10, 'ascii');
  assert.throws(() => parseCpioNewc(badHex), /hex/);
  const hugeSize = Buffer.from(archive);
  hugeSize.write('FFFFFFFF', 6 + 6 * 8, 'ascii'); // filesize of the first entry
  assert.throws(() => parseCpioNewc(hugeSize), /past the end/);
});
