import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/util/errors.js';
import { type BlkOptions, measure, parseBlkArgs, runSpec } from './blk.js';
import type { GuestPass } from './guest-output.js';
import type { HostPass } from './host-output.js';
import { guestCmdline, hostIoArgs, type RunSpec } from './sides.js';

test('defaults: 1 GiB image, 64 KiB x 32768 sequential, 4 KiB x 200000 random, 2 passes, 3 reps', () => {
  const options = parseBlkArgs([]);
  assert.deepEqual(options.params, {
    imageBytes: 1 << 30, seqBlockBytes: 65536, seqCount: 32768, randBlockBytes: 4096, randCount: 200000,
    depth: 32, passes: 2, reps: 3, seed: 1, guestMemory: '256M',
  });
  assert.deepEqual(options.modes, ['seqread', 'seqwrite', 'randread']);
  assert.deepEqual(options.sides, ['host', 'tkvm']);
  assert.equal(options.check, false);
});

test('options are checked', () => {
  assert.deepEqual(parseBlkArgs(['--modes', 'randread,seqread']).modes, ['seqread', 'randread']);
  assert.deepEqual(parseBlkArgs(['--only', 'tkvm']).sides, ['tkvm']);
  for (const argv of [
    ['--modes', 'seqread,bogus'], ['--only', 'c'], ['--seq-bs', '1000'], ['--rand-bs', '2097152'],
    ['--depth', '65'], ['--depth', '32', '--seq-bs', '1048576'], ['--passes', '0'], ['--frobnicate'],
  ]) {
    assert.throws(() => parseBlkArgs(argv), UsageError, argv.join(' '));
  }
});

test('both sides get the same requests', () => {
  const spec = runSpec(parseBlkArgs(['--rand-count', '500', '--seed', '7']).params, 'randread');
  assert.deepEqual(spec, { mode: 'randread', blockBytes: 4096, count: 500, depth: 32, passes: 2, seed: 7 });
  assert.equal(guestCmdline(spec), 'mode=randread bs=4096 count=500 depth=32 passes=2 seed=7');
  assert.deepEqual(hostIoArgs(spec, '/tmp/x.img'), ['randread', '/tmp/x.img', '4096', '500', '2', '7', '32']);
});

function options(overrides: Partial<BlkOptions>): BlkOptions {
  const base = parseBlkArgs(['--reps', '2', '--modes', 'seqread,randread']);
  return { ...base, ...overrides };
}

test('measure keeps the last pass of each run, alternates the order and drops a failing side', async () => {
  const calls: string[] = [];
  let syncs = 0;
  const guest = (spec: RunSpec, wallNs: number): GuestPass[] => [1, 2].map((pass) => ({
    pass, requests: spec.count, bytes: spec.count * spec.blockBytes, wallNs: wallNs * pass, tscTicks: 1, kicks: 0,
  }));
  const errors: Record<string, string> = {};
  const samples = await measure(options({}), {
    tkvm: async (spec) => {
      calls.push(`tkvm ${spec.mode}`);
      if (spec.mode === 'randread') throw new Error('guest failed');
      return guest(spec, 100);
    },
    host: async (spec): Promise<HostPass[]> => {
      calls.push(`host ${spec.mode}`);
      return [{ pass: 2, requests: spec.count, bytes: spec.count * spec.blockBytes, ns: 50, tscTicks: 0 }];
    },
    afterRun: () => { syncs++; },
  }, errors);
  assert.deepEqual(calls, ['host seqread', 'tkvm seqread', 'tkvm seqread', 'host seqread', 'host randread', 'tkvm randread', 'host randread']);
  assert.equal(syncs, calls.length);
  assert.deepEqual(samples.tkvm.seqread?.map((p) => [p.pass, p.wallNs]), [[2, 200], [2, 200]]);
  assert.equal(samples.tkvm.randread, undefined);
  assert.equal(samples.host.randread?.length, 2);
  assert.deepEqual(errors, { 'tkvm randread': 'guest failed' });
});
