import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostInfo } from '../lib/host.js';
import type { GuestPass } from './guest-output.js';
import type { HostPass } from './host-output.js';
import { type BlkInput, type BlkParams, hostTscHz, passRate, summarizeBlk } from './summary.js';

const machine: HostInfo = { pvm: true, cpu: 'test cpu', cores: 2, kernel: '6.1' };
const params: BlkParams = {
  imageBytes: 1 << 30, seqBlockBytes: 65536, seqCount: 16384, randBlockBytes: 4096, randCount: 100000,
  depth: 32, passes: 2, reps: 3, seed: 1, guestMemory: '256M',
};
const GIB = 1 << 30;
/** A host TSC of 2.5 GHz. */
const TSC_PER_NS = 2.5;

function hostPass(bytes: number, requests: number, ns: number): HostPass {
  return { pass: 2, requests, bytes, ns, tscTicks: ns * TSC_PER_NS };
}

function guestPass(bytes: number, requests: number, wallNs: number, tscNs = wallNs, kicks = 10): GuestPass {
  return { pass: 2, requests, bytes, wallNs, tscTicks: tscNs * TSC_PER_NS, kicks };
}

function input(overrides: Partial<BlkInput>): BlkInput {
  return {
    tkvm: {}, host: {}, params, machine, loadAverage: { start: [1, 1, 1], end: [1.5, 1, 1] }, errors: {}, ...overrides,
  };
}

test('rates: MB/s for sequential modes, IOPS for random reads', () => {
  assert.equal(passRate('seqread', 1e9, 1, 1e9), 1000);
  assert.equal(passRate('seqwrite', 2e9, 1, 0.5e9), 4000);
  assert.equal(passRate('randread', 4096e5, 1e5, 0.25e9), 400000);
  assert.throws(() => passRate('seqread', 1, 1, 0), RangeError);
});

test('medians over reps, ratios and targets', () => {
  const result = summarizeBlk(input({
    // host: 1 GiB in 0.2 s (5368.7 MB/s), tkvm: medians 0.25 s (4295 MB/s: ratio 0.8) and 0.4 s.
    host: {
      seqread: [hostPass(GIB, 16384, 0.2e9), hostPass(GIB, 16384, 0.19e9), hostPass(GIB, 16384, 0.3e9)],
      seqwrite: [hostPass(GIB, 16384, 0.2e9)],
      randread: [hostPass(4096e5, 1e5, 0.1e9)],
    },
    tkvm: {
      seqread: [guestPass(GIB, 16384, 0.25e9), guestPass(GIB, 16384, 0.2e9), guestPass(GIB, 16384, 0.3e9)],
      seqwrite: [guestPass(GIB, 16384, 0.4e9, 0.39e9, 7)],
      randread: [guestPass(4096e5, 1e5, 1e9)],
    },
  }));
  assert.equal(result.bench, 'blk');
  assert.deepEqual(result.host, { seqReadMBps: 5368.7, seqWriteMBps: 5368.7, randReadIops: 1000000 });
  assert.deepEqual(result.tkvm, { seqReadMBps: 4295, seqWriteMBps: 2684.4, randReadIops: 100000 });
  assert.deepEqual(result.ratios, { seqRead: 0.8, seqWrite: 0.5, randRead: 0.1 });
  assert.equal(result.target, 0.8);
  assert.deepEqual(result.meets, { seqRead: true, seqWrite: false });
  assert.equal(result.detail.hostTscMHz, 2500);
  assert.deepEqual(result.detail.tkvm.seqwrite, {
    samples: [2684.4], usPerRequest: 24.414, tscRate: 2753.2, wallOverTsc: 1.0256, kicksPerPass: 7,
  });
  assert.deepEqual(result.detail.host.randread, { samples: [1000000], usPerRequest: 1 });
  assert.deepEqual(result.params, params);
  assert.equal(result.errors, undefined);
});

test('a missing side gives nulls and carries its error', () => {
  const result = summarizeBlk(input({
    host: { seqread: [hostPass(GIB, 16384, 0.2e9)] },
    errors: { 'tkvm seqread': 'tkvm seqread: guest failed: no completion' },
  }));
  assert.equal(result.tkvm.seqReadMBps, null);
  assert.equal(result.ratios.seqRead, null);
  assert.deepEqual(result.meets, { seqRead: null, seqWrite: null });
  assert.equal(result.host.randReadIops, null);
  assert.deepEqual(result.errors, { 'tkvm seqread': 'tkvm seqread: guest failed: no completion' });
});

test('without a host TSC rate the TSC cross-check is null', () => {
  assert.equal(hostTscHz({ seqread: [{ pass: 2, requests: 1, bytes: 1, ns: 10, tscTicks: 0 }] }), null);
  const result = summarizeBlk(input({ tkvm: { randread: [guestPass(4096, 1, 1000)] } }));
  assert.equal(result.detail.hostTscMHz, null);
  assert.equal(result.detail.tkvm.randread?.tscRate, null);
  assert.equal(result.detail.tkvm.randread?.wallOverTsc, null);
});
