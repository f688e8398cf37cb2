import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostInfo } from '../lib/host.js';
import type { SideSample } from './sides.js';
import { summarizeExitCost, type ExitCostInput } from './summary.js';

const host: HostInfo = { pvm: true, cpu: 'test cpu', cores: 2, kernel: '6.1' };

/** A side whose runs cost `fixedMs` plus `nsPerExit` for each exit, with some noise runs. */
function samples(fixedMs: number, nsPerExit: number, startMs: number | null, self = false): { short: SideSample[]; long: SideSample[] } {
  const sample = (exits: number, noiseMs: number): SideSample => ({
    wallNs: fixedMs * 1e6 + nsPerExit * exits + noiseMs * 1e6,
    selfRunLoopNs: self ? nsPerExit * exits : null,
    startToFirstRunMs: startMs,
  });
  return {
    short: [sample(1000, 0), sample(1000, 500), sample(1000, 0)],
    long: [sample(100_000, 0), sample(100_000, 0), sample(100_000, 900)],
  };
}

function input(overrides: Partial<ExitCostInput>): ExitCostInput {
  return { exits: 100_000, baseExits: 1000, reps: 3, samples: {}, errors: {}, host, ...overrides };
}

test('per-exit costs, ratio and targets from medians', () => {
  const result = summarizeExitCost(input({ samples: { c: samples(5, 7500, 1.2, true), tkvm: samples(60, 8000, 42) } }));
  assert.equal(result.bench, 'exit-cost');
  assert.equal(result.cNsPerExit, 7500);
  assert.equal(result.tkvmNsPerExit, 8000);
  assert.equal(result.ratio, 1.067);
  assert.equal(result.meetsTarget, true);
  assert.equal(result.target, 1.1);
  assert.equal(result.tkvmStartToFirstRunMs, 42);
  assert.equal(result.meetsStartTarget, true);
  assert.equal(result.cSelfNsPerExit, 7500);
  assert.equal(result.cStartToFirstRunMs, 1.2);
  assert.deepEqual(result.medianWallMs.c, { '1000': 12.5, '100000': 755 });
  assert.equal(result.errors, undefined);
  assert.deepEqual(result.host, host);
});

test('targets missed are reported as false', () => {
  const result = summarizeExitCost(input({ samples: { c: samples(5, 7500, 1), tkvm: samples(80, 9000, 75) } }));
  assert.equal(result.ratio, 1.2);
  assert.equal(result.meetsTarget, false);
  assert.equal(result.meetsStartTarget, false);
});

test('a failed side gives nulls and carries its error', () => {
  const result = summarizeExitCost(input({ samples: { c: samples(5, 7500, 1, true) }, errors: { tkvm: 'tkvm count=1000: exit status 1' } }));
  assert.equal(result.cNsPerExit, 7500);
  assert.equal(result.tkvmNsPerExit, null);
  assert.equal(result.ratio, null);
  assert.equal(result.meetsTarget, null);
  assert.equal(result.tkvmStartToFirstRunMs, null);
  assert.equal(result.meetsStartTarget, null);
  assert.deepEqual(result.errors, { tkvm: 'tkvm count=1000: exit status 1' });
  assert.equal(result.medianWallMs.tkvm, undefined);
});

test('tkvm without a timing report still gets a per-exit cost', () => {
  const result = summarizeExitCost(input({ samples: { c: samples(5, 7500, 1), tkvm: samples(60, 7600, null) } }));
  assert.equal(result.tkvmNsPerExit, 7600);
  assert.equal(result.tkvmStartToFirstRunMs, null);
  assert.equal(result.meetsStartTarget, null);
  assert.equal(result.cSelfNsPerExit, null);
});

test('the result is one JSON line', () => {
  const result = summarizeExitCost(input({ samples: { c: samples(5, 7500, 1) } }));
  assert.ok(!JSON.stringify(result).includes('\n'));
});

test('exits served by a device (echo, COM1) are held to 1.5 times the C loop', () => {
  const s = { c: samples(5, 10_000, 1), tkvm: samples(80, 14_000, 75) };
  assert.equal(summarizeExitCost(input({ samples: s })).meetsTarget, false);
  for (const path of ['echo', 'uart'] as const) {
    const result = summarizeExitCost(input({ path, samples: s }));
    assert.equal(result.path, path);
    assert.equal(result.target, 1.5);
    assert.equal(result.ratio, 1.4);
    assert.equal(result.meetsTarget, true);
  }
});
