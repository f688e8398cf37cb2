/**
 * End-to-end checks of the C baseline (kvm-loop.c) on /dev/kvm: it must
 * run the pio-loop guest correctly, or the benchmark compares against
 * nothing. Skipped without /dev/kvm, except under CI=true where it fails.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { buildCProgram } from '../lib/build-c.js';
import { benchBuildDir, repoRoot } from '../lib/paths.js';
import { runTimed } from '../lib/timed-spawn.js';
import { parseKvmLoopReport } from './reports.js';

const haveKvm = existsSync('/dev/kvm');
const skip = !haveKvm && process.env['CI'] !== 'true' ? 'no /dev/kvm' : false;
const guest = resolve(repoRoot(), 'test/guests/build/pio-loop.elf');
let kvmLoop = '';
let scratch = '';

/** A minimal ELF64 x86-64 executable: one PT_LOAD of `code` at `paddr`, entry at its start. */
function elfImage(code: Uint8Array, paddr: bigint): Buffer {
  const header = Buffer.alloc(64 + 56);
  header.write('\x7fELF', 0, 'latin1');
  header[4] = 2; // ELFCLASS64
  header[5] = 1; // little-endian
  header[6] = 1; // EV_CURRENT
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(62, 18); // EM_X86_64
  header.writeUInt32LE(1, 20);
  header.writeBigUInt64LE(paddr, 24); // e_entry
  header.writeBigUInt64LE(64n, 32); // e_phoff
  header.writeUInt16LE(64, 52); // e_ehsize
  header.writeUInt16LE(56, 54); // e_phentsize
  header.writeUInt16LE(1, 56); // e_phnum
  const ph = 64;
  header.writeUInt32LE(1, ph); // PT_LOAD
  header.writeUInt32LE(5, ph + 4); // R+X
  header.writeBigUInt64LE(BigInt(header.length), ph + 8); // p_offset
  header.writeBigUInt64LE(paddr, ph + 16); // p_vaddr
  header.writeBigUInt64LE(paddr, ph + 24); // p_paddr
  header.writeBigUInt64LE(BigInt(code.length), ph + 32); // p_filesz
  header.writeBigUInt64LE(BigInt(code.length), ph + 40); // p_memsz
  return Buffer.concat([header, code]);
}

function writeGuest(name: string, image: Buffer): string {
  const path = join(scratch, name);
  writeFileSync(path, image);
  return path;
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'kvm-loop-test-'));
  kvmLoop = await buildCProgram(resolve(repoRoot(), 'bench/exit-cost/kvm-loop.c'), resolve(benchBuildDir(), 'kvm-loop'));
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('runs the pio-loop guest and counts its port 0x80 exits', { skip }, async () => {
  assert.ok(haveKvm, '/dev/kvm is required (CI=true)');
  assert.ok(existsSync(guest), `${guest} missing: run make -C test/guests`);
  const run = await runTimed(kvmLoop, [guest, 'count=250'], 60_000);
  assert.equal(run.status, 33, run.stderr);
  assert.match(run.stderr, /pio-loop done 250/);
  const report = parseKvmLoopReport(run.stdout);
  assert.ok(report !== null, run.stdout);
  assert.equal(report.pioExits, 250);
  assert.ok(report.exits > 250);
  assert.ok(report.runLoopNs > 0 && report.totalNs >= report.runLoopNs);
});

test('serves the echo device and COM1 paths of the pio-loop guest', { skip }, async () => {
  assert.ok(haveKvm, '/dev/kvm is required (CI=true)');
  const echo = await runTimed(kvmLoop, [guest, 'count=300 path=echo'], 60_000);
  assert.equal(echo.status, 33, echo.stderr);
  assert.match(echo.stderr, /pio-loop done 300/);
  assert.equal(parseKvmLoopReport(echo.stdout)?.pioExits, 300);
  const uart = await runTimed(kvmLoop, [guest, 'count=300 path=uart'], 60_000);
  assert.equal(uart.status, 33, uart.stderr);
  assert.match(uart.stderr, /\.{150}\npio-loop done 300/);
  assert.ok(parseKvmLoopReport(uart.stdout)!.exits >= 300);
});

test('fails loudly on a port it does not serve', { skip }, async () => {
  // mov $0x2a, %al; out %al, $0x99
  const path = writeGuest('stray-port.elf', elfImage(Uint8Array.of(0xb0, 0x2a, 0xe6, 0x99), 0x200000n));
  const run = await runTimed(kvmLoop, [path], 60_000);
  assert.equal(run.status, 1);
  assert.match(run.stderr, /unexpected port I\/O: out port 0x99 size 1 at RIP 0x200004/);
});

test('reports a halt as an unexpected exit', { skip }, async () => {
  const path = writeGuest('halt.elf', elfImage(Uint8Array.of(0xf4), 0x200000n));
  const run = await runTimed(kvmLoop, [path], 60_000);
  assert.equal(run.status, 1);
  assert.match(run.stderr, /unexpected exit reason 5 /);
});

test('debug exit status follows the value written to port 0x501', { skip }, async () => {
  // mov $0x501, %dx; mov $0x3, %al; out %al, (%dx)
  const path = writeGuest('exit3.elf', elfImage(Uint8Array.of(0x66, 0xba, 0x01, 0x05, 0xb0, 0x03, 0xee), 0x200000n));
  const run = await runTimed(kvmLoop, [path], 60_000);
  assert.equal(run.status, (3 << 1) | 1, run.stderr);
  assert.equal(parseKvmLoopReport(run.stdout)?.pioExits, 0);
});

test('rejects images it must not load', { skip }, async () => {
  const outside = writeGuest('outside.elf', elfImage(Uint8Array.of(0xf4), 0x4000000n - 1n + 2n));
  let run = await runTimed(kvmLoop, [outside], 60_000);
  assert.equal(run.status, 1);
  assert.match(run.stderr, /outside guest RAM/);

  const truncated = writeGuest('truncated.elf', elfImage(Uint8Array.of(0xf4), 0x200000n).subarray(0, 100));
  run = await runTimed(kvmLoop, [truncated], 60_000);
  assert.equal(run.status, 1);
  assert.match(run.stderr, /out of bounds/);

  const text = writeGuest('text.elf', Buffer.from('#!/bin/sh\necho not an ELF image at all, but long enough for a header\n'));
  run = await runTimed(kvmLoop, [text], 60_000);
  assert.equal(run.status, 1);
  assert.match(run.stderr, /not an ELF64 x86-64/);
});
