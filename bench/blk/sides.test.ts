/**
 * End-to-end checks of both sides of bench/blk on small images: host-io.c
 * (needs only a C compiler) and tkvm running the blk-bench guest (needs
 * /dev/kvm, the built CLI and guest; skipped without /dev/kvm, except
 * under CI=true where it fails).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { buildCProgram } from '../lib/build-c.js';
import { benchBuildDir, repoRoot } from '../lib/paths.js';
import { writeTaggedImage } from './image.js';
import { runHostIo, runTkvm, type RunSpec } from './sides.js';
import { runWithTimedLines } from '../lib/timed-lines.js';

const haveKvm = existsSync('/dev/kvm');
const skipKvm = !haveKvm && process.env['CI'] !== 'true' ? 'no /dev/kvm' : false;
const guest = resolve(repoRoot(), 'test/guests/build/blk-bench.elf');
const cli = resolve(repoRoot(), 'dist/tkvm/main.js');
const IMAGE_BYTES = 4 << 20;
let hostIo = '';
let scratch = '';

function spec(overrides: Partial<RunSpec>): RunSpec {
  return { mode: 'seqread', blockBytes: 65536, count: 100, depth: 8, passes: 2, seed: 3, ...overrides };
}

function taggedImage(name: string): string {
  const path = join(scratch, name);
  writeTaggedImage(path, IMAGE_BYTES);
  return path;
}

function zeroImage(name: string): string {
  const path = join(scratch, name);
  writeFileSync(path, new Uint8Array(IMAGE_BYTES));
  return path;
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'blk-bench-test-'));
  hostIo = await buildCProgram(resolve(repoRoot(), 'bench/blk/host-io.c'), resolve(benchBuildDir(), 'host-io'));
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('host-io does every mode on a tagged image', async () => {
  const image = taggedImage('host.img');
  for (const mode of ['seqread', 'seqwrite', 'randread'] as const) {
    const passes = await runHostIo(hostIo, image, spec({ mode, blockBytes: mode === 'randread' ? 4096 : 65536 }), 60_000);
    assert.deepEqual(passes.map((p) => p.pass), [1, 2]);
    assert.ok(passes.every((p) => p.ns > 0));
  }
});

test('host-io rejects an untagged image', async () => {
  await assert.rejects(runHostIo(hostIo, zeroImage('zero.img'), spec({}), 60_000), /host seqread: exit status 1: .*tag/);
});

test('tkvm runs the guest in every mode', { skip: skipKvm }, async () => {
  assert.ok(haveKvm, '/dev/kvm is required (CI=true)');
  assert.ok(existsSync(guest), `${guest} missing: run make -C test/guests`);
  assert.ok(existsSync(cli), `${cli} missing: run npm run build`);
  const image = taggedImage('tkvm.img');
  for (const mode of ['seqread', 'seqwrite', 'randread'] as const) {
    const passes = await runTkvm(cli, guest, image, spec({ mode, blockBytes: mode === 'randread' ? 4096 : 65536 }), 120_000);
    assert.deepEqual(passes.map((p) => p.pass), [1, 2]);
    // wallNs comes from the host's stamps of the begin/end lines; a pass of a few ms can arrive
    // in one read, and then both stamps are equal. The guest's TSC count always moves.
    assert.ok(passes.every((p) => p.wallNs >= 0 && p.tscTicks > 0 && p.kicks >= 1), JSON.stringify(passes));
  }
});

test('guest writes land where they belong: a zeroed image read back tagged after a full seqwrite', { skip: skipKvm }, async () => {
  const image = zeroImage('rewrite.img');
  await assert.rejects(runTkvm(cli, guest, image, spec({ count: 4 }), 120_000), /guest failed: .*tag/);
  await runTkvm(cli, guest, image, spec({ mode: 'seqwrite', count: IMAGE_BYTES / 65536, passes: 1 }), 120_000);
  // host-io checks the tag of every 4 KiB block it reads.
  const passes = await runHostIo(hostIo, image, spec({ blockBytes: 4096, count: IMAGE_BYTES / 4096, passes: 1 }), 60_000);
  assert.equal(passes.length, 1);
});

test('an exception in ring 3 is reported by the runtime, not a triple fault', { skip: skipKvm }, async () => {
  const image = taggedImage('fault.img');
  const run = await runWithTimedLines(process.execPath, [cli, 'run', '--debug-exit', '--kernel', guest, '--mem', '256M', '--disk', image, '--cmdline', 'mode=fault'], 120_000);
  const output = run.lines.map((l) => l.line).join('\n');
  assert.equal(run.status, 37, `${output}\n${run.stderr}`);
  assert.match(output, /blk-bench: hlt in ring 3\nFAIL: exception 13 \(error code 0x0\) at rip 0x2[0-9a-f]{5}, rsp 0xf[0-9a-f]{5}/);
});
